"""The listener over real HTTP: what it accepts, what it refuses and answers, how it stops."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lumen_cli.webhook.listener import (
    Rejection,
    body_length,
    check_delivery,
)
from lumen_cli.webhook.protocol import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from tests.support import (
    WHSEC,
    Receiver,
    StartListener,
    event,
    exec_recorder,
    history_records,
    raw_exchange,
    signed,
    status_of,
)


@pytest.mark.parametrize(
    ("lengths", "transfer_encoding", "expected"),
    [
        (["12"], None, 12),
        (["0"], None, 0),
        (["1048576"], None, 1048576),
        (["1048577"], None, 413),
        ([str(3 << 20)], None, 413),
        ([], None, 411),
        (None, None, 411),
        (None, "chunked", 411),
        (["12"], "chunked", 411),
        (["12", "13"], None, 400),
        (["12", "12"], None, 12),
        (["-1"], None, 400),
        (["1e3"], None, 400),
        (["١٢"], None, 400),  # Arabic-Indic digits
        (["9" * 40], None, 400),
    ],
)
def test_body_length(
    lengths: list[str] | None, transfer_encoding: str | None, expected: int
) -> None:
    result = body_length(lengths, transfer_encoding)
    if isinstance(result, Rejection):
        assert result.status == expected
    else:
        assert result == expected


def test_check_delivery_order_and_validation() -> None:
    now = time.time()
    body = event()
    sig = sign(WHSEC, body)
    fresh = str(int(now))

    def check(body: bytes, sig: Any, stamp: str | None = fresh) -> Any:
        return check_delivery(WHSEC, body, sig, stamp, now=now, tolerance=300)

    job = check(body, [sig])
    assert not isinstance(job, Rejection)
    assert (job.id, job.status, job.urls) == (
        "v123",
        "succeeded",
        ("https://video.example/v123.mp4",),
    )
    # The signature is checked before anything else, even a stale timestamp.
    assert check(body, None, "1") == Rejection(401, f"missing or invalid {SIGNATURE_HEADER}")
    assert check(body, [sig, sig]) == Rejection(401, f"missing or invalid {SIGNATURE_HEADER}")
    assert check(body, sig, "1") == Rejection(
        400, f"{TIMESTAMP_HEADER} is {now - 1:.0f} s old (tolerance 300 s)"
    )
    for bad in (b"not json", b"[1, 2]", b'{"id": "v1"}', b'{"id": "v1", "status": "done"}',
                b'{"id": "v1", "status": "succeeded", "data": "x"}', b"[" * 100_000):  # fmt: skip
        rejection = check(bad, sign(WHSEC, bad))
        assert isinstance(rejection, Rejection), bad[:40]
        assert rejection.status == 400, bad[:40]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE_HEADER: "sha256=" + "0" * 64},
        {SIGNATURE_HEADER: sign(WHSEC + "-other", event())},
    ],
    ids=["missing", "wrong", "other-secret"],
)
def test_unsigned_or_wrongly_signed_is_401(
    start_listener: StartListener, headers: dict[str, str]
) -> None:
    running = start_listener()
    stamp = {TIMESTAMP_HEADER: str(int(time.time()))}
    response = running.post(event(), {**headers, **stamp})
    assert response.status_code == 401
    assert SIGNATURE_HEADER in response.json()["error"]["message"]
    assert running.listener.stats.rejected == 1
    assert any("401" in line for line in running.logs)


def test_non_ascii_signature_header_is_401_not_a_crash(start_listener: StartListener) -> None:
    running = start_listener()
    body = event()
    good = sign(WHSEC, body).encode()
    request = (
        b"POST /hook HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        + b"X-Lumen-Signature: " + good[:-2] + b"\xc3\xa9\r\n"
        + b"X-Lumen-Timestamp: " + str(int(time.time())).encode() + b"\r\n\r\n"
        + body
    )  # fmt: skip
    assert status_of(raw_exchange(running.port, request)) == 401
    # ... and the listener still works.
    assert running.post(body, signed(body)).status_code == 200


def test_what_a_stranger_sends_is_not_echoed_raw_to_the_terminal(
    start_listener: StartListener,
) -> None:
    running = start_listener()
    answer = raw_exchange(running.port, b"GET /\x1b[2J\x1b]0;owned\x07 HTTP/1.0\r\n\r\n")
    assert status_of(answer) == 405
    [line] = running.logs
    assert "\x1b" not in line
    assert "\x07" not in line
    assert line.startswith("rejected GET /?[2J?]0;owned? from 127.0.0.1: 405")


def test_oversized_body_is_413_before_it_is_read(start_listener: StartListener) -> None:
    running = start_listener()
    headers = signed(b"")
    # Announce 3 MiB and send none of it: the answer must come from the headers alone.
    request = (
        f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {3 << 20}\r\n"
        f"{SIGNATURE_HEADER}: {headers[SIGNATURE_HEADER]}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = raw_exchange(running.port, request)
    assert status_of(answer) == 413
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "framing",
    [b"", b"Transfer-Encoding: chunked\r\n"],
    ids=["no-length", "chunked"],
)
def test_unsized_bodies_are_411(start_listener: StartListener, framing: bytes) -> None:
    running = start_listener()
    body = event()
    request = b"POST /hook HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n"
    for name, value in signed(body).items():
        request = request[:-2] + f"{name}: {value}\r\n".encode() + b"\r\n"
    assert status_of(raw_exchange(running.port, request)) == 411


@pytest.mark.parametrize("body", [b"not json at all", b'{"id": "v1", "status": "weird"}'])
def test_signed_but_not_a_job_event_is_400(start_listener: StartListener, body: bytes) -> None:
    running = start_listener()
    response = running.post(body, signed(body))
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "BREW"])
def test_other_methods_are_405(start_listener: StartListener, method: str) -> None:
    running = start_listener()
    response = httpx.request(method, running.url(), timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# Exact boundaries are test_check_timestamp's; over HTTP, seconds tick while the test runs.
@pytest.mark.parametrize(("offset", "status"), [(-320, 400), (320, 400), (-280, 200), (280, 200)])
def test_stale_timestamps_are_rejected(
    start_listener: StartListener, offset: int, status: int
) -> None:
    running = start_listener()
    body = event()
    response = running.post(body, signed(body, timestamp=int(time.time()) + offset))
    assert response.status_code == status
    if status == 400:
        assert TIMESTAMP_HEADER in response.json()["error"]["message"]


@pytest.mark.parametrize("stamp", [None, "soon"])
def test_missing_or_garbled_timestamp_is_400(
    start_listener: StartListener, stamp: str | None
) -> None:
    running = start_listener()
    body = event()
    headers = signed(body)
    if stamp is None:
        del headers[TIMESTAMP_HEADER]
    else:
        headers[TIMESTAMP_HEADER] = stamp
    assert running.post(body, headers).status_code == 400


def test_tolerance_zero_accepts_any_timestamp(start_listener: StartListener) -> None:
    running = start_listener(tolerance=0)
    for job_id, stamp in (("v-old", 1), ("v-future", int(time.time()) + 86400)):
        body = event(job_id)
        assert running.post(body, signed(body, timestamp=stamp)).status_code == 200
    body = event("v-none")
    headers = signed(body)
    del headers[TIMESTAMP_HEADER]
    assert running.post(body, headers).status_code == 200
    running.settle()
    assert running.listener.stats.accepted == 3


def test_rejected_deliveries_record_run_and_forward_nothing(
    start_listener: StartListener, tmp_path: Path, home: Path
) -> None:
    command, bodies, envs = exec_recorder(tmp_path)
    with Receiver() as app:
        running = start_listener(exec_command=command, forward_to=app.url)
        body = event("v-rejected")
        stale = signed(body, timestamp=int(time.time()) - 3600)
        wrong = signed(body, key="not-the-secret")
        not_json = b"{oops"
        assert running.post(body, stale).status_code == 400
        assert running.post(body, wrong).status_code == 401
        assert running.post(not_json, signed(not_json)).status_code == 400
        assert httpx.get(running.url(), timeout=5).status_code == 405
        running.settle()
        running.listener.stop()
    assert app.received == []
    assert not bodies.exists()
    assert not envs.exists()
    assert history_records(home) == {}
    assert running.listener.stats.rejected == 4
    assert running.listener.stats.accepted == 0


def test_a_rejected_replay_does_not_poison_a_later_valid_delivery(
    start_listener: StartListener,
) -> None:
    running = start_listener()
    body = event("v-later")
    assert running.post(body, signed(body, key="wrong")).status_code == 401
    assert running.post(body, signed(body)).json() == {"received": True, "duplicate": False}


def test_a_slow_client_does_not_block_other_deliveries(start_listener: StartListener) -> None:
    import select

    running = start_listener(socket_timeout=1.0)
    body = event("v-fast")
    address = ("127.0.0.1", running.port)
    with (
        socket.create_connection(address, timeout=5) as slow,
        socket.create_connection(address, timeout=5) as silent,
    ):
        # Half a request: headers promising 100 bytes, then 1 byte, then silence...
        slow.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        silent.sendall(b"POST /hook HTTP/1.1\r\nHost:")  # ...and not even whole headers.
        assert running.post(body, signed(body)).status_code == 200
        # Served while both stalled clients are still waiting (nothing answered them yet).
        readable, _, _ = select.select([slow, silent], [], [], 0)
        assert readable == []
        # Then they are timed out, not left holding a thread forever.
        assert status_of(slow.recv(65536)) == 408
        assert silent.recv(65536) == b""
    running.settle()
    assert running.listener.stats.accepted == 1


def test_stop_drains_events_already_acknowledged(
    start_listener: StartListener, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    running = start_listener(exec_command=f'sleep 0.1; echo "$LUMEN_JOB_ID" >> "{marker}"')
    url = running.url()
    for job_id in ("v-1", "v-2", "v-3"):
        body = event(job_id)
        assert running.post(body, signed(body)).status_code == 200
    running.listener.stop()  # returns only once every acknowledged event has run
    assert marker.read_text().split() == ["v-1", "v-2", "v-3"]
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, content=event(), headers=signed(event()))
