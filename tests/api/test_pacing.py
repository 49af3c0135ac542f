"""The pacer: a 429 slows the whole group down together, costs no request its retries, and the
group recovers; on a fake clock, so pauses cost no time."""

from __future__ import annotations

import threading

import pytest

from lumen_cli.api.pacing import Pacer
from lumen_cli.api.retry import RetryPolicy, TryAgain, call_with_retries
from lumen_cli.clock import FakeClock
from lumen_cli.errors import RateLimited, ServerError, Unavailable


def _limited() -> TryAgain:
    return TryAgain(RateLimited("rate limited", status=429), delay=1.0)


def test_a_429_pauses_for_retry_after_and_halves_the_window_then_it_widens_again() -> None:
    clock = FakeClock()
    pacer = Pacer(8, clock=clock)
    with pacer.admit():
        pass
    assert pacer.absorb(RateLimited("slow down", status=429), 2.0)
    assert pacer.window == 4
    with pacer.admit():  # waits out the pause first
        pass
    assert clock.sleeps == [2.0]
    for _ in range(40):
        with pacer.admit():
            pass
    assert pacer.window == 8  # recovered, and never past the limit
    assert (pacer.pauses, pacer.refusals) == (1, 1)


def test_other_failures_are_left_to_the_retry_loop() -> None:
    pacer = Pacer(4, clock=FakeClock())
    assert not pacer.absorb(ServerError("boom", status=503), None)
    assert not pacer.absorb(Unavailable("could not reach the API"), None)
    assert pacer.window == 4


def test_429s_cost_a_paced_call_none_of_its_retries() -> None:
    clock = FakeClock()
    pacer = Pacer(2, clock=clock)
    answers = [_limited() for _ in range(10)]  # more than max_attempts in a row

    def attempt() -> str:
        if answers:
            raise answers.pop()
        return "created"

    policy = RetryPolicy(max_attempts=3)
    assert call_with_retries(attempt, policy=policy, clock=clock, pacer=pacer) == "created"
    assert clock.sleeps == [1.0] * 10  # each Retry-After honoured
    answers[:] = [_limited() for _ in range(10)]
    with pytest.raises(RateLimited, match="gave up after 3 attempts"):
        call_with_retries(attempt, policy=policy, clock=clock)  # without a pacer: as ever


def test_a_paced_call_gives_up_after_patience_with_nothing_but_429s() -> None:
    clock = FakeClock()
    pacer = Pacer(1, clock=clock, patience=30.0)

    def attempt() -> str:
        raise _limited()

    with pytest.raises(RateLimited, match="gave up"):
        call_with_retries(attempt, policy=RetryPolicy(), clock=clock, pacer=pacer)
    assert 30.0 <= sum(clock.sleeps) <= 30.0 + RetryPolicy().deadline + 2


def test_a_pause_holds_every_thread_and_is_slept_once() -> None:
    clock = FakeClock()
    pacer = Pacer(4, clock=clock)
    pacer.absorb(RateLimited("slow down", status=429), 5.0)
    admitted: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        with pacer.admit():
            with lock:
                admitted.append(clock.monotonic())

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(admitted) == 6
    assert min(admitted) >= 1_700_000_005.0  # nobody went before the pause ended
    assert clock.sleeps == [5.0]  # one thread slept it out; the others waited on it
