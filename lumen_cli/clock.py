"""Time, behind a seam so that tests can make backoff and polling cost no real time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the retry and polling code needs to know about time."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that advances only when something sleeps (or a test says so); records sleeps.

    Calling it gives the time, so it also serves where a plain ``() -> float`` wall clock is
    wanted (the sandbox's).
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        self._now += seconds

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += max(seconds, 0.0)
