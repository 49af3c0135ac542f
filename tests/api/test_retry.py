"""The one retry loop: attempts, backoff, Retry-After, deadlines, progress resets, notes."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from lumen_cli.api.retry import (
    RetryNote,
    RetryPolicy,
    TryAgain,
    call_with_retries,
    parse_retry_after,
    retry_after,
)
from lumen_cli.clock import FakeClock
from lumen_cli.errors import LumenError, Unavailable


def flaky(failures: int, *, delay: float | None = None) -> tuple[list[int], Callable[[], str]]:
    """An attempt that fails *failures* times, then returns "done"; and its call log."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= failures:
            raise TryAgain(Unavailable(f"try {len(calls)} failed"), delay=delay)
        return "done"

    return calls, attempt


def test_retries_until_the_attempt_succeeds_with_growing_jittered_backoff() -> None:
    clock = FakeClock()
    calls, attempt = flaky(3)
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    assert call_with_retries(attempt, policy=policy, clock=clock, rng=random.Random(7))  # noqa: S311 == "done"
    assert calls == [1, 2, 3, 4]
    for number, slept in enumerate(clock.sleeps, start=1):
        ceiling = 2 ** (number - 1)
        assert ceiling / 2 <= slept <= ceiling  # full jitter within the doubling ceiling


def test_gives_up_after_max_attempts_and_says_so() -> None:
    clock = FakeClock()
    calls, attempt = flaky(10)
    with pytest.raises(Unavailable) as caught:
        call_with_retries(attempt, policy=RetryPolicy(max_attempts=3), clock=clock)
    assert calls == [1, 2, 3]
    assert str(caught.value) == "try 3 failed (gave up after 3 attempts)"
    assert len(clock.sleeps) == 2


def test_a_retry_after_that_would_overrun_the_deadline_ends_the_call() -> None:
    clock = FakeClock()
    calls, attempt = flaky(10, delay=40.0)
    with pytest.raises(LumenError, match="gave up after 2 attempts"):
        call_with_retries(attempt, policy=RetryPolicy(deadline=60.0), clock=clock)
    assert clock.sleeps == [40.0]  # the second 40 s wait would pass the 60 s deadline
    assert calls == [1, 2]


def test_progress_starts_the_count_afresh() -> None:
    clock = FakeClock()
    calls, attempt = flaky(5)
    policy = RetryPolicy(max_attempts=2)
    with pytest.raises(LumenError):
        call_with_retries(attempt, policy=policy, clock=clock)
    calls, attempt = flaky(5)
    result = call_with_retries(
        attempt,
        policy=policy,
        clock=clock,
        made_progress=lambda: True,  # a download that grows on every attempt
    )
    assert result == "done"
    assert len(calls) == 6


def test_each_retry_is_announced_before_the_sleep() -> None:
    clock = FakeClock()
    notes: list[RetryNote] = []
    _, attempt = flaky(2, delay=1.25)
    call_with_retries(
        attempt, policy=RetryPolicy(max_attempts=6), clock=clock, on_retry=notes.append
    )
    assert [note.describe() for note in notes] == [
        "retrying in 1.2 s (2/6): try 1 failed",
        "retrying in 1.2 s (3/6): try 2 failed",
    ]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # ten seconds after "now" below
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no wait
        ("²", None),  # a digit to str.isdigit(), not to float()
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now) == seconds


def test_retry_after_is_capped_by_the_policy() -> None:
    policy = RetryPolicy(retry_after_cap=30.0)
    assert retry_after({"Retry-After": "3600"}, policy, 0.0) == 30.0
    assert retry_after({}, policy, 0.0) is None
