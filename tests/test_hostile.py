"""A hostile server and hostile files against lumen: one fixture, many behaviours.

Each test scripts what the server on loopback does (escape codes in every field, ids that
lie, one byte at a time, answers that never end, redirects to metadata addresses, …) or
plants something where lumen writes, and checks what a person and a script would see. Every
run happens with a canary key in the environment: no output may ever contain it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen_cli.api.client import LumenClient
from lumen_cli.api.models import Job
from lumen_cli.api.polling import Poller, PollPolicy
from lumen_cli.api.retry import RetryPolicy
from lumen_cli.clock import FakeClock, SystemClock
from lumen_cli.download.fetch import Downloader
from lumen_cli.errors import BadResponse, DownloadError
from lumen_cli.fsutil import ensure_private_dir
from lumen_cli.output import Output
from lumen_cli.output.jobs import job_document, report_followed, show_job, show_jobs
from lumen_cli.serving import BackgroundHTTPServer
from tests.conftest import CLI, Run
from tests.support import JOBS_PATH, child_processes, history_records, wait_for

CANARY = "sk-lumen-canary-0123456789abcdef0123"
# What a terminal must never receive from outside text: escapes, bells, CRs, bidi overrides.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
EVIL = "\x1b]0;pwned\x07\x1b[2J\rerror: forged line\nv-fake\tsucceeded\u202e"
QUICK = RetryPolicy(max_attempts=2, base_delay=0.01, attempt_seconds=1.0, deadline=5.0)


# -- the hostile server --------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[["Exchange"], object]


class Exchange:
    """One request to the hostile server and the means to answer it badly."""

    def __init__(self, handler: BaseHTTPRequestHandler, server: Hostile) -> None:
        self.handler = handler
        self.server = server
        length = int(handler.headers.get("Content-Length") or 0)
        self.request = Request(
            handler.command, handler.path, dict(handler.headers), handler.rfile.read(length)
        )

    def send(self, data: bytes) -> None:
        self.handler.wfile.write(data)
        self.handler.wfile.flush()
        self.server.sent += len(data)

    def answer(
        self, status: int, body: bytes | str = b"", headers: dict[str, str] | None = None
    ) -> None:
        content = body.encode() if isinstance(body, str) else body
        head = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(content)}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head.append("Connection: close")
        self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + content)

    def json(self, document: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.answer(
            status, json.dumps(document), {"Content-Type": "application/json", **(headers or {})}
        )


@dataclass
class Hostile:
    """A server on loopback that misbehaves as the test says (``behave``); records requests."""

    behaviour: Behaviour = field(default=lambda exchange: exchange.json({}, 404))
    requests: list[Request] = field(default_factory=list)
    sent: int = 0
    server: BackgroundHTTPServer | None = None

    def start(self) -> Hostile:
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:
                self.close_connection = True  # one exchange per connection
                super().handle_one_request()

            def _any(self) -> None:
                exchange = Exchange(self, hostile)
                hostile.requests.append(exchange.request)
                with contextlib.suppress(OSError):  # the client hung up: the point of many tests
                    hostile.behaviour(exchange)

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(BackgroundHTTPServer):
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], OSError):  # not a client that hung up
                    super().handle_error(request, client_address)

        self.server = Server("127.0.0.1", 0, Handler, name="hostile")
        self.server.start()
        return self

    def behave(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url


@dataclass
class Outputs:
    """Everything lumen printed in this test, to hunt for the canary key afterwards."""

    texts: list[str] = field(default_factory=list)


@pytest.fixture
def hostile(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    server = Hostile().start()
    monkeypatch.setenv("LUMEN_BASE_URL", server.url)
    monkeypatch.setenv("LUMEN_API_KEY", CANARY)
    yield server
    assert server.server is not None
    server.server.stop()


@pytest.fixture
def lumen(cli: CLI, hostile: Hostile) -> Iterator[Callable[..., Run]]:
    """``cli`` against the hostile server, with quick retries; checks every output for the
    canary key and for control characters on stderr."""
    runs: list[Run] = []

    def run(*args: str, **options: Any) -> Run:
        options.setdefault("retry", QUICK)
        result = cli(*args, **options)
        runs.append(result)
        return result

    yield run
    for result in runs:
        assert CANARY not in result.stdout + result.stderr
        assert not CONTROL.search(result.stderr), result.stderr
        assert "Traceback" not in result.stderr


def job(job_id: str = "v-1", status: str = "queued", **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "status": status, "created": int(time.time()), **fields}


# -- terminal and output safety ------------------------------------------------------------


def test_escape_codes_from_the_server_never_reach_the_terminal(
    lumen: Callable[..., Run], hostile: Hostile
) -> None:
    hostile.behave(lambda x: x.json({"error": {"message": EVIL}}, 404))
    run = lumen("status", "v-1")
    assert run.code == 5
    assert [line for line in run.stderr.splitlines() if line.startswith("error:")] == [
        run.stderr.splitlines()[0]
    ]  # one error line: the server's CR and LF forged none
    assert "\\x1b]0;pwned" in run.stderr  # shown, harmless

    hostile.behave(lambda x: x.json(job("v-1", "failed", error={"message": EVIL}, model=EVIL)))
    status = lumen("status", "v-1")
    assert status.code == 0
    assert not CONTROL.search(status.stdout)
    waited = lumen("wait", "v-1")
    assert waited.code == 7
    [line] = waited.stdout.splitlines()  # no fake record
    assert line.split("\t")[:2] == ["v-1", "failed"]
    assert len(line.split("\t")) == 7  # the plain line: six fields and the error
    assert not CONTROL.search(waited.stdout)
    as_json = json.loads(lumen("status", "v-1", "--json").stdout)
    assert as_json["error"]["message"] == EVIL  # --json stays exact


def test_escape_codes_in_the_history_never_reach_the_terminal(
    lumen: Callable[..., Run], hostile: Hostile, home: Path
) -> None:
    hostile.behave(lambda x: x.json(job("v-1", "failed", error={"message": EVIL})))
    assert lumen("status", "v-1").code == 0
    listed = lumen("list")
    assert listed.code == 0
    assert not CONTROL.search(listed.stdout)
    assert len(listed.stdout.splitlines()) == 1


def test_an_answer_about_another_job_is_refused_and_not_saved(
    lumen: Callable[..., Run], hostile: Hostile, home: Path
) -> None:
    hostile.behave(lambda x: x.json(job("v-other", "succeeded")))
    run = lumen("status", "v-asked")
    assert run.code == 6
    assert "v-asked" in run.stderr
    assert "v-other" in run.stderr
    assert history_records(home) == {}


@pytest.mark.parametrize("job_id", ["..", ".", "a/b", "x\x1b[2J", "v 1", "a\\b", "v" * 300])
def test_ids_that_would_change_the_request_are_refused_before_sending(
    lumen: Callable[..., Run], hostile: Hostile, job_id: str
) -> None:
    run = lumen("status", job_id)
    assert run.code == 2
    assert "not a job id" in run.stderr
    assert hostile.requests == []


# -- bounded in time and size ----------------------------------------------------------------


def trickle(head: bytes, body: bytes, every: float) -> Behaviour:
    """Send *head* then *body* one byte every *every* seconds (until the client hangs up)."""

    def behave(exchange: Exchange) -> None:
        for byte in head + body:
            exchange.send(bytes([byte]))
            time.sleep(every)

    return behave


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_answer_ends_by_the_request_deadline(
    lumen: Callable[..., Run], hostile: Hostile, where: str
) -> None:
    body = json.dumps(job("v-1")).encode() + b" " * 10_000
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: " + b"p" * 10_000
    if where == "body":
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    else:
        head += f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    hostile.behave(trickle(head, body, every=0.05))
    started = time.monotonic()
    run = lumen("status", "v-1", retry=RetryPolicy(max_attempts=1, attempt_seconds=0.5))
    assert run.code == 6
    assert time.monotonic() - started < 3
    assert "could not reach" in run.stderr


def test_wait_timeout_bounds_a_request_in_flight(hostile: Hostile) -> None:
    hostile.behave(trickle(b"HTTP/1.1 200 OK\r\n", b"X" * 10_000, every=0.05))
    with LumenClient(hostile.url, CANARY, retry=RetryPolicy(attempt_seconds=30)) as client:
        poller = Poller(client, clock=SystemClock(), policy=PollPolicy(first_look=0.3))
        started = time.monotonic()
        outcome = poller.wait(["v-1"], timeout=0.2)
    assert outcome.timed_out
    assert time.monotonic() - started < 3  # not the 30 s of one request


def test_a_huge_answer_is_refused_early(lumen: Callable[..., Run], hostile: Hostile) -> None:
    def announce(exchange: Exchange) -> None:
        exchange.send(b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n" + b"[" * 65536)

    hostile.behave(announce)
    run = lumen("status", "v-1", "--json")
    assert run.code == 6
    assert "too large" in run.stderr
    assert json.loads(run.stdout)["error"]["exit_code"] == 6

    def endless(exchange: Exchange) -> None:
        exchange.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        for _ in range(200):  # 13 MB if nobody stops reading
            exchange.send(chunk)

    hostile.behave(endless)
    hostile.sent = 0
    run = lumen("status", "v-1")
    assert run.code == 6
    assert hostile.sent < 12_000_000  # lumen hung up after 4 MiB (plus socket buffers)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"[" * 200_000, "nested too deeply"), (b'{"id": "v-1", "status":', "not JSON")],
)
def test_bad_json_is_exit_6_never_a_traceback(
    lumen: Callable[..., Run], hostile: Hostile, body: bytes, message: str
) -> None:
    hostile.behave(lambda x: x.answer(200, body, {"Content-Type": "application/json"}))
    run = lumen("status", "v-1")
    assert run.code == 6
    assert message in run.stderr


@pytest.mark.parametrize("value", ["²", "-1", "1e9", "Wed, 99 Foo", "1" * 40])
def test_any_retry_after_is_survived(
    lumen: Callable[..., Run], hostile: Hostile, value: str
) -> None:
    hostile.behave(lambda x: x.json({"error": {"message": "busy"}}, 503, {"Retry-After": value}))
    run = lumen("status", "v-1")
    assert run.code == 6
    assert len(hostile.requests) == QUICK.max_attempts


def finished(url: str) -> Job:
    return Job(id="v-1", status="succeeded", urls=(url,))


def test_a_download_that_never_ends_stops_at_the_cap(hostile: Hostile, tmp_path: Path) -> None:
    def endless(exchange: Exchange) -> None:
        exchange.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(100):
            exchange.send(b"\0" * 65536)

    hostile.behave(endless)
    with Downloader(clock=FakeClock(), max_bytes=256 << 10) as downloader:
        with pytest.raises(DownloadError, match="max_download_size"):
            downloader.fetch(hostile.url + "/clip.mp4", tmp_path / "clip.mp4")
    assert list(tmp_path.iterdir()) == []  # nothing half-saved

    hostile.behave(lambda x: x.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (10 << 30)))
    with Downloader(clock=FakeClock(), max_bytes=1 << 30) as downloader:
        with pytest.raises(DownloadError, match="more than max_download_size"):
            downloader.fetch(hostile.url + "/big.mp4", tmp_path / "big.mp4")


def test_a_download_that_sends_more_than_it_announced_stops_there(
    hostile: Hostile, tmp_path: Path
) -> None:
    def liar(exchange: Exchange) -> None:
        exchange.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"\0" * 100_000)

    hostile.behave(liar)
    with Downloader(clock=FakeClock()) as downloader:
        # httpx stops at the announced length itself; either way nothing more is kept.
        saved = downloader.fetch(hostile.url + "/clip.mp4", tmp_path / "clip.mp4")
    assert saved.path.stat().st_size == 1000


def test_a_trickling_download_stalls_and_gives_up(hostile: Hostile, tmp_path: Path) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    hostile.behave(trickle(head, b"\0" * 100_000, every=0.01))
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    started = time.monotonic()
    with Downloader(clock=FakeClock(), retry=policy, stall_seconds=0.3) as downloader:
        with pytest.raises(DownloadError, match="stalled"):
            downloader.fetch(hostile.url + "/clip.mp4", tmp_path / "clip.mp4")
    assert time.monotonic() - started < 5


# -- redirects, link-local addresses, credentials in URLs -----------------------------------


def test_a_redirect_from_the_api_is_reported_not_followed(
    lumen: Callable[..., Run], hostile: Hostile, home: Path
) -> None:
    hostile.behave(lambda x: x.answer(302, b"", {"Location": "https://evil.example/steal"}))
    run = lumen("status", "v-1")
    assert run.code == 6
    assert "redirected to evil.example" in run.stderr
    assert len(hostile.requests) == 1

    hostile.behave(lambda x: x.answer(307, b"", {"Location": "https://evil.example/v1"}))
    submitted = lumen("submit", "a cat")
    assert submitted.code == 6
    assert "redirected to evil.example" in submitted.stderr
    assert history_records(home) == {}  # a redirect created nothing: no "unknown" record


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/x",
        "http://metadata.google.internal/",
    ],
)
def test_downloads_never_reach_link_local_or_metadata_addresses(
    hostile: Hostile, tmp_path: Path, target: str
) -> None:
    with Downloader(clock=FakeClock()) as downloader:
        with pytest.raises(DownloadError, match="refusing to connect"):
            downloader.fetch(target, tmp_path / "a.mp4")
    hostile.behave(lambda x: x.answer(302, b"", {"Location": target}))
    with Downloader(clock=FakeClock()) as downloader:
        with pytest.raises(DownloadError, match="refusing to connect"):
            downloader.fetch(hostile.url + "/clip.mp4", tmp_path / "b.mp4")
    assert len(hostile.requests) == 1  # the first hop only


def test_signed_queries_and_passwords_stay_out_of_sidecars_and_messages(
    lumen: Callable[..., Run], hostile: Hostile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    clip = hostile.url.replace("http://", "http://user:hunter2@") + "/clip.mp4?token=s3cr3t"

    def serve(exchange: Exchange) -> None:
        if exchange.request.path.startswith(JOBS_PATH):
            exchange.json(job("v-1", "succeeded", data=[{"url": clip}]))
        elif exchange.request.path.startswith("/clip.mp4"):
            exchange.answer(200, b"\0" * 1000)

    hostile.behave(serve)
    run = lumen("download", "v-1", "--sidecar")
    assert run.code == 0, run.stderr
    sidecar = (tmp_path / "v-1.mp4.json").read_text()
    assert "s3cr3t" not in sidecar
    assert "hunter2" not in sidecar
    assert json.loads(sidecar)["url"] == hostile.url + "/clip.mp4"

    hostile.behave(
        lambda x: (
            x.json(job("v-1", "succeeded", data=[{"url": clip}]))
            if x.request.path.startswith(JOBS_PATH)
            else x.answer(403, b"expired")
        )
    )
    failed = lumen("download", "v-1", "--force")
    assert failed.code == 6
    assert "s3cr3t" not in failed.stderr
    assert "hunter2" not in failed.stderr


# -- files -----------------------------------------------------------------------------------


def test_a_symlink_planted_at_the_part_file_is_never_followed(
    hostile: Hostile, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip.mp4.part").symlink_to(victim)
    hostile.behave(lambda x: x.answer(200, b"\0" * 1000))
    with Downloader(clock=FakeClock()) as downloader:
        with pytest.raises(Exception, match="symlink"):
            downloader.fetch(hostile.url + "/clip.mp4", out / "clip.mp4")
    assert victim.read_text() == "precious"


@pytest.mark.parametrize(
    "planted", ["clip.mp4.part.json.tmp", "clip.mp4.part.json", "clip.mp4.json"]
)
def test_symlinks_at_side_files_are_replaced_not_followed(
    lumen: Callable[..., Run],
    hostile: Hostile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    planted: str,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    monkeypatch.chdir(tmp_path)
    (tmp_path / planted).symlink_to(victim)

    def serve(exchange: Exchange) -> None:
        if exchange.request.path.startswith(JOBS_PATH):
            exchange.json(job("v-1", "succeeded", data=[{"url": hostile.url + "/c.mp4"}]))
        else:
            exchange.answer(200, b"\0" * 1000)

    hostile.behave(serve)
    run = lumen("download", "v-1", "-o", "clip.mp4", "--sidecar")
    assert run.code == 0, run.stderr
    assert victim.read_text() == "precious"
    assert (tmp_path / "clip.mp4").stat().st_size == 1000


def test_symlinks_at_the_config_lock_and_history_files_are_refused(
    lumen: Callable[..., Run], home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (home / "config").mkdir()
    (home / "config" / ".config.lock").symlink_to(victim)
    run = lumen("config", "set", "model", "veo-3-1")
    assert run.code == 2
    assert "symlink" in run.stderr
    (home / "data").mkdir()
    (home / "data" / "history.sqlite3-wal").symlink_to(victim)
    listed = lumen("list")
    assert listed.code == 1
    assert "symlink" in listed.stderr
    assert victim.read_text() == "precious"


def _fetch_on_a_full_disk(url: str, path: Path, report: Connection) -> None:
    """In a child whose every file write fails as on a full disk (EFBIG): fetch URL."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    try:
        with Downloader(clock=FakeClock()) as downloader:
            downloader.fetch(url, path)
        report.send("saved?!")
    except DownloadError as exc:
        report.send(f"DownloadError: {exc}")
    except BaseException as exc:
        report.send(f"{type(exc).__name__}: {exc}")


def test_a_full_disk_is_a_clear_error_and_leaves_no_empty_file(
    hostile: Hostile, tmp_path: Path
) -> None:
    hostile.behave(lambda x: x.answer(200, b"\0" * 1000))
    theirs, ours = child_processes().Pipe()
    child = child_processes().Process(
        target=_fetch_on_a_full_disk, args=(hostile.url + "/clip.mp4", tmp_path / "clip.mp4", ours)
    )
    child.start()
    child.join(30)
    assert theirs.poll(0), f"the child ended with {child.exitcode} and said nothing"
    message = theirs.recv()
    assert message.startswith("DownloadError: cannot write"), message
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_private_folders_stay_private_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ensure_private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


# -- never lose a billed job's id ------------------------------------------------------------


def test_a_locked_history_after_the_post_still_prints_the_id(
    lumen: Callable[..., Run], hostile: Hostile, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lumen_cli.database.BUSY_TIMEOUT_SECONDS", 0.1)
    locker: list[sqlite3.Connection] = []

    def accept_then_lock(exchange: Exchange) -> None:
        conn = sqlite3.connect(
            home / "data" / "history.sqlite3", isolation_level=None, check_same_thread=False
        )
        conn.execute("BEGIN EXCLUSIVE")  # another process holds the history for long
        locker.append(conn)
        exchange.json(job("v-paid"))

    hostile.behave(accept_then_lock)
    run = lumen("submit", "a cat", "-q")
    locker[0].execute("ROLLBACK")
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "v-paid"
    assert "was created (and is billed)" in run.stderr
    assert "unusable" not in run.stderr


def test_an_id_the_history_already_holds_is_recorded_not_refused(
    lumen: Callable[..., Run], hostile: Hostile, home: Path
) -> None:
    hostile.behave(lambda x: x.json(job("v-same")))
    assert lumen("submit", "first", "-q").stdout.strip() == "v-same"
    again = lumen("submit", "second", "--json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["id"] == "v-same"
    records = history_records(home)
    assert list(records) == ["v-same"]
    assert records["v-same"].prompt == "second"


@pytest.mark.parametrize(("status", "code"), [(400, 2), (429, 6), (402, 4), (401, 3), (404, 5)])
def test_a_definite_refusal_leaves_no_unknown_record(
    lumen: Callable[..., Run], hostile: Hostile, home: Path, status: int, code: int
) -> None:
    hostile.behave(lambda x: x.json({"error": {"message": "no"}}, status, {"Retry-After": "0"}))
    run = lumen("submit", "a cat")
    assert run.code == code
    assert history_records(home) == {}


def _spawn_submit(home: Path, hostile: Hostile) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lumen_cli", "submit", "a held cat"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_ctrl_c_while_the_post_is_held_keeps_an_unknown_record(
    hostile: Hostile, home: Path
) -> None:
    released = threading.Event()
    hostile.behave(lambda x: released.wait(10))
    process = _spawn_submit(home, hostile)
    try:
        wait_for(lambda: len(hostile.requests) == 1, seconds=10, what="the POST")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        released.set()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert CANARY not in out + err
    [record] = history_records(home).values()
    assert record.status == "unknown"
    assert "interrupted" in (record.error or "")


@pytest.mark.slow
def test_a_submit_killed_mid_post_turns_unknown_and_shows(
    hostile: Hostile, home: Path, lumen: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()
    hostile.behave(lambda x: released.wait(10))
    process = _spawn_submit(home, hostile)
    try:
        wait_for(lambda: len(hostile.requests) == 1, seconds=10, what="the POST")
        process.kill()
        process.communicate(timeout=10)
    finally:
        released.set()
    [record] = history_records(home).values()
    assert record.status == "submitting"  # as the killed process left it
    monkeypatch.setattr("lumen_cli.history.STALE_SUBMIT_SECONDS", 0.0)
    listed = lumen("list", "--status", "unknown")
    assert record.id in listed.stdout
    assert "ended before the API answered" in history_records(home)[record.id].error  # type: ignore[operator]
    doctor = lumen("doctor")
    assert "1 submit with unknown outcome" in doctor.stdout


@pytest.mark.parametrize("created", [99999999999999999999, -5, "yesterday", 1.5e300, True])
def test_an_impossible_created_time_is_ignored_everywhere(
    lumen: Callable[..., Run], hostile: Hostile, created: object
) -> None:
    hostile.behave(lambda x: x.json({**job("v-1", "succeeded"), "created": created}))
    assert lumen("status", "v-1").code == 0
    assert lumen("list").code == 0
    assert lumen("list", "--json").code == 0


def test_a_ten_thousand_character_id_is_named_as_the_cause(
    lumen: Callable[..., Run], hostile: Hostile, home: Path
) -> None:
    hostile.behave(lambda x: x.json(job("v" * 10_000)))
    run = lumen("submit", "a cat")
    assert run.code == 6
    assert "unusable job id" in run.stderr
    assert "10000 characters" in run.stderr
    assert "-o" not in run.stderr
    [record] = history_records(home).values()
    assert record.status == "unknown"  # it may exist and be billed: kept, never lost


def test_mangled_history_rows_are_read_as_empty(
    lumen: Callable[..., Run], hostile: Hostile, home: Path
) -> None:
    hostile.behave(lambda x: x.json(job("v-1")))
    assert lumen("status", "v-1").code == 0
    with sqlite3.connect(home / "data" / "history.sqlite3") as conn:
        conn.execute(
            "UPDATE jobs SET created_at='soon', urls='{oops', paths='[1, 2]', request='[[['"
        )
    for args in (["list"], ["list", "--json"], ["wait", "--all", "--timeout", "0"]):
        run = lumen(*args)
        assert run.code in (0, 9), (args, run.stderr)


# -- secrets -----------------------------------------------------------------------------------


SECRET = "whsec-canary-do-not-show"  # noqa: S105 - a canary, not a password


@pytest.mark.parametrize(
    "setting",
    [
        f'api_key = ["{CANARY}"]',
        f'webhook_secret = ["{SECRET}"]',
        f'model = ["{CANARY}"]',
        f'duration = "{CANARY}"',
    ],
)
def test_a_misplaced_secret_in_the_config_is_never_echoed(
    lumen: Callable[..., Run], home: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.delenv("LUMEN_API_KEY")
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text(f"[profiles.default]\n{setting}\n")
    for args in (["config", "list"], ["doctor"], ["auth", "status"], ["status", "v-1"]):
        run = lumen(*args)
        assert run.code != 0, args  # each reports the bad setting…
        assert SECRET not in run.stdout + run.stderr  # …without showing it (nor the key)


def test_exec_commands_get_neither_the_key_nor_the_signing_secret(
    start_listener: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import event, signed

    monkeypatch.setenv("LUMEN_API_KEY", CANARY)
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec-do-not-pass")
    dump = tmp_path / "env"
    running = start_listener(exec_command=f'env > "{dump}"')
    body = event("v-env")
    assert running.post(body, signed(body)).status_code == 200
    running.settle()
    environment = dump.read_text()
    assert "LUMEN_JOB_ID=v-env" in environment
    assert CANARY not in environment
    assert "whsec-do-not-pass" not in environment


# -- random input through the model and every renderer ---------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.fixed_dictionaries(
    {
        "id": TEXT,
        "status": st.sampled_from(["queued", "processing", "succeeded", "failed", "cancelled"]),
    },
    optional={
        "created": JSONISH,
        "model": JSONISH,
        "error": JSONISH | st.fixed_dictionaries({"message": TEXT}),
        "data": JSONISH | st.lists(st.fixed_dictionaries({"url": TEXT}), max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(payload=PAYLOADS | JSONISH)
def test_random_answers_never_crash_and_never_reach_a_terminal_raw(payload: object) -> None:
    try:
        parsed = Job.from_api(payload)
    except BadResponse:
        return
    stdout, stderr = io.StringIO(), io.StringIO()
    for tty in (False, True):
        out = Output(stdout=stdout, stderr=stderr, tty=tty, width=80)
        document = job_document(parsed, None)
        show_job(out, document)
        show_jobs(out, [document, document])
        report_followed(out, [document], {}, timed_out=True, single=True)
        display = out.wait_display()
        display.update(parsed, None)
        out.warn(f"{parsed.id}: {parsed.error}")
    shown = stdout.getvalue() + stderr.getvalue()
    assert not CONTROL.search(re.sub(r"\x1b\[[0-9;]*m", "", shown))  # rich's own colours aside


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_as_an_answer_are_a_clean_error(raw: bytes) -> None:
    from lumen_cli.api.client import Answer

    answer = Answer(200, "OK", {"Content-Type": "application/json"}, raw)
    with contextlib.suppress(BadResponse):  # any other exception fails the test
        Job.from_api(answer.json())
