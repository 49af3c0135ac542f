"""Jobs that join a running wait through a feed (``batch --wait``)."""

from __future__ import annotations

import threading

import httpx

from lumen_cli.api.client import LumenClient
from lumen_cli.api.polling import JobFeed, Poller
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
