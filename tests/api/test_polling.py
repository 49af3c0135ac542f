"""Polling: jobs that join a running wait through a feed (``batch --wait``), intervals, and
the budget of GETs that many jobs share."""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from typing import cast

import httpx

from lumen_cli.api.client import LumenClient
from lumen_cli.api.models import Job
from lumen_cli.api.polling import JobFeed, Poller, PollPolicy
from lumen_cli.clock import FakeClock
from lumen_cli.sandbox import SandboxServer
from tests.support import TEST_KEY, make_job


def test_jobs_fed_in_while_waiting_are_followed_until_the_feed_closes(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    first = make_job(api)
    later = [make_job(api, f"fed job {n}") for n in range(3)]
    feed = JobFeed()
    seen: list[str] = []

    def feed_them() -> None:
        for job_id in later:
            feed.put(job_id)
        feed.put(first)  # already followed: not twice
        feed.close()

    with LumenClient(sandbox.url, TEST_KEY, clock=FakeClock()) as client:
        poller = Poller(client, clock=client.clock)
        threading.Timer(0.05, feed_them).start()
        outcome = poller.wait([first], on_update=lambda job, _: seen.append(job.id), feed=feed)
    assert set(outcome.jobs) == {first, *later}
    assert sorted(seen) == sorted([first, *later])  # each reported once
    assert all(job.status == "succeeded" for job in outcome.jobs.values())


def test_an_empty_wait_on_a_closed_feed_ends_at_once(sandbox: SandboxServer) -> None:
    feed = JobFeed()
    feed.close()
    with LumenClient(sandbox.url, TEST_KEY, clock=FakeClock()) as client:
        outcome = Poller(client, clock=client.clock).wait([], feed=feed)
    assert outcome.jobs == {}
    assert not outcome.timed_out


class _EndingJobs:
    """A stand-in for the API client: job N ends at ``ends[N]`` on the clock; each GET is
    recorded with the time it was sent."""

    def __init__(self, clock: FakeClock, ends: dict[str, float]) -> None:
        self.clock = clock
        self.ends = ends
        self.gets: list[tuple[float, str]] = []

    def get_job(self, job_id: str, *, within: float | None = None) -> Job:
        now = self.clock.monotonic()
        self.gets.append((now, job_id))
        status = "succeeded" if now >= self.ends[job_id] else "processing"
        return Job.from_api({"id": job_id, "status": status})


def test_many_jobs_share_a_budget_of_gets_and_each_end_is_seen_within_a_round() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    rng = random.Random(7)  # noqa: S311 - jitter and test data
    ends = {f"v{n}": start + rng.uniform(0, 120) for n in range(400)}
    api = _EndingJobs(clock, ends)
    policy = PollPolicy()
    seen: dict[str, float] = {}

    def on_update(job: Job, previous: str | None) -> None:
        if job.terminal:
            seen[job.id] = clock.monotonic()

    poller = Poller(cast("LumenClient", api), clock=clock, policy=policy, rng=rng)
    outcome = poller.wait(list(ends), on_update=on_update)
    assert all(job.status == "succeeded" for job in outcome.jobs.values())
    times = [at for at, _ in api.gets]  # in order
    most = max(bisect.bisect_left(times, t0 + 60) - index for index, t0 in enumerate(times))
    assert most <= 608  # GETs in any minute: 10 a second, 8 at once (README)
    assert most >= 590  # ... and the budget is used, not wasted
    # Each end is seen within one round of the budget over the jobs (400 / 10 s), which is
    # longer here than any job's own interval (15 s ±10 %).
    late = {job_id: seen[job_id] - ended for job_id, ended in ends.items()}
    assert max(late.values()) <= len(ends) / policy.rate + 1


def test_a_few_jobs_are_asked_about_as_their_own_intervals_say() -> None:
    clock = FakeClock()
    api = _EndingJobs(clock, {"v1": clock.monotonic() + 30, "v2": clock.monotonic() + 1e9})
    poller = Poller(cast("LumenClient", api), clock=clock, rng=random.Random(1))  # noqa: S311
    outcome = poller.wait(["v1", "v2"], timeout=100)
    assert outcome.timed_out
    asked = [at - api.gets[0][0] for at, job_id in api.gets if job_id == "v2"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert 1.7 < gaps[0] < 2.3  # 2 s, ±10 %: no budget in the way
    assert max(gaps) < 15 * 1.1 + 0.01


def test_a_zero_timeout_still_asks_about_every_job_once_within_the_budget() -> None:
    clock = FakeClock()
    api = _EndingJobs(clock, {f"v{n}": clock.monotonic() + 1e9 for n in range(20)})
    outcome = Poller(cast("LumenClient", api), clock=clock).wait(list(api.ends), timeout=0)
    assert outcome.timed_out
    assert sorted(job_id for _, job_id in api.gets) == sorted(api.ends)  # each once
    assert api.gets[-1][0] - api.gets[0][0] >= (20 - 8) / 10 - 0.01  # 8 at once, then 10/s
