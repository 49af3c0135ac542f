"""What many test modules share: the test key, fake servers on loopback, small waiting helpers.

Fixtures that use these live in ``conftest.py``; anything a test module would otherwise copy
from another belongs here.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import Job
from lumen_cli.clock import FakeClock
from lumen_cli.sandbox.files import asset_bytes
from lumen_cli.serving import BackgroundHTTPServer
from lumen_cli.webhook.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, sample_event, sign

if TYPE_CHECKING:
    import httpx

    from lumen_cli.history import JobRecord
    from lumen_cli.sandbox import SandboxServer
    from lumen_cli.services.events import EventProcessor
    from lumen_cli.webhook.listener import Listener

ROOT = Path(__file__).resolve().parents[1]  # the repository
TEST_KEY = "sk-lumen-test-0123456789abcdef"
# The keys of a job in every command's JSON (README, "Output for scripts").
JOB_SHAPE = frozenset(
    {
        "id",
        "status",
        "created",
        "data",
        "error",
        "model",
        "prompt",
        "mode",
        "request",
        "paths",
        "profile",
        "base_url",
        "updated",
        "host",
        "user",
    }
)
WHSEC = "whsec_test_secret"  # the webhook signing secret of the tests
# Known-answer vector, computed independently of this code:
#   printf '%s' "$KAT_BODY" | openssl dgst -sha256 -hmac whsec_test_secret
KAT_BODY = (
    b'{"id":"v1a2b3","status":"succeeded","data":[{"url":"https://video.example/v1a2b3.mp4"}]}'
)


KAT_SIGNATURE = "sha256=98888f2c76e8332022cae445e225066043c501ea6dcd097655253549566945b0"


JOBS_PATH = "/v1/videos/generations"


def post_count(sandbox: SandboxServer) -> int:
    """How many job submits the sandbox has received so far."""
    requests = sandbox.stats()["requests"]
    assert isinstance(requests, dict)
    return int(requests.get("POST /v1/videos/generations", 0))


def history_records(home: Path, name: str = "history.sqlite3") -> dict[str, JobRecord]:
    """The history of the test's *home* (``sandbox-history.sqlite3`` for sandbox runs)."""
    from lumen_cli.history import History

    history = History(home / "data" / name)
    try:
        return {record.id: record for record in history.list()}
    finally:
        history.close()


PRICES = """
[prices]
seedance-2 = 10
veo-3-1 = { 720p = 20, 1080p = 40 }
"""  # README's example of a [prices] table


def write_config(home: Path, text: str = PRICES) -> Path:
    """Write the config file of the test's *home* (by default, README's [prices] table)."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    config.chmod(0o600)  # as lumen writes it (doctor checks)
    return config


def home_snapshot() -> frozenset[tuple[str, int, int]]:
    """Every file under the machine's lumen config and data folders: (path, size, mtime)."""
    from lumen_cli.config import config_dir, data_dir

    files = set()
    for folder in (config_dir(), data_dir()):
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file():
                    info = path.stat()
                    files.add((str(path), info.st_size, info.st_mtime_ns))
    return frozenset(files)


# -- jobs and result files ----------------------------------------------------------------

VIDEO = asset_bytes("16x9.mp4")  # what a default (16:9) sandbox job serves
VIDEO_SHA = hashlib.sha256(VIDEO).hexdigest()
FILE_ROUTE = "GET /files/{id}/{index}.mp4"


class Seen(Sequence[dict[str, Any]]):
    """The result-file requests the sandbox received since *start* (the ``seen`` fixture)."""

    def __init__(self, sandbox: SandboxServer, start: int) -> None:
        self.sandbox = sandbox
        self.start = start

    def _requests(self) -> list[dict[str, Any]]:
        return self.sandbox.requests("/files/")[self.start :]

    def clear(self) -> None:
        """Forget what was seen so far."""
        self.start += len(self)

    def __len__(self) -> int:
        return len(self._requests())

    def __getitem__(self, index: Any) -> Any:
        return self._requests()[index]


def make_job(
    api: httpx.Client, prompt: str = "a cat running", *, n: int = 1, end: str = "succeeded"
) -> str:
    """A job created straight through the API and forced to its end at once."""
    response = api.post(JOBS_PATH, json={"model": "seedance-2", "prompt": prompt, "n": n})
    response.raise_for_status()
    job_id = str(response.json()["id"])
    if end:
        finish_job(api, job_id, end)
    return job_id


def finish_job(api: httpx.Client, job_id: str, end: str = "succeeded") -> None:
    """Force the sandbox job *job_id* to its end (*end*) at once."""
    finish = api.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": end})
    if finish.status_code == 409:  # a slow machine: the sandbox ended it first, by itself
        assert api.get(f"{JOBS_PATH}/{job_id}").json()["status"] == end
    else:
        finish.raise_for_status()


@dataclass
class Recorded:
    """A job to write into a history as if lumen had submitted it (see :func:`record_jobs`)."""

    id: str
    request: dict[str, Any]
    status: str = "succeeded"
    created: int | None = None
    urls: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    error: str | None = None
    profile: str = "default"


def record_jobs(home: Path, jobs: Sequence[Recorded], name: str = "history.sqlite3") -> None:
    """Write *jobs* into the history of *home* the way a submit does, in a fraction of the
    time the sandbox takes (for histories of thousands of jobs)."""
    from lumen_cli.api.models import detect_mode
    from lumen_cli.history import History

    history = History(home / "data" / name)
    try:
        for job in jobs:
            local_id = history.record_submitting(
                profile=job.profile,
                base_url="https://lumen.example",
                request=job.request,
                mode=detect_mode(job.request),
            )
            answer = Job(
                id=job.id,
                status=job.status,
                created=job.created,
                model=job.request.get("model"),
                urls=job.urls,
                error=job.error,
            )
            history.resolve_submitted(local_id, answer)
            if job.paths:
                history.add_paths(job.id, list(job.paths))
    finally:
        history.close()


class StepClock(FakeClock):
    """A fake clock that runs *step(n)* at its n-th sleep; with *world* (a sandbox's fake
    clock), the sandbox's time moves by the same amount. Safe to sleep from many threads."""

    def __init__(
        self, step: Callable[[int], None] | None = None, *, world: FakeClock | None = None
    ) -> None:
        super().__init__()
        self.step = step
        self.world = world
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            super().sleep(seconds)
            if self.world is not None:
                self.world.advance(max(seconds, 0.0))
            count = len(self.sleeps)
        if self.step is not None:
            self.step(count)


def file_gets(sandbox: SandboxServer) -> int:
    """How many result files the sandbox has served so far."""
    requests = sandbox.stats()["requests"]
    assert isinstance(requests, dict)
    return int(requests.get(FILE_ROUTE, 0))


def blob_job(sandbox: SandboxServer, size: int) -> Job:
    """A succeeded job whose one result is the sandbox's deterministic blob of *size* bytes."""
    url = f"{sandbox.url}/files/blob/{size}.bin"
    return Job(id="vblob", status="succeeded", urls=(url,))


def free_port() -> int:
    """A port that was free a moment ago (for servers that must be told their port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str = "condition") -> None:
    """Poll *condition* until it holds; fail the test after *seconds*."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class Call:
    """One request a :class:`Receiver` got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


class Receiver:
    """An HTTP endpoint on loopback that records every request and answers from a script.

    *statuses* are answered in order and the last one repeats, so ``Receiver([503, 200])``
    refuses once and then accepts. A 5xx answer has a plain-text body, others a little JSON.
    Use as a context manager (or call ``close()``).
    """

    def __init__(self, statuses: Sequence[int] = (200,), *, path: str = "/hook", port: int = 0):
        self.statuses = list(statuses)
        self.path = path
        self.received: list[Call] = []
        self._calls: queue.Queue[Call] = queue.Queue()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                call = Call(self.command, self.path, dict(self.headers), body, time.monotonic())
                status = receiver._record(call)
                answer = b'{"ok": true}' if status < 500 else b"upstream broke"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = BackgroundHTTPServer("127.0.0.1", port, Handler, name="test-receiver")
        self.server.start()

    def _record(self, call: Call) -> int:
        with self._lock:
            self.received.append(call)
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self._calls.put(call)
        return status

    @property
    def url(self) -> str:
        return self.server.url + self.path

    def next_call(self, timeout: float = 3.0) -> Call:
        """The next request received, waiting up to *timeout* seconds (``queue.Empty`` if none)."""
        return self._calls.get(timeout=timeout)

    def close(self) -> None:
        self.server.stop()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send *data* as-is on a fresh connection and return everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer."""
    return int(answer.split(b" ", 2)[1])


# -- webhooks ---------------------------------------------------------------------------


def signed(body: bytes, *, key: str = WHSEC, timestamp: int | None = None) -> dict[str, str]:
    """The headers the API sends with *body*, signed with *key*."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(key, body),
        TIMESTAMP_HEADER: str(int(time.time()) if timestamp is None else timestamp),
    }


def event(job_id: str = "v123", status: str = "succeeded") -> bytes:
    """A job event body as the API would send it."""
    return sample_event(job_id, status, f"https://video.example/{job_id}.mp4", test=False)


@dataclass
class Running:
    """A started listener (with the CLI's own event processor) and what it logged."""

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
        import httpx

        return httpx.post(self.url(path), content=body, headers=headers or {}, timeout=5)

    def settle(self) -> None:
        assert self.listener.wait_idle(10), "the listener did not finish its events"


StartListener = Callable[..., Running]


def exec_recorder(tmp_path: Path) -> tuple[str, Path, Path]:
    """An --exec command that appends its stdin and its job env vars to two files."""
    bodies, envs = tmp_path / "bodies", tmp_path / "envs"
    command = (
        f'cat >> "{bodies}"; printf "\\n" >> "{bodies}"; '
        f'echo "$LUMEN_JOB_ID $LUMEN_JOB_STATUS ${{LUMEN_WEBHOOK_SECRET:-no-secret}}" >> "{envs}"'
    )
    return command, bodies, envs


# -- many lumen processes at once ---------------------------------------------------------


def child_processes() -> multiprocessing.context.ForkServerContext:
    """Processes forked from a clean, single-threaded server that has imported lumen.

    A plain ``os.fork`` of the test process copies its sandbox and listener threads
    mid-stride (Python 3.12+ warns of dead-locks); a fork server is started once, before
    any thread, and forks each child in a fraction of an interpreter's start-up.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["lumen_cli.app", "tests.support"])
    return context


@dataclass
class Forked:
    """A ``lumen`` run in a child process of its own (see :func:`fork_lumen`)."""

    process: multiprocessing.process.BaseProcess
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        assert self.process.pid is not None  # started by fork_lumen
        return self.process.pid

    def wait(self, timeout: float = 60.0) -> tuple[int, str, str]:
        """Wait for the child; return its exit code, stdout and stderr."""
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise AssertionError(f"lumen (pid {self.process.pid}) did not end in {timeout} s")
        return self.process.exitcode, self.out.read_text(), self.err.read_text()


def fork_lumen(args: Sequence[str], env: dict[str, str], scratch: Path) -> Forked:
    """Run ``lumen ARGS`` in a child process: a process of its own (its own SQLite
    connection, its own sockets, its own launcher lock), without an interpreter's start-up.

    Many of these at once test what parallel ``lumen`` processes do to shared files at a
    fraction of the cost of spawning each; a few tests still spawn the installed ``lumen``.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    out = scratch / f"{len(list(scratch.iterdir()))}.out"
    err = out.with_suffix(".err")
    out.touch()
    err.touch()
    process = child_processes().Process(
        target=_run_lumen, args=(list(args), dict(env), str(out), str(err), os.getcwd())
    )
    process.start()
    return Forked(process, out, err)


def _run_lumen(args: list[str], env: dict[str, str], out: str, err: str, cwd: str) -> None:
    """The child of :func:`fork_lumen`: ``lumen ARGS`` with its output in two files."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process ends below
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    code = 1
    try:
        from lumen_cli.app import app

        app(args=args, prog_name="lumen")
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # a traceback is the test's evidence
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# -- a throwaway PostgreSQL server for the shared-history tests ---------------------------

POSTGRES_PASSWORD = "pg-test-pass-4f9c1e"  # noqa: S105 - a throwaway server; never printed
POSTGRES_REQUIRED = "PYTEST_LUMEN_REQUIRE_POSTGRES"  # set by .ci/run: no skipping there
POSTGRES_FOLDER = "PYTEST_LUMEN_POSTGRES_DIR"  # set by conftest for all xdist workers


class PostgresCluster:
    """One PostgreSQL cluster for the whole test session, whatever the number of xdist
    workers: the first worker that needs it runs ``initdb`` in *folder* (a temp dir) and
    starts it on a free loopback port, with its unix socket in *folder*, as an unprivileged
    user (``postgres`` when the tests run as root); the others find it there. The process
    that started the session stops it and removes *folder* (:meth:`remove`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0

    @classmethod
    def shared(cls, folder: Path) -> PostgresCluster:
        """The session's cluster, started on first use; ``RuntimeError`` says why there is
        none (the same reason for every worker)."""
        import fcntl
        import json

        cluster = cls(folder)
        info = folder / "cluster.json"
        with open(folder / "cluster.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not info.exists():
                try:
                    cluster._start()
                    info.write_text(json.dumps({"port": cluster.port}))
                except RuntimeError as exc:
                    info.write_text(json.dumps({"error": str(exc)}))
        state = json.loads(info.read_text())
        if "error" in state:
            raise RuntimeError(state["error"])
        cluster.port = int(state["port"])
        return cluster

    def url(self, database: str = "postgres", *, schema: str | None = None) -> str:
        url = f"postgresql://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{self.port}/{database}"
        return url + (f"?options=-csearch_path%3D{schema}" if schema else "")

    def _start(self) -> None:
        import shutil
        import subprocess

        bin_dir = _postgres_bin()
        data = self.folder / "data"
        password_file = self.folder / "password"
        password_file.write_text(POSTGRES_PASSWORD + "\n")
        if os.geteuid() == 0:
            import pwd

            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "the tests run as root and there is no 'postgres' user to run the server "
                    "(apt-get install postgresql creates one)"
                ) from None
            for path in (self.folder, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        initdb = [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            f"--pwfile={password_file}",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]
        done = subprocess.run(initdb, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        for _ in range(3):  # a port taken between looking and binding: another one
            self.port = free_port()
            settings = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            start = [
                *run_as,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                settings,
                "-l",
                str(self.folder / "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            ]
            done = subprocess.run(start, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                return
        log = self.folder / "server.log"
        tail = log.read_text()[-500:] if log.exists() else done.stderr
        shutil.rmtree(data, ignore_errors=True)
        raise RuntimeError(f"the PostgreSQL server did not start: {tail.strip()}")

    @staticmethod
    def remove(folder: Path) -> None:
        """Stop the cluster started in *folder*, if one was, and remove *folder*."""
        import shutil
        import subprocess

        if (folder / "data" / "postmaster.pid").exists():
            run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            pg_ctl = str(_postgres_bin() / "pg_ctl")
            subprocess.run(
                [*run_as, pg_ctl, "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_bin() -> Path:
    """Where initdb and pg_ctl are: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not versions:
        raise RuntimeError(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed "
            "(apt-get install postgresql)"
        )
    return versions[-1].parent


def machine_env(home: Path, name: str, history_url: str) -> dict[str, str]:
    """The environment of ``lumen`` on another machine named *name*: a config and data
    folder of its own, the test's sandbox and key, and the shared history at *history_url*."""
    env = dict(os.environ)
    env["LUMEN_CONFIG_DIR"] = str(home / name / "config")
    env["LUMEN_DATA_DIR"] = str(home / name / "data")
    env["LUMEN_HISTORY_URL"] = history_url
    env["LUMEN_HOST_NAME"] = name
    return env


# -- local input files --------------------------------------------------------------------

# The first bytes of each kind of input (lumen and the sandbox look no further).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(32))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
GIF = b"GIF89a" + bytes(20)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20)
MOV = b"\x00\x00\x00\x14ftypqt  " + bytes(20)
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(20)
# A file name a shell would love to misread: quotes, $(...), backticks, globs, spaces.
HOSTILE_NAME = 'it\'s a "cat" $(touch pwned) `touch pwned` [1] {a,b} *.png'


class FileHost:
    """A file host on loopback: serves the files under *root* (GET and HEAD, any query
    ignored, as presigned URLs carry one) and stores what is PUT to a path (as S3, R2 and
    plain WebDAV-ish endpoints take uploads). It also speaks the few calls of Google Cloud
    Storage's JSON API that ``gcloud storage cp - gs://…`` makes (a resumable upload).
    ``puts`` records the headers of each PUT; ``token``, when set, must be the bearer of
    every plain PUT."""

    def __init__(self, root: Path, *, token: str | None = None) -> None:
        self.root = root
        self.token = token
        self.puts: list[dict[str, str]] = []
        self.sessions: list[tuple[str, str, bytearray]] = []  # bucket, object, bytes so far
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                import json
                import re
                from urllib.parse import unquote, urlsplit

                path = unquote(urlsplit(self.path).path)
                gcs = re.fullmatch(r"/storage/v1/b/([^/]+)/o(?:/(.+))?", path)
                if gcs:  # gcloud asks whether the object exists, then lists the "folder"
                    found = gcs[2] is None
                    body = json.dumps({} if found else {"error": {"code": 404}}).encode()
                    self._answer(200 if found else 404, body, Content_Type="application/json")
                    return
                file = host.root / path.lstrip("/")
                if ".." in path.split("/") or not file.is_file():
                    self._answer(404, b"not found")
                    return
                self._answer(200, file.read_bytes(), Content_Type="application/octet-stream")

            do_HEAD = do_GET

            def do_PUT(self) -> None:
                from urllib.parse import unquote, urlsplit

                path = unquote(urlsplit(self.path).path)
                body = self._body()
                if path.startswith("/_session/"):
                    self._resume(int(path.rsplit("/", 1)[1]), body)
                    return
                host.puts.append(dict(self.headers))
                if host.token and self.headers.get("Authorization") != f"Bearer {host.token}":
                    self._answer(401, b"who are you?")
                    return
                host.store(path, body)
                self._answer(200, ETag='"stored"')

            def do_POST(self) -> None:
                import json
                import re
                from urllib.parse import urlsplit

                path = urlsplit(self.path).path
                start = re.fullmatch(r"/resumable/upload/storage/v1/b/([^/]+)/o", path)
                if start is None:
                    self._answer(400, b"not a resumable upload")
                    return
                name = json.loads(self._body())["name"]
                host.sessions.append((start[1], name, bytearray()))
                session = f"{host.url}/_session/{len(host.sessions) - 1}"
                self._answer(200, Location=session)

            def _resume(self, number: int, body: bytes) -> None:
                import base64
                import json
                import re

                bucket, name, data = host.sessions[number]
                span = re.fullmatch(
                    r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", self.headers.get("Content-Range", "")
                )
                if span and span[1] is not None:
                    del data[int(span[1]) :]
                    data += body
                if span and span[2] != "*" and len(data) == int(span[2]):
                    host.store(f"/{bucket}/{name}", bytes(data))
                    document = {  # gcloud checks the MD5 (and deletes an object that differs)
                        "bucket": bucket,
                        "name": name,
                        "size": str(len(data)),
                        "generation": "1",
                        "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324
                    }
                    self._answer(
                        200, json.dumps(document).encode(), Content_Type="application/json"
                    )
                    return
                if data:
                    self._answer(308, Range=f"bytes=0-{len(data) - 1}")
                else:
                    self._answer(308)

        self.server = BackgroundHTTPServer("127.0.0.1", 0, Handler, name="test-file-host")
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    def store(self, path: str, data: bytes) -> None:
        file = self.root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)

    def close(self) -> None:
        self.server.stop()

    def __enter__(self) -> FileHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class FakeUploader:
    """An ``upload_command`` for tests: a script that copies ``{path}`` into a folder a
    :class:`FileHost` serves, as ``{sha256}{ext}``, and prints that URL last. Each run
    appends the path it was given (JSON) to ``log`` and writes its environment to ``env``;
    it sleeps ``delay`` seconds first (to make two runs overlap)."""

    folder: Path
    base_url: str
    log: Path
    env: Path
    delay: float = 0.0

    @property
    def command(self) -> str:
        import shlex

        script = ROOT / "tests" / "fake_uploader.py"
        words = [sys.executable, str(script)]
        fixed = [self.base_url, str(self.folder), str(self.log), str(self.env), str(self.delay)]
        return (
            " ".join(shlex.quote(word) for word in words)
            + " {path} {sha256}{ext} "
            + (" ".join(shlex.quote(word) for word in fixed))
        )

    def runs(self) -> list[str]:
        """The paths it was given, one per run, in order."""
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def environment(self) -> dict[str, str]:
        import json

        return dict(json.loads(self.env.read_text()))
