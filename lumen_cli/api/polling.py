"""Follow many jobs until each is terminal: adaptive intervals, jitter, a bounded pool.

Each job has its own next-poll time. The interval starts near 2 s and grows by half
each poll up to about 15 s (a job that has run for minutes will not finish in the next
second), with ±10 % jitter so hundreds of jobs do not poll in lock-step. ``--interval``
fixes it instead. Due jobs are fetched by a small thread pool over the client's
bounded connection pool, so one process can follow thousands of jobs. Jobs may join a wait
that is already running through a :class:`JobFeed` (``batch --wait`` follows each line's
job from the moment it is accepted, while other lines are still being sent).

However many jobs there are, a wait sends at most ``PollPolicy.rate`` GETs a second (10), and
never more than ``PollPolicy.burst`` (8) at once: a token bucket. Due jobs beyond it wait
their turn, oldest due first, so past ``rate * cap`` jobs (150) each job is asked about every
``jobs / rate`` seconds (1,000 jobs: every 100 s), and a minute never holds more than
``60 * rate + burst`` GETs. Each job's end is still seen within one such round.
"""

from __future__ import annotations

import functools
import heapq
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lumen_cli.errors import LumenError, NotFound

if TYPE_CHECKING:
    from lumen_cli.api.client import LumenClient
    from lumen_cli.api.models import Job
    from lumen_cli.clock import Clock


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask about a job."""

    initial: float = 2.0
    factor: float = 1.5
    cap: float = 15.0
    fixed: float | None = None
    jitter: float = 0.1
    workers: int = 8
    first_look: float = 5.0  # seconds the first request about a job may take, whatever the timeout
    rate: float = 10.0  # GETs a second, on average, for all the jobs of a wait together
    burst: int = 8  # GETs sent at once at most (the budget's bucket)

    def next_interval(self, previous: float | None, rng: random.Random) -> tuple[float, float]:
        """The next base interval, and that interval with jitter applied."""
        if self.fixed is not None:
            base = self.fixed
        elif previous is None:
            base = self.initial
        else:
            base = min(self.cap, previous * self.factor)
        spread = base * self.jitter
        return base, max(0.0, base + rng.uniform(-spread, spread))


@dataclass
class WaitOutcome:
    """Where every job ended up when the wait stopped."""

    jobs: dict[str, Job] = field(default_factory=dict)
    missing: dict[str, NotFound] = field(default_factory=dict)
    timed_out: bool = False

    @property
    def pending(self) -> list[str]:
        return [job_id for job_id, job in self.jobs.items() if not job.terminal]


class JobFeed:
    """Job ids handed to a running :meth:`Poller.wait` from other threads.

    ``put`` each id as it becomes known; ``close`` once no more will come: the wait ends
    only when the feed is closed and every job has ended.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._closed = False
        self._news = threading.Event()

    def put(self, job_id: str) -> None:
        with self._lock:
            self._ids.append(job_id)
            self._news.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._news.set()

    def take(self) -> tuple[list[str], bool]:
        """The ids put since the last call, and whether the feed is closed."""
        with self._lock:
            ids, self._ids = self._ids, []
            if not self._closed:
                self._news.clear()
            return ids, self._closed

    def wait(self, seconds: float | None) -> None:
        """Block until an id is put or the feed closes, or *seconds* pass."""
        self._news.wait(seconds)


class RequestBudget:
    """At most *rate* requests a second on average and *burst* at once (a token bucket)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def available(self, now: float) -> int:
        """How many requests may be sent at *now*."""
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return int(self._tokens + 1e-9)  # 0.99999… after refills is one

    def spend(self, count: int) -> None:
        self._tokens -= count

    def next_at(self, now: float) -> float:
        """When the next request may be sent (after :meth:`available` at *now*); at least a
        millisecond on, so that a clock in the billions of seconds does move."""
        return now + max(1.0 - self._tokens, 0.01) / self.rate


class Poller:
    """Polls jobs through *client* until they are terminal or the timeout passes."""

    def __init__(
        self,
        client: LumenClient,
        *,
        clock: Clock,
        policy: PollPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.policy = policy or PollPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def wait(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float | None = None,
        on_update: Callable[[Job, str | None], None] | None = None,
        feed: JobFeed | None = None,
    ) -> WaitOutcome:
        """Poll until every job is terminal or *timeout* seconds pass.

        *on_update* is called with each job whose status changed (and its previous
        status, ``None`` the first time), in this thread, so callers may download or
        print from it. Transport failures past the client's own retries propagate.
        With a *feed*, ids put into it join the wait (asked about at once), and the wait
        lasts at least until it is closed; while it is open, idle moments wait on it.
        """
        from concurrent.futures import ThreadPoolExecutor

        outcome = WaitOutcome()
        started = self.clock.monotonic()
        deadline = None if timeout is None else started + timeout
        intervals: dict[str, float | None] = {}
        queue: list[tuple[float, int, str]] = []

        def add(ids: Iterable[str], at: float) -> None:
            for job_id in ids:
                if job_id not in intervals:
                    intervals[job_id] = None
                    heapq.heappush(queue, (at, len(intervals), job_id))

        add(job_ids, started)
        feeding = feed is not None
        budget = RequestBudget(self.policy.rate, self.policy.burst, started)
        with ThreadPoolExecutor(max_workers=self.policy.workers) as pool:
            while queue or feeding:
                now = self.clock.monotonic()
                if feed is not None and feeding:
                    news, closed = feed.take()
                    add(news, now)
                    feeding = not closed
                # Every job is asked about once, even with a zero timeout.
                asked_all = len(outcome.jobs) + len(outcome.missing) == len(intervals)
                if asked_all and deadline is not None and now >= deadline:
                    outcome.timed_out = True
                    break
                due: list[tuple[int, str]] = []
                allowed = budget.available(now)
                while queue and queue[0][0] <= now and len(due) < allowed:
                    _, order, job_id = heapq.heappop(queue)
                    due.append((order, job_id))
                if not due:
                    wake = queue[0][0] if queue else None
                    if wake is not None and wake <= now:  # due, but the budget is spent
                        wake = budget.next_at(now)
                    if deadline is not None and deadline > now:  # (past: first looks left)
                        wake = deadline if wake is None else min(wake, deadline)
                    if feed is not None and feeding:
                        feed.wait(None if wake is None else wake - now)
                    elif wake is not None:
                        self.clock.sleep(wake - now)
                    continue
                budget.spend(len(due))
                # A request in flight ends with the wait: --timeout bounds it too (the first
                # look at each job may take `first_look` seconds: --timeout 0 still asks once).
                left = None if deadline is None else max(deadline - now, 0.0)
                if left is not None and any(intervals[job_id] is None for _, job_id in due):
                    left = max(left, self.policy.first_look)
                fetch = functools.partial(self._fetch, within=left)
                results = list(pool.map(fetch, [job_id for _, job_id in due]))
                for (order, job_id), result in zip(due, results, strict=True):
                    if isinstance(result, NotFound):
                        outcome.missing[job_id] = result
                        continue
                    if isinstance(result, LumenError):
                        if deadline is not None and self.clock.monotonic() >= deadline:
                            outcome.timed_out = True  # cut short by the timeout, not the API
                            return outcome
                        raise result
                    previous = outcome.jobs.get(job_id)
                    outcome.jobs[job_id] = result
                    if on_update and (previous is None or previous.status != result.status):
                        on_update(result, previous.status if previous else None)
                    if result.terminal:
                        continue
                    base, delay = self.policy.next_interval(intervals[job_id], self._rng)
                    intervals[job_id] = base
                    heapq.heappush(queue, (self.clock.monotonic() + delay, order, job_id))
        return outcome

    def _fetch(self, job_id: str, *, within: float | None) -> Job | LumenError:
        try:
            return self.client.get_job(job_id, within=within)
        except LumenError as error:
            return error
