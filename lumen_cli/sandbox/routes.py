"""The sandbox's HTTP side: the request handler and its route table.

Routes: the vendor's two (``POST /v1/videos/generations``, ``GET /v1/videos/generations/{id}``)
with its key rules, result files under ``/files/`` (``Range``, ``If-Range``, ``HEAD``), the
sandbox's own file host for local inputs (``PUT /uploads/{sha256}{ext}``, served back under
``/files/uploads/``), and the test routes under ``/_sandbox/`` (health, shutdown, stats,
deliveries, faults, forced finish). A job's input URLs are checked as the real API fetches
them (:mod:`~lumen_cli.sandbox.inputs`).
Armed faults (:mod:`~lumen_cli.sandbox.faults`) are applied here: before routing for the API and
file routes, while streaming for download faults; ``/_sandbox/`` routes are never faulted.

The handler keeps no state of its own: it asks the :class:`~lumen_cli.sandbox.server.SandboxServer`
it belongs to (``self.server.sandbox``), through that server's public methods and its
:class:`~lumen_cli.sandbox.store.JobStore`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from lumen_cli import __version__
from lumen_cli.media import content_type, kind_of_extension
from lumen_cli.net import is_loopback
from lumen_cli.sandbox.faults import DOWNLOAD_FAULTS, GENERIC_FAULTS, Fault
from lumen_cli.sandbox.files import (
    ASSET_FOR_RATIO,
    CHUNK,
    MAX_BLOB,
    MAX_UPLOAD,
    UPLOAD_NAME,
    Content,
    RangeNotSatisfiable,
    UploadStore,
    asset_content,
    blob_content,
    bytes_content,
    changed_etag,
    parse_range,
)
from lumen_cli.sandbox.jobs import TERMINAL_STATUSES, ApiError, json_bytes, validate_generation
from lumen_cli.sandbox.store import INPUT_FIELDS, LOGGED_HEADERS

if TYPE_CHECKING:
    from lumen_cli.sandbox.faults import FaultSet
    from lumen_cli.sandbox.jobs import Job
    from lumen_cli.sandbox.store import JobStore


class Sandbox(Protocol):
    """What the handler asks of the sandbox it serves (``server.SandboxServer`` is one)."""

    store: JobStore
    faults: FaultSet
    uploads: UploadStore
    clock: Callable[[], float]

    @property
    def fetch_inputs(self) -> str:
        """Which input URLs a job's create request fetches: none, loopback or all."""

    def public_url(self, host_header: str | None) -> str: ...

    def create_job(self, spec: Mapping[str, Any]) -> Job: ...

    def finish_job(
        self, job_id: str, status: str = "succeeded", *, base_url: str | None = None
    ) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def deliveries(self) -> list[dict[str, Any]]: ...

    def wait_for_stop(self, seconds: float) -> bool: ...

    def request_stop(self) -> None: ...


class SandboxHTTP(Protocol):
    """The HTTP server a handler runs in: it knows its sandbox."""

    sandbox: Sandbox


KEY_PREFIX = "sk-lumen-"
REVOKED_KEY = "sk-lumen-revoked"
NO_CREDIT_KEY = "sk-lumen-nocredit"

UPLOADS_ROUTE = "/uploads/"
HANDLER_TIMEOUT = 30.0  # seconds a silent client may hold a handler thread
MAX_BODY = 1 << 20  # request bodies are small JSON documents

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_credits",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    416: "invalid_request_error",
    429: "rate_limit_error",
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": status}}


_Action = Callable[["SandboxHandler", tuple[str, ...]], None]  # a route's answer


@dataclasses.dataclass(frozen=True)
class _Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    name: str  # the path template used as a stats key
    handler: _Action


class SandboxHandler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive, every answer with a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = f"lumen-sandbox/{__version__}"
    sys_version = ""
    timeout = HANDLER_TIMEOUT
    # Headers and body go out in two writes: with Nagle on, the second waits for the client's
    # delayed ACK, adding ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: SandboxHTTP  # type: ignore[assignment]
    _body: bytes = b""

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox this connection belongs to."""
        return self.server.sandbox

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
        uploading = self.command == "PUT" and path.startswith(UPLOADS_ROUTE)
        if not self._read_body(MAX_UPLOAD if uploading else MAX_BODY):
            return
        route, groups, allowed = _match_route(self.command, path)
        self.sandbox.store.count(f"{self.command} {route.name if route else '<unknown>'}")
        self.sandbox.store.log(
            self.command, path, {name: self.headers.get(name) for name in LOGGED_HEADERS}
        )
        if not path.startswith("/_sandbox/"):
            limit = self.sandbox.faults.rate_limited(self.command, path)
            if limit is not None:
                self._send_rate_limit_fault(limit)
                return
            fault = self.sandbox.faults.take(self.command, path, GENERIC_FAULTS)
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

    def _read_body(self, limit: int) -> bool:
        """Read the whole request body (at most *limit* bytes), so the next request on the
        connection starts cleanly."""
        if "chunked" in str(self.headers.get("Transfer-Encoding", "")).lower():
            self.close_connection = True
            self._send_error(411, "send a Content-Length (chunked bodies are not supported)")
            return False
        raw = self.headers.get("Content-Length")
        text = "0" if raw is None else str(raw).strip()
        if not text.isdigit() or int(text) > limit:
            # The body cannot be skipped reliably, so the connection has to end here.
            self.close_connection = True
            if text.isdigit():
                self._send_error(413, f"request bodies are limited to {limit} bytes")
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
            self.sandbox.wait_for_stop(fault.seconds)
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

    def _send_rate_limit_fault(self, limit: Fault) -> None:
        """Refuse the request as an upstream rate limit would: 429, try again in a second."""
        message = f"sandbox fault: rate limit of {limit.per_second} per second exceeded"
        self._send_error(429, message, {"Retry-After": "1"})

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
        if any(spec.get(name) for name in INPUT_FIELDS):
            from lumen_cli.sandbox.inputs import check_inputs  # urllib, only when needed

            check_inputs(
                spec,
                mode=self.sandbox.fetch_inputs,
                own_url=self._base_url(),
                uploads=self.sandbox.uploads,
            )
        self._authenticate(billing=True)  # credits are checked only for a valid, billable job
        job = self.sandbox.create_job(spec)
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
        job = self.sandbox.store.get(groups[0])
        self._send_json(200, job.view(self.sandbox.clock(), self._base_url()))

    def _base_url(self) -> str:
        return self.sandbox.public_url(self.headers.get("Host"))

    # -- files --------------------------------------------------------------------------------

    def _job_file(self, groups: tuple[str, ...]) -> None:
        job_id, index = groups[0], int(groups[1])
        try:
            job = self.sandbox.store.get(job_id)
        except ApiError:
            raise ApiError(404, "file not found") from None
        if job.status(self.sandbox.clock()) != "succeeded" or index >= job.n:
            raise ApiError(404, "file not found")
        self._serve(asset_content(ASSET_FOR_RATIO[job.aspect_ratio], job.finished_at()))

    def _upload(self, groups: tuple[str, ...]) -> None:
        """Keep a file PUT as ``{sha256}{ext}`` (the name must match the bytes) and answer the
        URL that serves it."""
        name = groups[0]
        shape = UPLOAD_NAME.fullmatch(name)
        if shape is None or kind_of_extension(name) is None:
            raise ApiError(
                400,
                "upload as /uploads/{sha256}{ext}: a lowercase hex sha256 and "
                "an extension such as .png, .jpg, .webp, .gif, .mp4, .mov, .webm",
            )
        if hashlib.sha256(self._body).hexdigest() != shape.group(1):
            raise ApiError(
                400,
                "the body's sha256 is not the one in the name (did the file "
                "change while it was sent?)",
            )
        self.sandbox.uploads.put(name, self._body, self.sandbox.clock())
        url = f"{self._base_url()}/files/uploads/{name}"
        self._send_json(201, {"url": url, "sha256": shape.group(1), "size": len(self._body)})

    def _uploaded(self, groups: tuple[str, ...]) -> None:
        stored = self.sandbox.uploads.get(groups[0])
        kind = kind_of_extension(groups[0])
        if stored is None or kind is None:
            raise ApiError(404, "file not found")
        data, when = stored
        sha256 = groups[0][:64]  # checked against the bytes when they were put
        self._serve(bytes_content(data, content_type(kind), when, sha256=sha256))

    def _blob(self, groups: tuple[str, ...]) -> None:
        size = int(groups[0])
        if size > MAX_BLOB:
            raise ApiError(404, f"blobs are at most {MAX_BLOB} bytes")
        self._serve(blob_content(size))

    def _serve(self, content: Content) -> None:
        """Send *content* honouring Range and If-Range, disturbed by a download fault if armed."""
        fault = self.sandbox.faults.take(self.command, urlsplit(self.path).path, DOWNLOAD_FAULTS)
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
            if rate is not None and self.sandbox.wait_for_stop(len(piece) / rate):
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
        self.sandbox.request_stop()

    def _stats(self, groups: tuple[str, ...]) -> None:
        self._send_json(200, self.sandbox.stats())

    def _deliveries(self, groups: tuple[str, ...]) -> None:
        self._send_json(200, self.sandbox.deliveries())

    def _faults(self, groups: tuple[str, ...]) -> None:
        if self.command == "POST":
            document = self._json_body()
            if isinstance(document, dict) and "kind" not in document:
                document = document.get("faults")
            items = [document] if isinstance(document, dict) else document
            if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
                raise ApiError(400, 'send a fault object, a list of them, or {"faults": [...]}')
            try:
                self.sandbox.faults.replace(items)
            except (ValueError, TypeError) as exc:
                raise ApiError(400, f"bad fault: {exc}") from None
        elif self.command == "DELETE":
            self.sandbox.faults.clear()
        self._send_json(200, {"faults": self.sandbox.faults.snapshot()})

    def _finish(self, groups: tuple[str, ...]) -> None:
        document = self._json_body() if self._body.strip() else {}
        status = document.get("status", "succeeded") if isinstance(document, dict) else None
        if status not in TERMINAL_STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(TERMINAL_STATUSES)}")
        view = self.sandbox.finish_job(groups[0], str(status), base_url=self._base_url())
        self._send_json(200, view)


def _route(methods: str, pattern: str, name: str, handler: _Action) -> _Route:
    return _Route(frozenset(methods.split()), re.compile(pattern), name, handler)


_H = SandboxHandler
_ROUTES = (
    _route("POST", r"/v1/videos/generations", "/v1/videos/generations", _H._create),
    _route("GET", r"/v1/videos/generations/([^/]+)", "/v1/videos/generations/{id}", _H._get_job),
    _route("GET HEAD", r"/files/blob/(\d+)\.bin", "/files/blob/{size}.bin", _H._blob),
    _route("PUT", r"/uploads/([^/]+)", "/uploads/{name}", _H._upload),
    _route("GET HEAD", r"/files/uploads/([^/]+)", "/files/uploads/{name}", _H._uploaded),
    _route("GET HEAD", r"/files/([^/]+)/(\d+)\.mp4", "/files/{id}/{index}.mp4", _H._job_file),
    _route("GET", r"/_sandbox/health", "/_sandbox/health", _H._health),
    _route("POST", r"/_sandbox/shutdown", "/_sandbox/shutdown", _H._shutdown),
    _route("GET", r"/_sandbox/stats", "/_sandbox/stats", _H._stats),
    _route("GET", r"/_sandbox/deliveries", "/_sandbox/deliveries", _H._deliveries),
    _route("GET POST DELETE", r"/_sandbox/faults", "/_sandbox/faults", _H._faults),
    _route("POST", r"/_sandbox/jobs/([^/]+)/finish", "/_sandbox/jobs/{id}/finish", _H._finish),
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
