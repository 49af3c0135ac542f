"""Webhooks: signatures, the listener's policy over real HTTP, ``webhook verify/send``, end to end.

The listener runs in-process on a free loopback port; the end-to-end test runs the real
``lumen webhook listen`` in a subprocess and lets the sandbox deliver to it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen_cli.context import AppContext
from lumen_cli.history import History
from lumen_cli.sandbox import SandboxServer
from lumen_cli.services.events import EventProcessor
from lumen_cli.webhook.listener import (
    Listener,
    ListenerConfig,
    Rejection,
    body_length,
    check_delivery,
)
from lumen_cli.webhook.protocol import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_timestamp,
    sample_event,
    sign,
    verify,
)
from tests.conftest import CLI

WHSEC = "whsec_test_secret"
# Known-answer vector, computed independently of this code:
#   printf '%s' "$KAT_BODY" | openssl dgst -sha256 -hmac whsec_test_secret
KAT_BODY = (
    b'{"id":"v1a2b3","status":"succeeded","data":[{"url":"https://video.example/v1a2b3.mp4"}]}'
)
KAT_SIGNATURE = "sha256=98888f2c76e8332022cae445e225066043c501ea6dcd097655253549566945b0"
# RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
RFC4231_SIGNATURE = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def signed(body: bytes, *, key: str = WHSEC, timestamp: int | None = None) -> dict[str, str]:
    """The headers the API sends with *body*, signed with *key*."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(key, body),
        TIMESTAMP_HEADER: str(int(time.time()) if timestamp is None else timestamp),
    }


def event(job_id: str = "v123", status: str = "succeeded") -> bytes:
    return sample_event(job_id, status, f"https://video.example/{job_id}.mp4")


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send *data* as-is on a fresh connection and return everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# --------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------


def test_known_answer_vectors() -> None:
    assert sign(WHSEC, KAT_BODY) == KAT_SIGNATURE
    assert verify(WHSEC, KAT_BODY, KAT_SIGNATURE)
    assert verify(WHSEC, KAT_BODY, KAT_SIGNATURE.encode())
    assert sign("Jefe", b"what do ya want for nothing?") == RFC4231_SIGNATURE


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        b"",
        "sha256=",
        KAT_SIGNATURE[:-1],  # truncated
        KAT_SIGNATURE + "0",  # extended
        KAT_SIGNATURE.replace("sha256=", "SHA256="),  # the prefix is exact, as the vendor's
        KAT_SIGNATURE.removeprefix("sha256="),  # no prefix
        KAT_SIGNATURE.upper(),
        "sha256=" + "0" * 64,  # well-formed, wrong
        KAT_SIGNATURE[:-1] + "é",  # non-ASCII str
        KAT_SIGNATURE.encode()[:-1] + b"\xff",  # non-ASCII bytes
        "\xa0" + KAT_SIGNATURE,  # Unicode space is not HTTP whitespace
        "sha1=" + KAT_SIGNATURE[7:47],
    ],
)
def test_verify_rejects(header: str | bytes | None) -> None:
    assert verify(WHSEC, KAT_BODY, header) is False


def test_verify_rejects_tampered_body_and_wrong_secret() -> None:
    assert not verify(WHSEC, KAT_BODY.replace(b"succeeded", b"succeedeD"), KAT_SIGNATURE)
    assert not verify(WHSEC, KAT_BODY + b"\n", KAT_SIGNATURE)  # an editor's trailing newline
    assert not verify(WHSEC + "x", KAT_BODY, KAT_SIGNATURE)
    assert not verify("", KAT_BODY, KAT_SIGNATURE)
    assert verify(WHSEC, KAT_BODY, f" {KAT_SIGNATURE}\r\n")  # HTTP's own whitespace is trimmed


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(),
    body=st.binary(max_size=256),
    header=st.one_of(st.none(), st.text(), st.binary()),
)
def test_verify_never_raises_and_accepts_only_the_exact_signature(
    secret: str, body: bytes, header: str | bytes | None
) -> None:
    result = verify(secret, body, header)
    assert isinstance(result, bool)
    try:
        expected = sign(secret, body)
    except UnicodeEncodeError:  # lone surrogates: no signature exists
        assert result is False
        return
    if isinstance(header, str):
        exact = header.strip(" \t\r\n\x0b\x0c") == expected
    else:
        exact = header is not None and header.strip() == expected.encode()
    assert result == (exact and bool(secret))
    if secret:
        assert verify(secret, body, expected)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=64), position=st.integers(min_value=0), data=st.data())
def test_any_one_character_change_is_rejected(body: bytes, position: int, data: Any) -> None:
    good = sign(WHSEC, body)
    index = position % len(good)
    replacement = data.draw(st.sampled_from("0123456789abcdef=sx"))
    bad = good[:index] + replacement + good[index + 1 :]
    assert verify(WHSEC, body, bad) == (bad == good)


# --------------------------------------------------------------------------------------------
# Policy functions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "tolerance", "expected"),
    [
        ("1000", 300, None),
        ("700", 300, None),  # exactly at the tolerance
        ("1300", 300, None),
        ("699", 300, "301 s old"),
        ("1301", 300, "301 s in the future"),
        (b"1000", 300, None),
        (" 1000 ", 300, None),
        (None, 300, "missing"),
        ("", 300, "missing"),
        ("abc", 300, "not an integer"),
        ("1000.5", 300, "not an integer"),
        ("-5", 300, "not an integer"),
        ("¹⁰⁰⁰", 300, "not an integer"),  # Unicode digits are not a timestamp
        (b"\xff", 300, "not an integer"),
        ("9" * 5000, 300, "not an integer"),  # no int() of a huge string
        ("1", 0, None),  # 0 disables the check
        (None, 0, None),
    ],
)
def test_check_timestamp(
    header: str | bytes | None, tolerance: float, expected: str | None
) -> None:
    reason = check_timestamp(header, 1000.0, tolerance)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


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


# --------------------------------------------------------------------------------------------
# The listener, in-process, over real HTTP
# --------------------------------------------------------------------------------------------


@dataclass
class Running:
    """A started listener and what it logged."""

    listener: Listener
    processor: EventProcessor
    logs: list[str]

    @property
    def port(self) -> int:
        return int(self.listener.url.rsplit(":", 1)[1])

    def url(self, path: str = "/hook") -> str:
        return self.listener.url + path

    def post(
        self, body: bytes, headers: dict[str, str] | None = None, path: str = "/hook"
    ) -> httpx.Response:
        return httpx.post(self.url(path), content=body, headers=headers or {}, timeout=5)

    def settle(self) -> None:
        assert self.listener.wait_idle(10), "the listener did not finish its events"


StartListener = Callable[..., Running]


@pytest.fixture
def start_listener(home: Path) -> Iterator[StartListener]:
    """Start listeners on free ports (with the CLI's own processor); stop them all after."""
    started: list[Running] = []

    def start(*, tolerance: float = 300, socket_timeout: float = 10.0, **actions: Any) -> Running:
        state = AppContext()
        processor = EventProcessor(state, **actions)
        logs: list[str] = []
        config = ListenerConfig(
            secret=WHSEC, port=0, tolerance=tolerance, socket_timeout=socket_timeout
        )
        listener = Listener(config, processor, log=logs.append).start()
        running = Running(listener, processor, logs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.listener.stop()


def history_jobs(home: Path) -> dict[str, Any]:
    history = History(home / "data" / "history.sqlite3")
    try:
        return {record.id: record for record in history.list()}
    finally:
        history.close()


def test_accepted_event_updates_history_and_prints_a_line(
    start_listener: StartListener, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_listener()
    body = event("v-ok")
    response = running.post(body, signed(body), path="/any/path/works")
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    running.settle()
    assert capsys.readouterr().out == "v-ok\tsucceeded\thttps://video.example/v-ok.mp4\n"
    running.listener.stop()  # closes the history on the worker thread
    record = history_jobs(home)["v-ok"]
    assert record.status == "succeeded"
    assert record.urls == ["https://video.example/v-ok.mp4"]
    assert WHSEC not in json.dumps(record.to_json())


def test_json_mode_prints_each_event_as_one_json_line(
    start_listener: StartListener, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_listener(json_output=True)
    for job_id, status in (("v-a", "succeeded"), ("v-b", "failed")):
        body = event(job_id, status)
        assert running.post(body, signed(body)).status_code == 200
    running.settle()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        json.loads(event("v-a", "succeeded")),
        json.loads(event("v-b", "failed")),
    ]


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


def exec_recorder(tmp_path: Path) -> tuple[str, Path, Path]:
    """An --exec command that appends its stdin and its job env vars to two files."""
    bodies, envs = tmp_path / "bodies", tmp_path / "envs"
    command = (
        f'cat >> "{bodies}"; printf "\\n" >> "{bodies}"; '
        f'echo "$LUMEN_JOB_ID $LUMEN_JOB_STATUS ${{LUMEN_WEBHOOK_SECRET:-no-secret}}" >> "{envs}"'
    )
    return command, bodies, envs


def test_exec_gets_the_raw_body_and_env_and_replays_run_once(
    start_listener: StartListener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", WHSEC)  # must not reach the command
    command, bodies, envs = exec_recorder(tmp_path)
    running = start_listener(exec_command=command)
    body = b'{ "status": "failed",  "id": "v-x", "error": {"message": "boom \xc3\xa9"} }'
    first = running.post(body, signed(body))
    # A replay, even with a fresh timestamp, is acknowledged and ignored.
    replay = running.post(body, signed(body, timestamp=int(time.time()) + 5))
    assert first.json() == {"received": True, "duplicate": False}
    assert replay.status_code == 200
    assert replay.json() == {"received": True, "duplicate": True}
    running.settle()
    assert bodies.read_bytes() == body + b"\n"  # byte for byte, not re-serialised
    assert envs.read_text() == "v-x failed no-secret\n"
    assert running.listener.stats.duplicates == 1
    assert any("duplicate delivery of v-x" in line for line in running.logs)


def test_a_new_status_for_the_same_job_is_a_new_event(
    start_listener: StartListener, tmp_path: Path
) -> None:
    command, _, envs = exec_recorder(tmp_path)
    running = start_listener(exec_command=command)
    for status in ("processing", "succeeded", "succeeded"):
        body = event("v-s", status)
        assert running.post(body, signed(body)).status_code == 200
    running.settle()
    assert envs.read_text().splitlines() == ["v-s processing no-secret", "v-s succeeded no-secret"]


def test_a_failing_exec_is_reported_and_the_next_event_still_runs(
    start_listener: StartListener, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    command = (
        f'case "$LUMEN_JOB_ID" in v-exit) echo oops >&2; exit 3;; v-kill) kill -9 $$;; esac; '
        f'echo "$LUMEN_JOB_ID" >> "{marker}"'
    )
    running = start_listener(exec_command=command)
    for job_id in ("v-exit", "v-kill", "v-fine"):
        body = event(job_id)
        assert running.post(body, signed(body)).status_code == 200
    running.settle()
    assert marker.read_text() == "v-fine\n"
    captured = capsys.readouterr()
    assert "v-exit: running --exec failed: the command exited 3" in captured.err
    assert "v-kill: running --exec failed: the command was killed by signal 9" in captured.err
    assert "oops" in captured.err  # the command's own output goes to stderr...
    assert "oops" not in captured.out  # ...never to stdout
    assert captured.out.count("\n") == 3


def test_exec_timeout_kills_the_command(
    start_listener: StartListener, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_listener(exec_command="sleep 30", exec_timeout=0.3)
    body = event("v-slow")
    started = time.monotonic()
    assert running.post(body, signed(body)).status_code == 200
    running.settle()
    assert time.monotonic() - started < 5
    assert "killed after 0.3 s" in capsys.readouterr().err


@dataclass
class Receiver:
    """A tiny stdlib HTTP server that records what it is sent and answers *status*."""

    status: int = 200
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def __enter__(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((self.path, dict(self.headers.items()), body))
                answer = b'{"ok": true}' if outer.status < 500 else b"upstream broke"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/app/hook"


def test_forward_to_receives_the_raw_body_and_headers(start_listener: StartListener) -> None:
    with Receiver() as app:
        running = start_listener(forward_to=app.url)
        body = b'{"id":"v-f","status":"succeeded","data":[{"url":"https://v.example/a.mp4"}]}  '
        headers = signed(body)
        assert running.post(body, headers).status_code == 200
        running.settle()
    [(path, got, got_body)] = app.received
    assert path == "/app/hook"
    assert got_body == body
    assert got[SIGNATURE_HEADER] == headers[SIGNATURE_HEADER]
    assert got[TIMESTAMP_HEADER] == headers[TIMESTAMP_HEADER]
    assert got["Content-Type"] == "application/json"
    assert verify(WHSEC, got_body, got[SIGNATURE_HEADER])


def test_a_failed_forward_is_reported(
    start_listener: StartListener, capsys: pytest.CaptureFixture[str]
) -> None:
    with Receiver(status=502) as app:
        running = start_listener(forward_to=app.url)
        body = event("v-502")
        assert running.post(body, signed(body)).status_code == 200
        running.settle()
    assert "v-502: " in capsys.readouterr().err
    assert len(app.received) == 1


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
    assert history_jobs(home) == {}
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


def test_binding_elsewhere_warns_and_a_taken_port_is_exit_2(cli: CLI) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        run = cli("webhook", "listen", "--secret", WHSEC, "--port", port)
        assert run.code == 2
        assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
        run = cli("webhook", "listen", "--secret", WHSEC, "--host", "0.0.0.0", "--port", port)
    assert "reachable from other machines" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no webhook secret"),
        (["--secret", WHSEC, "--forward-to", "ftp://x/y"], "http(s) URL"),
        (["--secret", WHSEC, "-o", "clips/{nope}.mp4"], "placeholder"),
        (["--secret", WHSEC, "--tolerance", "-1"], "tolerance"),
    ],
)
def test_listen_usage_errors_are_exit_2(cli: CLI, args: list[str], message: str) -> None:
    run = cli("webhook", "listen", "--port", "0", *args)
    assert run.code == 2
    assert message in run.stderr


# --------------------------------------------------------------------------------------------
# lumen webhook verify
# --------------------------------------------------------------------------------------------


def test_verify_cli_valid_invalid_and_json(cli: CLI, tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(KAT_BODY)
    run = cli("webhook", "verify", "--secret", WHSEC, "--signature", KAT_SIGNATURE, str(body_file))
    assert (run.code, run.stdout) == (0, "valid\n")
    body_file.write_bytes(KAT_BODY + b"\n")
    run = cli("webhook", "verify", "--secret", WHSEC, "-s", KAT_SIGNATURE, str(body_file))
    assert (run.code, run.stdout) == (1, "invalid\n")
    assert "newline" in run.stderr
    run = cli("webhook", "verify", "--secret", WHSEC, "-s", KAT_SIGNATURE, str(body_file), "--json")
    assert (run.code, json.loads(run.stdout)) == (1, {"valid": False})
    assert WHSEC not in run.stdout + run.stderr


def test_verify_cli_reads_stdin_and_takes_the_secret_from_env_or_config(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = KAT_BODY.decode()
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", WHSEC)
    run = cli("webhook", "verify", "-s", KAT_SIGNATURE, "-", "--json", input=body)
    assert (run.code, json.loads(run.stdout)) == (0, {"valid": True})
    # A header pasted whole is understood too.
    run = cli("webhook", "verify", "-s", f"{SIGNATURE_HEADER}: {KAT_SIGNATURE}", input=body)
    assert (run.code, run.stdout) == (0, "valid\n")
    monkeypatch.delenv("LUMEN_WEBHOOK_SECRET")
    assert cli("config", "set", "webhook_secret", "-", input=WHSEC + "\n").code == 0
    run = cli("webhook", "verify", "-s", KAT_SIGNATURE, input=body)
    assert (run.code, run.stdout) == (0, "valid\n")
    # A flag beats the configured secret.
    run = cli("webhook", "verify", "--secret", "other", "-s", KAT_SIGNATURE, input=body)
    assert run.code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", KAT_SIGNATURE, "body.json"], "no webhook secret"),
        (["--secret", WHSEC, "-s", KAT_SIGNATURE, "missing.json"], "cannot read missing.json"),
        (["--secret", WHSEC, "body.json"], "--signature"),
    ],
)
def test_verify_cli_usage_errors_are_exit_2(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "body.json").write_bytes(KAT_BODY)
    run = cli("webhook", "verify", *args)
    assert run.code == 2
    assert message in run.stderr
    assert "valid" not in run.stdout


# --------------------------------------------------------------------------------------------
# lumen webhook send
# --------------------------------------------------------------------------------------------


def test_send_delivers_a_signed_event_to_a_listener(
    cli: CLI, start_listener: StartListener, home: Path
) -> None:
    running = start_listener()
    run = cli("webhook", "send", running.url(), "--secret", WHSEC, "--id", "v-sent")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "200 OK"
    assert '"duplicate": false' in run.stdout
    assert WHSEC not in run.stdout + run.stderr
    running.settle()
    running.listener.stop()
    assert history_jobs(home)["v-sent"].status == "succeeded"


def test_send_failed_event_as_json(cli: CLI) -> None:
    with Receiver() as app:
        run = cli(
            "webhook", "send", app.url, "--secret", WHSEC, "--id", "v-9", "--status", "failed",
            "--json",
        )  # fmt: skip
    assert run.code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["status_code"] == 200
    assert document["ok"] is True
    [(_, headers, body)] = app.received
    assert json.loads(body) == {
        "id": "v-9",
        "status": "failed",
        "error": {"message": "test delivery: generation failed"},
    }
    assert verify(WHSEC, body, headers[SIGNATURE_HEADER])
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60


def test_send_exit_codes(cli: CLI, start_listener: StartListener) -> None:
    running = start_listener()
    run = cli("webhook", "send", running.url(), "--secret", "wrong", "--id", "v-1")
    assert run.code == 1
    assert run.stdout.startswith("401 Unauthorized")
    assert "secret" in run.stderr
    stale = cli("webhook", "send", running.url(), "--secret", WHSEC, "--id", "v-1",
                "--timestamp", "1000")  # fmt: skip
    assert stale.code == 1
    assert stale.stdout.startswith("400 Bad Request")
    with Receiver(status=503) as app:
        run = cli("webhook", "send", app.url, "--secret", WHSEC, "--id", "v-1")
    assert run.code == 6
    assert "upstream broke" in run.stdout
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    run = cli("webhook", "send", f"http://127.0.0.1:{port}/hook", "--secret", WHSEC, "--id", "v")
    assert run.code == 6
    assert "could not deliver" in run.stderr
    run = cli("webhook", "send", "localhost:8787/hook", "--secret", WHSEC, "--id", "v")
    assert run.code == 2


# --------------------------------------------------------------------------------------------
# submit sends the configured webhook pair
# --------------------------------------------------------------------------------------------


def test_submit_sends_the_configured_webhook_pair(cli: CLI) -> None:
    assert cli("config", "set", "webhook_url", "https://hooks.example/lumen").code == 0
    assert cli("config", "set", "webhook_secret", "-", input="whsec-configured\n").code == 0
    run = cli("submit", "a cat", "--dry-run", "--json")
    assert run.code == 0, run.stderr
    body = json.loads(run.stdout)
    sent = {name: body[name] for name in ("webhook_url", "webhook_secret")}
    assert sent == {"webhook_url": "https://hooks.example/lumen", "webhook_secret": "***"}
    assert "whsec-configured" not in run.stdout + run.stderr


# --------------------------------------------------------------------------------------------
# End to end: the sandbox delivers to `lumen webhook listen` in its own process
# --------------------------------------------------------------------------------------------


def spawn_listener(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``lumen webhook listen ARGS`` in its own process; return it and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli", "webhook", "listen", "--port", "0", *args],
        env={**os.environ, "LUMEN_WEBHOOK_SECRET": WHSEC},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
    if not match:
        process.kill()
        process.communicate()
    assert match, banner
    return process, match.group(1)


@pytest.mark.slow
def test_sandbox_deliveries_reach_the_listener_end_to_end(
    cli: CLI, sandbox: SandboxServer, tmp_path: Path
) -> None:
    events, envs = tmp_path / "events.jsonl", tmp_path / "envs"
    command = (
        f'cat >> "{events}"; echo >> "{events}"; echo "$LUMEN_JOB_ID $LUMEN_JOB_STATUS" >> "{envs}"'
    )
    clips = str(tmp_path / "clips") + "/"
    process, url = spawn_listener("--json", "--exec", command, "--download", "-o", clips)
    try:
        hook = url + "/hook"

        def submit(prompt: str) -> str:
            run = cli("submit", prompt, "--webhook-url", hook, "--webhook-secret", WHSEC, "-q")
            assert run.code == 0, run.stderr
            return run.stdout.strip()

        ok, failed = submit("a cat running"), submit("a cat that will fail")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if envs.exists() and len(envs.read_text().splitlines()) == 2:
                break
            time.sleep(0.05)
        assert sorted(envs.read_text().splitlines()) == sorted(
            [f"{ok} succeeded", f"{failed} failed"]
        )
        delivered = {d["job_id"]: d for d in sandbox.deliveries()}
        assert delivered[ok]["delivered"]
        assert delivered[ok]["attempts"] == 1
        assert delivered[failed]["delivered"]

        jobs = {job["id"]: job for job in json.loads(cli("list", "--json").stdout)}
        assert jobs[ok]["status"] == "succeeded"
        assert jobs[ok]["urls"] == [f"{sandbox.url}/files/{ok}/0.mp4"]
        assert jobs[failed]["status"] == "failed"
        assert "fail" in jobs[failed]["error"]
        saved = Path(jobs[ok]["paths"][0])
        assert saved.parent == tmp_path / "clips"
        assert saved.read_bytes()[4:8] == b"ftyp"  # an MP4 file
        assert jobs[failed]["paths"] == []
        received = [json.loads(line) for line in events.read_text().splitlines()]
        assert {event["id"] for event in received} == {ok, failed}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped: 2 events received" in err
    assert WHSEC not in out + err
    assert {json.loads(line)["id"] for line in out.splitlines()} == {ok, failed}


@pytest.mark.slow
def test_sigterm_drains_and_a_second_interrupt_abandons(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # (A short sleep: if this test fails, the orphaned command holds the pipes that long.)
    process, url = spawn_listener("--exec", f'sleep 8; echo "$LUMEN_JOB_ID" >> "{marker}"')
    try:
        for job_id in ("v-1", "v-2"):
            body = event(job_id)
            response = httpx.post(url + "/hook", content=body, headers=signed(body), timeout=5)
            assert response.status_code == 200
        process.send_signal(signal.SIGTERM)  # as a service manager stops it: drain first
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(4)]
        assert any("finishing 2 received event(s)" in line for line in lines), lines
        with pytest.raises(httpx.ConnectError):  # no longer taking deliveries
            httpx.post(url + "/hook", content=body, headers=signed(body), timeout=5)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)  # Ctrl-C while draining: abandon
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert time.monotonic() - started < 5  # the running --exec was killed, not waited for
    assert "abandoned 2 unfinished event(s)" in err
    assert "killed by signal 9" in err
    assert "Traceback" not in err
    assert not marker.exists()
    assert out.splitlines() == [
        "v-1\tsucceeded\thttps://video.example/v-1.mp4",
    ]
