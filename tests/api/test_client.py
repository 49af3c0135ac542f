"""LumenClient against the real sandbox: retries, Retry-After, the billed-POST rule, bad bodies."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from lumen_cli.api.client import LumenClient
from lumen_cli.api.retry import RetryPolicy
from lumen_cli.clock import FakeClock
from lumen_cli.config import check_base_url
from lumen_cli.errors import (
    AuthRejected,
    BadRequest,
    BadResponse,
    ConfigError,
    ExitCode,
    InsufficientCredits,
    NoKey,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    Unavailable,
)
from lumen_cli.sandbox import SandboxServer
from tests.support import TEST_KEY, post_count

JOBS = "/v1/videos/generations"
BODY = {"model": "seedance-2", "prompt": "a cat running"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(sandbox: SandboxServer, clock: FakeClock) -> Iterator[LumenClient]:
    with LumenClient(sandbox.url, TEST_KEY, clock=clock) as lumen:
        yield lumen


def _job_count(sandbox: SandboxServer) -> int:
    return int(sandbox.stats()["jobs"])


def test_create_and_get_round_trip(client: LumenClient) -> None:
    job = client.create_job(BODY)
    assert job.id.startswith("v")
    assert job.status == "queued"
    again = client.get_job(job.id)
    assert again.id == job.id
    assert again.raw["prompt"] == "a cat running"


def test_get_retries_5xx_with_backoff_then_succeeds(
    client: LumenClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    job = client.create_job(BODY)
    sandbox.faults.add("status", method="GET", path=JOBS, status=503, count=2)
    assert client.get_job(job.id).id == job.id
    assert len(clock.sleeps) == 2
    # exponential with jitter: the second wait's ceiling is twice the first's
    assert 0.25 <= clock.sleeps[0] <= 0.5
    assert 0.5 <= clock.sleeps[1] <= 1.0


def test_get_honours_retry_after_seconds(
    client: LumenClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    job = client.create_job(BODY)
    sandbox.faults.add("status", method="GET", path=JOBS, status=429, retry_after="7", count=1)
    client.get_job(job.id)
    assert clock.sleeps == [7.0]


def test_get_honours_retry_after_http_date(
    client: LumenClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    job = client.create_job(BODY)
    when = datetime.fromtimestamp(clock.time() + 12, tz=UTC)
    sandbox.faults.add(
        "status",
        method="GET",
        path=JOBS,
        status=503,
        retry_after=format_datetime(when, usegmt=True),
    )
    client.get_job(job.id)
    assert clock.sleeps == [pytest.approx(12.0, abs=1.0)]


def test_retry_after_is_capped(sandbox: SandboxServer, clock: FakeClock) -> None:
    policy = RetryPolicy(retry_after_cap=5.0, deadline=100.0)
    with LumenClient(sandbox.url, TEST_KEY, clock=clock, retry=policy) as client:
        job = client.create_job(BODY)
        sandbox.faults.add("status", method="GET", path=JOBS, status=429, retry_after="3600")
        client.get_job(job.id)
    assert clock.sleeps == [5.0]


def test_get_gives_up_within_the_deadline(sandbox: SandboxServer, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=50, deadline=20.0, max_delay=4.0)
    with LumenClient(sandbox.url, TEST_KEY, clock=clock, retry=policy) as client:
        job = client.create_job(BODY)
        sandbox.faults.add("status", method="GET", path=JOBS, status=502, count=1000)
        with pytest.raises(ServerError) as caught:
            client.get_job(job.id)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert "gave up after" in caught.value.message
    assert sum(clock.sleeps) <= 20.0
    assert len(clock.sleeps) >= 4


def test_rate_limit_past_the_deadline_is_exit_6(sandbox: SandboxServer, clock: FakeClock) -> None:
    policy = RetryPolicy(deadline=10.0)
    with LumenClient(sandbox.url, TEST_KEY, clock=clock, retry=policy) as client:
        job = client.create_job(BODY)
        sandbox.faults.add("status", method="GET", path=JOBS, status=429, retry_after="30", count=5)
        with pytest.raises(RateLimited) as caught:
            client.get_job(job.id)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert clock.sleeps == []  # a wait that overruns the deadline is not started


def test_post_is_not_resent_after_a_5xx(client: LumenClient, sandbox: SandboxServer) -> None:
    before = post_count(sandbox)
    sandbox.faults.add("status", method="POST", path=JOBS, status=503, count=5)
    with pytest.raises(OutcomeUnknown) as caught:
        client.create_job(BODY)
    assert post_count(sandbox) - before == 1
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert "503" in caught.value.message


def test_post_is_not_resent_after_a_dropped_response(
    client: LumenClient, sandbox: SandboxServer
) -> None:
    before_posts, before_jobs = post_count(sandbox), _job_count(sandbox)
    sandbox.faults.add("drop_after_create", method="POST", path=JOBS)
    with pytest.raises(OutcomeUnknown):
        client.create_job(BODY)
    assert post_count(sandbox) - before_posts == 1
    assert _job_count(sandbox) - before_jobs == 1  # the job exists: resending would bill twice


def test_post_is_not_resent_after_a_read_timeout(sandbox: SandboxServer, clock: FakeClock) -> None:
    before = post_count(sandbox)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=1.0)
    with LumenClient(sandbox.url, TEST_KEY, clock=clock, read_timeout=0.2) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            client.create_job(BODY)
    assert "ReadTimeout" in caught.value.message
    assert post_count(sandbox) - before == 1


def test_post_is_retried_after_429(
    client: LumenClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    before = post_count(sandbox)
    sandbox.faults.add("status", method="POST", path=JOBS, status=429, retry_after="2", count=1)
    job = client.create_job(BODY)
    assert job.status == "queued"
    assert post_count(sandbox) - before == 2
    assert clock.sleeps == [2.0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_post_is_retried_when_nothing_was_sent(clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=3)
    with LumenClient(
        f"http://127.0.0.1:{_closed_port()}", TEST_KEY, clock=clock, retry=policy
    ) as client:
        with pytest.raises(Unavailable) as caught:
            client.create_job(BODY)
    assert not isinstance(caught.value, OutcomeUnknown)
    assert len(clock.sleeps) == 2
    assert "gave up after 3 attempts" in caught.value.message


def test_a_2xx_with_garbage_on_post_is_outcome_unknown(
    client: LumenClient, sandbox: SandboxServer
) -> None:
    sandbox.faults.add("garbage", method="POST", path=JOBS)
    with pytest.raises(OutcomeUnknown) as caught:
        client.create_job(BODY)
    assert "unreadable" in caught.value.message


@pytest.mark.parametrize("kind", ["garbage", "empty", "wrong_types"])
def test_bad_bodies_on_get_are_clear_errors(
    client: LumenClient, sandbox: SandboxServer, kind: str
) -> None:
    job = client.create_job(BODY)
    sandbox.faults.add(kind, method="GET", path=JOBS)
    with pytest.raises(BadResponse) as caught:
        client.get_job(job.id)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE


def test_html_error_page_never_reaches_the_message(
    client: LumenClient, sandbox: SandboxServer
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
    sandbox.faults.add(
        "status", method="GET", path=JOBS, status=404, body=page, content_type="text/html"
    )
    with pytest.raises(NotFound) as caught:
        client.get_job("v123")
    assert "<html>" not in caught.value.message
    assert "404" in caught.value.message


def test_statuses_map_to_typed_errors_with_server_messages(sandbox: SandboxServer) -> None:
    clock = FakeClock()
    with LumenClient(sandbox.url, TEST_KEY, clock=clock) as client:
        with pytest.raises(BadRequest) as bad:
            client.create_job({**BODY, "duration": 2})
        assert "duration" in bad.value.message
        with pytest.raises(NotFound) as missing:
            client.create_job({**BODY, "model": "no-such-model"})
        assert "model" in missing.value.message
    with LumenClient(sandbox.url, "sk-lumen-revoked", clock=clock) as client:
        with pytest.raises(AuthRejected) as rejected:
            client.create_job(BODY)
        assert rejected.value.exit_code == ExitCode.AUTH
        assert not client.key_is_accepted()
    with LumenClient(sandbox.url, "sk-lumen-nocredit", clock=clock) as client:
        with pytest.raises(InsufficientCredits) as broke:
            client.create_job(BODY)
        assert broke.value.exit_code == ExitCode.CREDITS
    with LumenClient(sandbox.url, TEST_KEY, clock=clock) as client:
        assert client.key_is_accepted()


def test_no_key_is_exit_3(sandbox: SandboxServer) -> None:
    with LumenClient(sandbox.url, None) as client, pytest.raises(NoKey) as caught:
        client.get_job("v1")
    assert caught.value.exit_code == ExitCode.AUTH


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://lumen.mengfanlab.top", True),
        ("http://127.0.0.1:8765/", True),
        ("http://localhost:9", True),
        ("http://[::1]:8765", True),
        ("http://lumen.example.com", False),
        ("ftp://lumen.example.com", False),
        ("lumen.example.com", False),
    ],
)
def test_base_url_never_sends_the_key_in_clear_off_this_machine(url: str, ok: bool) -> None:
    if ok:
        assert check_base_url(url) == url.rstrip("/")
    else:
        with pytest.raises(ConfigError):
            check_base_url(url)
