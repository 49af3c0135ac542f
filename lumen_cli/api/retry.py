"""The one retry loop, its policy, and the one answer to "may this be tried again, and when?".

API GETs, the billed job POST and downloads all go through :func:`call_with_retries`. An
attempt either returns, raises an error that ends the call, or raises :class:`TryAgain`
with the error to report if the loop gives up. What may be tried again is decided by the
caller's attempt, in one place each (``LumenClient._attempt``, the downloader's attempt):
the billed POST's rule "never send again once the request may have reached the server" is
its ``resend`` parameter there, not a second loop.

Requests that share a rate limit (the submits of a batch) pass a ``Pacer``
(``api/pacing.py``): each attempt runs inside its admission, and a 429 is taken upon the
whole group (a shared pause, fewer requests in flight) instead of this call's budget.

Our own ~60 lines rather than ``tenacity`` or ``stamina``: both fit the classification, but
neither takes an injected clock for its deadline (tests would sleep or patch ``time``),
neither resets its attempt count while a download keeps making progress, and ``Retry-After``
needs a custom wait in both; a dependency for the loop alone would not earn its place.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lumen_cli.api.pacing import Pacer
    from lumen_cli.clock import Clock
    from lumen_cli.errors import LumenError

T = TypeVar("T")
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")  # ASCII digits only: "²".isdigit() is True


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a call tries before giving up.

    ``deadline`` bounds the whole call, sleeps included (for downloads: the time since the
    file last grew); a ``Retry-After`` longer than ``retry_after_cap`` is capped, and one
    that would overrun the deadline ends the call. ``attempt_seconds`` bounds each API
    request whole, answer included, however slowly a server sends it.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 15.0
    deadline: float = 60.0
    retry_after_cap: float = 60.0
    attempt_seconds: float = 30.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number *attempt* (1-based): exponential with full jitter.

        Full jitter spreads ten parallel ``lumen`` processes apart instead of having
        them retry in lock-step.
        """
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)


class TryAgain(Exception):
    """An attempt failed in a way another attempt may mend.

    *error* is what the call raises if it gives up; *delay* is the server's ``Retry-After``
    (already capped) or ``None`` for exponential backoff; *reason* is the short form for the
    retry note (default: the error's message).
    """

    def __init__(
        self, error: LumenError, *, delay: float | None = None, reason: str | None = None
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.delay = delay
        self.reason = reason or error.message


@dataclass(frozen=True)
class RetryNote:
    """What the loop tells its caller before it sleeps: shown as a line on stderr."""

    attempt: int  # the attempt that failed (1-based)
    max_attempts: int
    delay: float
    reason: str

    def describe(self) -> str:
        """``retrying in 1.2 s (2/6): connection refused``."""
        return (
            f"retrying in {self.delay:.1f} s ({self.attempt + 1}/{self.max_attempts}): "
            f"{self.reason}"
        )


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random | None = None,
    on_retry: Callable[[RetryNote], None] | None = None,
    made_progress: Callable[[], bool] | None = None,
    pacer: Pacer | None = None,
) -> T:
    """Run *attempt* until it returns, raises, or the policy says to give up.

    *made_progress* is asked after each failed attempt; when it says yes (a download grew)
    the attempt count and the deadline start afresh, so a flaky link finishes a large file.
    *pacer* admits each attempt and takes 429s upon its whole group (see the module
    docstring); such an attempt costs this call nothing.
    """
    count = 0
    calm_since = clock.monotonic()
    while True:
        count += 1
        try:
            if pacer is None:
                return attempt()
            with pacer.admit():
                return attempt()
        except TryAgain as failure:
            if pacer is not None and pacer.absorb(failure.error, failure.delay):
                count -= 1
                calm_since = clock.monotonic()
                continue
            if made_progress is not None and made_progress():
                count, calm_since = 1, clock.monotonic()
            delay = failure.delay
            if delay is None:
                delay = policy.backoff(count, rng)
            waited = clock.monotonic() - calm_since
            if count >= policy.max_attempts or waited + delay > policy.deadline:
                error = failure.error
                error.message = f"{error.message} (gave up after {count} attempts)"
                raise error from None
            if on_retry is not None:
                on_retry(RetryNote(count, policy.max_attempts, delay, failure.reason))
            clock.sleep(delay)


def retryable_status(status: int) -> bool:
    """429 and 5xx may heal: every caller retries them (the billed POST only the 429)."""
    return status == 429 or status >= 500


def retry_after(headers: Mapping[str, str], policy: RetryPolicy, now: float) -> float | None:
    """The server's ``Retry-After`` in seconds, capped by *policy*; ``None`` if absent or bad."""
    seconds = parse_retry_after(headers.get("Retry-After"), now)
    return None if seconds is None else min(seconds, policy.retry_after_cap)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    *now* is the Unix time the header is read at. Unparseable values are ignored.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None
