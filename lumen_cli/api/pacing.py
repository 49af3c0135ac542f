"""How fast a group of requests may go: one ``Pacer`` shared by the submits of a batch.

A 429 to any request slows the whole group down, rather than each thread backing off on
its own and the others running into the limit in turn:

* everyone waits out the server's ``Retry-After`` (or a growing backoff without one)
  together, and no request is sent before the pause ends;
* the number of requests in flight (the *window*) halves, once per pause;
* each success widens it again, by one for every window's worth of successes, up to the
  concurrency asked for (additive increase, multiplicative decrease, as TCP does).

A refused request is not charged to its own retry budget: the rate limit is the group's
to wait out. The pacer gives up (and lets the retry loop's own rules end the call) only
when no request of the group has succeeded for ``patience`` seconds.

The pacer sleeps on the injected clock, so tests spend no time in its pauses.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lumen_cli.errors import RateLimited

if TYPE_CHECKING:
    from lumen_cli.clock import Clock
    from lumen_cli.errors import LumenError

PATIENCE = 300.0  # seconds of nothing but 429s before a request is let fail
BASE_PAUSE = 1.0  # a 429 without Retry-After: 1 s, doubling with each pause in a row
MAX_PAUSE = 30.0


class Pacer:
    """Admits requests of one group: at most *limit* at once, fewer after a 429.

    Use ``with pacer.admit(): send()`` around each attempt (``call_with_retries`` does,
    given ``pacer=``) and hand it each failed attempt's error with :meth:`absorb`.
    """

    def __init__(
        self,
        limit: int,
        *,
        clock: Clock,
        patience: float = PATIENCE,
        rng: random.Random | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("a pacer admits at least one request at a time")
        self.limit = limit
        self.clock = clock
        self.patience = patience
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._cond = threading.Condition()
        self._window = float(limit)
        self._in_flight = 0
        self._paused_until = 0.0
        self._sleeper = False  # one thread sleeps out a pause; the others wait for it
        self._epoch = 0  # counts the cuts: a 429 to a request sent before the last cut is old
        self._limited_since: float | None = None  # start of the current run of 429s
        self._pauses_in_a_row = 0
        self._local = threading.local()
        self.pauses = 0  # how many times the group paused (shown in summaries, tested)
        self.refusals = 0  # how many 429s it absorbed

    @property
    def window(self) -> int:
        """How many requests may be in flight now."""
        with self._cond:
            return max(1, int(self._window))

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Wait out any pause and for room in the window; hold a place while inside.

        Leaving the block normally counts as a success (the window widens).
        """
        with self._cond:
            while True:
                now = self.clock.monotonic()
                if now < self._paused_until:
                    if self._sleeper:
                        self._cond.wait()
                        continue
                    self._sleeper = True
                    self._cond.release()
                    try:
                        self.clock.sleep(self._paused_until - now)
                    finally:
                        self._cond.acquire()
                        self._sleeper = False
                        self._cond.notify_all()
                    continue
                if self._in_flight < max(1, int(self._window)):
                    break
                self._cond.wait()
            self._in_flight += 1
            self._local.epoch = self._epoch
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            with self._cond:
                self._in_flight -= 1
                if succeeded:
                    self._limited_since = None
                    self._pauses_in_a_row = 0
                    self._window = min(float(self.limit), self._window + 1.0 / self._window)
                self._cond.notify_all()

    def absorb(self, error: LumenError, delay: float | None) -> bool:
        """Take a failed attempt's 429 (*error*, with the server's ``Retry-After`` as *delay*)
        upon the whole group; True when absorbed.

        Anything but a 429 (or a 429 after ``patience`` seconds of nothing else) is left
        to the retry loop. Call it from the thread whose attempt failed.
        """
        if not isinstance(error, RateLimited):
            return False
        with self._cond:
            now = self.clock.monotonic()
            if self._limited_since is None:
                self._limited_since = now
            elif now - self._limited_since > self.patience:
                return False
            self.refusals += 1
            if getattr(self._local, "epoch", self._epoch) == self._epoch:
                # The first 429 since the last cut: halve the window and pause.
                self._epoch += 1
                self._window = max(1.0, self._window / 2)
                self._pauses_in_a_row += 1
                self.pauses += 1
            if delay is None:
                ceiling = min(MAX_PAUSE, BASE_PAUSE * 2 ** (self._pauses_in_a_row - 1))
                delay = self._rng.uniform(ceiling / 2, ceiling)
            self._paused_until = max(self._paused_until, now + delay)
            self._cond.notify_all()
        return True
