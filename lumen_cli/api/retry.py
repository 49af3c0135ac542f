"""Backoff and Retry-After: how long to wait before trying again, within a deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request tries before giving up.

    ``deadline`` bounds the whole call, sleeps included; a ``Retry-After`` longer than
    ``retry_after_cap`` is capped, and one that would overrun the deadline ends the call.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 15.0
    deadline: float = 60.0
    retry_after_cap: float = 60.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number *attempt* (1-based): exponential with full jitter.

        Full jitter spreads ten parallel ``lumen`` processes apart instead of having
        them retry in lock-step.
        """
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    *now* is the Unix time the header is read at. Unparseable values are ignored.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
