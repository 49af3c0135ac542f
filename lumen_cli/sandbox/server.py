"""The Lumen video API emulator: no account, no network, outcomes chosen by the prompt.

It answers the vendor's two routes (``POST /v1/videos/generations`` and ``GET
/v1/videos/generations/{id}``) with the vendor's rules, serves real MP4 results under ``/files/``,
delivers signed webhooks, and adds a few ``/_sandbox/`` routes for tests: health, stats, forced
completion, and *faults* (lost responses, 5xx, garbage bodies, cut downloads...) that let a
client's error handling be exercised against real HTTP.

A job's status is a pure function of the time since it was created, so nothing has to tick in the
background: ``queued`` for the first 20% of ``job_seconds``, ``processing`` until ``job_seconds``,
then terminal. Words in the prompt choose the ending: ``fail``, ``cancel``, ``forever``.

This module holds the configuration, the HTTP handler with its routes, and ``SandboxServer``;
the parts it serves live beside it: :mod:`~lumen_cli.sandbox.faults` (injected misbehaviour),
:mod:`~lumen_cli.sandbox.jobs` (jobs and request validation), :mod:`~lumen_cli.sandbox.files`
(result files, ranges) and :mod:`~lumen_cli.sandbox.webhooks` (delivery).

Only the standard library is used (plus ``lumen_cli.webhook.sign``, the one definition of the
signature), and ``urllib.request`` is imported only when a webhook is delivered, so importing
this module stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lumen_cli import __version__
from lumen_cli.net import bound_url, is_loopback
from lumen_cli.sandbox.faults import DOWNLOAD_FAULTS, GENERIC_FAULTS, Fault, FaultSet
from lumen_cli.sandbox.files import (
    ASSET_FOR_RATIO,
    CHUNK,
    MAX_BLOB,
    Content,
    RangeNotSatisfiable,
    asset_content,
    blob_content,
    changed_etag,
    parse_range,
)
from lumen_cli.sandbox.jobs import (
    TERMINAL_STATUSES,
    ApiError,
    Job,
    json_bytes,
    validate_generation,
)
from lumen_cli.sandbox.store import JobStore
from lumen_cli.sandbox.webhooks import Delivery, WebhookDispatcher

KEY_PREFIX = "sk-lumen-"
REVOKED_KEY = "sk-lumen-revoked"
NO_CREDIT_KEY = "sk-lumen-nocredit"

HANDLER_TIMEOUT = 30.0  # seconds a silent client may hold a handler thread
MAX_BODY = 1 << 20  # request bodies are small JSON documents

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_credits",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    416: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """How a :class:`SandboxServer` listens and behaves.

    ``port=0`` picks a free port (read it back from ``SandboxServer.url``). ``webhook_backoff``
    lists the pauses between delivery attempts, so its length plus one is the number of
    attempts. With ``state_file`` set, jobs survive a restart.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    job_seconds: float = 3.0
    webhook_backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    state_file: Path | None = None
    webhook_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.job_seconds < 0:
            raise ValueError("job_seconds must not be negative")
        if any(pause < 0 for pause in self.webhook_backoff):
            raise ValueError("webhook_backoff pauses must not be negative")
        if self.webhook_timeout <= 0:
            raise ValueError("webhook_timeout must be positive")


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": status}}


@dataclasses.dataclass(frozen=True)
class _Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    name: str  # the path template used as a stats key
    handler: Callable[[_Handler, tuple[str, ...]], None]


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to a :class:`SandboxServer`, IPv6-aware, without reverse DNS."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: SandboxServer) -> None:
        self.app = app
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse-DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is routine; anything else is a sandbox bug and should be seen.
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive, every answer with a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = f"lumen-sandbox/{__version__}"
    sys_version = ""
    timeout = HANDLER_TIMEOUT
    # Headers and body go out in two writes: with Nagle on, the second waits for the client's
    # delayed ACK, adding ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _HTTPServer
    _body: bytes = b""

    @property
    def app(self) -> SandboxServer:
        return self.server.app

    def setup(self) -> None:
        super().setup()
        self.app._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.app._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and ``lumen sandbox serve`` must not print a line per request."""

    def _dispatch(self) -> None:
        try:
            self._handle()
        except OSError:  # the client went away mid-answer; the connection is finished
            self.close_connection = True

    # Every method goes through the router, so an unsupported one on a known path gets a 405.
    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def version_string(self) -> str:
        return self.server_version

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        if not self._read_body():
            return
        route, groups, allowed = _match_route(self.command, path)
        self.app.store.count(f"{self.command} {route.name if route else '<unknown>'}")
        if not path.startswith("/_sandbox/"):
            fault = self.app.faults.take(self.command, path, GENERIC_FAULTS)
            if fault is not None and self._apply_fault(fault, route, groups):
                return
        if route is None:
            if allowed:
                self._send_error(405, f"{self.command} is not allowed here", {"Allow": allowed})
            else:
                self._send_error(404, f"no such route: {path}")
            return
        try:
            route.handler(self, groups)
        except ApiError as exc:
            self._send_error(exc.status, exc.message, exc.headers)
        except OSError:
            raise
        except Exception as exc:  # a sandbox bug: answer 500 rather than hang the client
            self.close_connection = True
            self._send_error(500, f"sandbox internal error: {type(exc).__name__}: {exc}")

    def _read_body(self) -> bool:
        """Read the whole request body, so the next request on the connection starts cleanly."""
        if "chunked" in str(self.headers.get("Transfer-Encoding", "")).lower():
            self.close_connection = True
            self._send_error(411, "send a Content-Length (chunked bodies are not supported)")
            return False
        raw = self.headers.get("Content-Length")
        text = "0" if raw is None else str(raw).strip()
        if not text.isdigit() or int(text) > MAX_BODY:
            # The body cannot be skipped reliably, so the connection has to end here.
            self.close_connection = True
            if text.isdigit():
                self._send_error(413, f"request bodies are limited to {MAX_BODY} bytes")
            else:
                self._send_error(400, f"bad Content-Length: {text!r}")
            return False
        length = int(text)
        self._body = self.rfile.read(length) if length else b""
        if len(self._body) < length:  # the client hung up mid-body
            self.close_connection = True
            return False
        return True

    # -- responses ----------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, document: object) -> None:
        self._send(status, json_bytes(document))

    def _send_error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, json_bytes(_error_body(status, message)), headers=headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer the base class's own errors (bad request line, ...) in JSON, then close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._send_error(code, message or HTTPStatus(code).phrase)

    # -- faults -------------------------------------------------------------------------------

    def _apply_fault(self, fault: Fault, route: _Route | None, groups: tuple[str, ...]) -> bool:
        """Misbehave as *fault* says; True when that was the whole answer."""
        if fault.kind == "delay":
            self.app._stopping.wait(fault.seconds)
            return False
        if fault.kind == "drop":
            self.close_connection = True
        elif fault.kind == "drop_after_create":
            self._handle_silently(route, groups)
        elif fault.kind == "status":
            self._send_status_fault(fault)
        elif fault.kind == "garbage":
            self._send(200, b'{"id": ')
        elif fault.kind == "empty":
            self._send(200, b"")
        elif fault.kind == "wrong_types":
            wrong = {
                "id": 123,
                "object": None,
                "status": ["x"],
                "created": "yesterday",
                "data": "no",
            }
            self._send_json(200, wrong)
        return True

    def _handle_silently(self, route: _Route | None, groups: tuple[str, ...]) -> None:
        """Do the request's work for real, throw the answer away and hang up."""
        real, self.wfile = self.wfile, io.BytesIO()
        try:
            if route is not None:
                with contextlib.suppress(ApiError):
                    route.handler(self, groups)
        finally:
            self.wfile = real
            self.close_connection = True

    def _send_status_fault(self, fault: Fault) -> None:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.body is None:
            body = json_bytes(_error_body(fault.status, f"sandbox fault: HTTP {fault.status}"))
            content_type = "application/json"
        else:
            body = fault.body.encode("utf-8")
            content_type = fault.content_type or "text/plain; charset=utf-8"
        self._send(fault.status, body, content_type, headers)

    # -- the vendor's API ---------------------------------------------------------------------

    def _authenticate(self, *, billing: bool) -> None:
        """Apply the key rules: 401 missing/invalid/revoked; 402 no credit (when *billing*)."""
        challenge = {"WWW-Authenticate": "Bearer"}
        header = self.headers.get("Authorization")
        if not header:
            raise ApiError(
                401, "missing API key: send 'Authorization: Bearer sk-lumen-...'", challenge
            )
        scheme, _, key = str(header).partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or key == KEY_PREFIX:
            raise ApiError(401, "invalid API key", challenge)
        if key == REVOKED_KEY:
            raise ApiError(401, "key revoked", challenge)
        if billing and key == NO_CREDIT_KEY:
            raise ApiError(402, "insufficient credits: top up the account to submit jobs")

    def _json_body(self) -> object:
        try:
            return json.loads(self._body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "request body is not valid JSON") from None

    def _create(self, groups: tuple[str, ...]) -> None:
        self._authenticate(billing=False)
        spec = validate_generation(self._json_body())
        self._authenticate(billing=True)  # credits are checked only for a valid, billable job
        job = self.app.create_job(spec)
        self._send_json(
            200,
            {
                "id": job.id,
                "object": "video.generation",
                "status": "queued",
                "created": int(job.created_at),
                "model": job.model,
            },
        )

    def _get_job(self, groups: tuple[str, ...]) -> None:
        self._authenticate(billing=False)
        job = self.app.store.get(groups[0])
        self._send_json(200, job.view(self.app.clock(), self._base_url()))

    def _base_url(self) -> str:
        return self.app._public_url(self.headers.get("Host"))

    # -- files --------------------------------------------------------------------------------

    def _job_file(self, groups: tuple[str, ...]) -> None:
        job_id, index = groups[0], int(groups[1])
        try:
            job = self.app.store.get(job_id)
        except ApiError:
            raise ApiError(404, "file not found") from None
        if job.status(self.app.clock()) != "succeeded" or index >= job.n:
            raise ApiError(404, "file not found")
        self._serve(asset_content(ASSET_FOR_RATIO[job.aspect_ratio], job.finished_at()))

    def _blob(self, groups: tuple[str, ...]) -> None:
        size = int(groups[0])
        if size > MAX_BLOB:
            raise ApiError(404, f"blobs are at most {MAX_BLOB} bytes")
        self._serve(blob_content(size))

    def _serve(self, content: Content) -> None:
        """Send *content* honouring Range and If-Range, disturbed by a download fault if armed."""
        fault = self.app.faults.take(self.command, urlsplit(self.path).path, DOWNLOAD_FAULTS)
        kind = fault.kind if fault is not None else None
        etag = changed_etag(content.etag) if kind == "change_etag" else content.etag
        size = content.size

        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if kind == "ignore_range" or (
            if_range is not None and str(if_range).strip() not in (etag, content.last_modified)
        ):
            range_header = None  # a stale validator means "send me the whole new file"
        try:
            span = parse_range(None if range_header is None else str(range_header), size)
        except RangeNotSatisfiable:
            raise ApiError(
                416, "range not satisfiable", {"Content-Range": f"bytes */{size}"}
            ) from None
        if kind == "wrong_offset" and size > 1:
            asked = span[0] if span else 0
            start = fault.at if fault is not None and fault.at is not None else (0 if asked else 1)
            span = (min(start, size - 1), size - 1)

        first, last = span if span is not None else (0, size - 1)
        self.send_response(206 if span is not None else 200)
        self.send_header("Content-Type", content.content_type)
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", content.last_modified)
        if span is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return

        stop = last + 1
        if kind == "cut" and fault is not None:
            cut_at = fault.at if fault.at is not None else size // 2
            stop = max(first, min(stop, cut_at))
        rate = fault.bytes_per_second if kind == "slow" and fault is not None else None
        self._stream(content, first, stop, rate)
        if kind == "cut":
            self.close_connection = True  # the promised Content-Length is never reached

    def _stream(self, content: Content, start: int, stop: int, rate: int | None) -> None:
        """Write bytes ``[start, stop)``; at *rate* bytes/second if given (in ~50 ms steps)."""
        chunk = CHUNK if rate is None else max(1, min(CHUNK, rate // 20))
        for piece in content.read(start, stop, chunk):
            self.wfile.write(piece)
            if rate is not None and self.app._stopping.wait(len(piece) / rate):
                self.close_connection = True
                return

    # -- /_sandbox/ ---------------------------------------------------------------------------

    def _health(self, groups: tuple[str, ...]) -> None:
        self._send_json(200, {"lumen_sandbox": True, "pid": os.getpid(), "version": __version__})

    def _shutdown(self, groups: tuple[str, ...]) -> None:
        if not is_loopback(self.client_address[0]):
            raise ApiError(403, "shutdown is only accepted from this machine")
        self.close_connection = True
        self._send_json(200, {"stopping": True})
        self.app.request_stop()

    def _stats(self, groups: tuple[str, ...]) -> None:
        self._send_json(200, self.app.stats())

    def _deliveries(self, groups: tuple[str, ...]) -> None:
        self._send_json(200, self.app.deliveries())

    def _faults(self, groups: tuple[str, ...]) -> None:
        if self.command == "POST":
            document = self._json_body()
            if isinstance(document, dict) and "kind" not in document:
                document = document.get("faults")
            items = [document] if isinstance(document, dict) else document
            if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
                raise ApiError(400, 'send a fault object, a list of them, or {"faults": [...]}')
            try:
                self.app.faults.replace(items)
            except (ValueError, TypeError) as exc:
                raise ApiError(400, f"bad fault: {exc}") from None
        elif self.command == "DELETE":
            self.app.faults.clear()
        self._send_json(200, {"faults": self.app.faults.snapshot()})

    def _finish(self, groups: tuple[str, ...]) -> None:
        document = self._json_body() if self._body.strip() else {}
        status = document.get("status", "succeeded") if isinstance(document, dict) else None
        if status not in TERMINAL_STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(TERMINAL_STATUSES)}")
        view = self.app.finish_job(groups[0], str(status), base_url=self._base_url())
        self._send_json(200, view)


def _route(
    methods: str, pattern: str, name: str, handler: Callable[[_Handler, tuple[str, ...]], None]
) -> _Route:
    return _Route(frozenset(methods.split()), re.compile(pattern), name, handler)


_ROUTES = (
    _route("POST", r"/v1/videos/generations", "/v1/videos/generations", _Handler._create),
    _route(
        "GET", r"/v1/videos/generations/([^/]+)", "/v1/videos/generations/{id}", _Handler._get_job
    ),
    _route("GET HEAD", r"/files/blob/(\d+)\.bin", "/files/blob/{size}.bin", _Handler._blob),
    _route("GET HEAD", r"/files/([^/]+)/(\d+)\.mp4", "/files/{id}/{index}.mp4", _Handler._job_file),
    _route("GET", r"/_sandbox/health", "/_sandbox/health", _Handler._health),
    _route("POST", r"/_sandbox/shutdown", "/_sandbox/shutdown", _Handler._shutdown),
    _route("GET", r"/_sandbox/stats", "/_sandbox/stats", _Handler._stats),
    _route("GET", r"/_sandbox/deliveries", "/_sandbox/deliveries", _Handler._deliveries),
    _route("GET POST DELETE", r"/_sandbox/faults", "/_sandbox/faults", _Handler._faults),
    _route(
        "POST", r"/_sandbox/jobs/([^/]+)/finish", "/_sandbox/jobs/{id}/finish", _Handler._finish
    ),
)


def _match_route(method: str, path: str) -> tuple[_Route | None, tuple[str, ...], str]:
    """The route for *method* *path* and its captured groups; else the methods *path* allows."""
    allowed: set[str] = set()
    for route in _ROUTES:
        match = route.pattern.fullmatch(path)
        if match is None:
            continue
        if method in route.methods:
            return route, match.groups(), ""
        allowed |= route.methods
    return None, (), ", ".join(sorted(allowed))


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class SandboxServer:
    """The emulator. Start it in a thread for tests, or in the foreground for ``lumen sandbox``.

    Examples::

        with SandboxServer(SandboxConfig(port=0, job_seconds=0.2)) as sandbox:
            httpx.post(sandbox.url + "/v1/videos/generations", ...)

        SandboxServer(SandboxConfig(port=8765)).serve_forever()  # until stop/SIGTERM/shutdown
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        """Prepare (and load the state file), without binding: see :meth:`start`.

        *clock* gives the wall time that job statuses are computed from; tests pass a fake one
        to step a job through queued, processing and its end without sleeping.
        """
        self.config = config or SandboxConfig()
        self.clock = clock
        self.faults = FaultSet()
        self.store = JobStore(
            clock=clock, job_seconds=self.config.job_seconds, state_file=self.config.state_file
        )
        self._lock = threading.Lock()  # guards the open connections
        self._connections: set[socket.socket] = set()
        self._stop_lock = threading.Lock()
        self._stopping = threading.Event()  # wakes fault sleeps when stopping
        self._stop_requested = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._webhooks = WebhookDispatcher(
            self.config.webhook_backoff, self.config.webhook_timeout, self._prepare_delivery
        )

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; return self. Raises OSError if the port is taken."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.config.host, self.config.port), self)
        self._stopping.clear()
        self._stop_requested.clear()
        self._webhooks.start()
        for job_id, delay in self.store.pending_webhooks():
            self._webhooks.schedule(job_id, delay)
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lumen-sandbox-http",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve until :meth:`request_stop` (signal handlers, ``POST /_sandbox/shutdown``)."""
        self.start()
        try:
            while not self._stop_requested.wait(0.5):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask the server to stop soon, from any thread or a signal handler; returns at once."""
        self._stop_requested.set()
        threading.Thread(target=self.stop, name="lumen-sandbox-stop", daemon=True).start()

    def stop(self) -> None:
        """Stop serving, close open connections and join every thread. Idempotent."""
        with self._stop_lock:
            httpd = self._httpd
            if httpd is None:
                return
            self._stopping.set()
            httpd.shutdown()
            self._close_connections()
            httpd.server_close()  # joins the handler threads
            if self._serve_thread is not None:
                self._serve_thread.join()
                self._serve_thread = None
            self._webhooks.stop()
            self._httpd = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the port actually bound (wildcard hosts read as loopback)."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return bound_url(self._httpd.server_address)

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(urlsplit(self.url).port or 0)

    def _public_url(self, host_header: object) -> str:
        """The base of result URLs: the bound address, or the client's Host for wildcard binds."""
        if self.config.host in ("0.0.0.0", "::", "") and host_header:
            return f"http://{host_header}"
        return self.url

    def _track_connection(self, connection: socket.socket, *, add: bool) -> None:
        """Remember open connections so stop() can wake handlers blocked on idle keep-alives."""
        with self._lock:
            if not add:
                self._connections.discard(connection)
                return
            self._connections.add(connection)
            if not self._stopping.is_set():
                return
        with contextlib.suppress(OSError):  # accepted while stopping: end it at once
            connection.shutdown(socket.SHUT_RDWR)

    def _close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    # -- jobs ---------------------------------------------------------------------------------

    def create_job(self, spec: Mapping[str, Any]) -> Job:
        """Add a job for a validated create request and schedule its webhook, if it has one."""
        job = self.store.create(spec)
        if job.webhook_url and job.ending != "forever":
            self._webhooks.schedule(job.id, job.ends_at - self.clock())
        return job

    def finish_job(
        self, job_id: str, status: str = "succeeded", *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Force a job that is still queued or processing to end now as *status*.

        Returns the job's new view. Raises :class:`ApiError` 404 for an unknown id and 409 for a
        job that already ended (a terminal job never changes, as with the real service).
        """
        job = self.store.finish(job_id, status)
        if job.webhook_url:
            self._webhooks.schedule(job.id, 0.0)
        return job.view(self.clock(), base_url or self.url)

    def stats(self) -> dict[str, Any]:
        """Requests counted per route (``"METHOD /template"``) and the number of jobs."""
        return self.store.stats()

    def deliveries(self) -> list[dict[str, Any]]:
        """Webhook deliveries so far: job_id, url, attempts, last_status, delivered, done."""
        return self._webhooks.records()

    def _prepare_delivery(self, job_id: str) -> Delivery | float | None:
        return self.store.prepare_delivery(job_id, self.url)
