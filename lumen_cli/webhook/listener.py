"""``lumen webhook listen``: receive deliveries, accept only signed, fresh, unseen job events.

Three small parts:

* policy functions that tests call directly: :func:`body_length` (413/411 before any byte of
  the body is read), :func:`check_delivery` (401 / 400);
* :class:`Listener`: an HTTP server whose request threads only verify, de-duplicate and
  enqueue, answering at once; one worker thread then hands each accepted event, in order, to
  an :class:`EventHandler` (the CLI's is ``services.events.EventProcessor``);
* :func:`serve_until_stopped`: the foreground loop of ``listen``, with Ctrl-C and SIGTERM.

One worker thread, not one per request, because events should be handled in the order they
came, and because ``--exec`` must run once per event, never twice at once for the same job.

``X-Lumen-Timestamp`` is not covered by the signature, so a captured delivery can be replayed
with a fresh timestamp. Replays are harmless because processing is idempotent: an ``(id,
status)`` pair is handled once per listener process, and a duplicate is answered 200 and
otherwise ignored. The seen set lives in memory only (the history cannot tell "the listener ran
--exec for this" from "``lumen wait`` saw it finish"), so a *restarted* listener may run
``--exec`` again for a redelivery: keep ``--exec`` commands idempotent (key them on
``LUMEN_JOB_ID``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from lumen_cli.api.models import Job
from lumen_cli.errors import BadResponse
from lumen_cli.serving import BackgroundHTTPServer
from lumen_cli.webhook.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, check_timestamp, verify

MAX_BODY = 1 << 20  # a job event is a few hundred bytes; 1 MiB leaves room for many URLs
DEFAULT_TOLERANCE = 300  # seconds a delivery's timestamp may be off from our clock
DEFAULT_PORT = 8787
SOCKET_TIMEOUT = 10.0  # seconds a silent client may hold its (own) handler thread
BODY_DEADLINE = 30.0  # seconds to receive a whole body, however it is trickled
SEEN_LIMIT = 100_000  # (id, status) pairs remembered for de-duplication
# The headers a forwarded delivery keeps, so the local app can verify it itself.
FORWARDED_HEADERS = ("Content-Type", SIGNATURE_HEADER, TIMESTAMP_HEADER)


@dataclass(frozen=True)
class Rejection:
    """Why a delivery is refused, and the HTTP status that says so."""

    status: int
    reason: str


def body_length(
    content_length: Sequence[str] | None,
    transfer_encoding: str | None,
    limit: int = MAX_BODY,
) -> int | Rejection:
    """The body size to read, decided from the headers alone (before reading any of it).

    *content_length* is every ``Content-Length`` header received. Chunked or unsized bodies are
    refused with 411: a signed event is small and its size is known up front, and not reading
    an unbounded body is what keeps the 1 MiB limit honest.
    """
    values = {value.strip() for value in content_length or ()}
    if transfer_encoding or not values:
        return Rejection(411, "a Content-Length is required (chunked bodies are not accepted)")
    if len(values) > 1:
        return Rejection(400, "conflicting Content-Length headers")
    (text,) = values
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return Rejection(400, "Content-Length is not a number")
    length = int(text)
    if length > limit:
        return Rejection(413, f"the body is {length} bytes; the limit is {limit}")
    return length


def parse_event(body: bytes) -> Job | Rejection:
    """The job a (verified) body describes, validated like an API answer; else a 400."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested a million deep
        return Rejection(400, "the body is not JSON")
    try:
        return Job.from_api(payload)
    except BadResponse as exc:
        return Rejection(400, f"not a Lumen job event: {exc.message.replace('API', 'event')}")


def check_delivery(
    secret: str,
    body: bytes,
    signatures: Sequence[str] | str | None,
    timestamp: str | None,
    *,
    now: float,
    tolerance: float,
) -> Job | Rejection:
    """Accept a delivery only if it is signed, fresh and a job event: the job, or why not.

    The signature is checked first, so an unsigned sender learns nothing else. More than one
    signature header is refused rather than guessing which one counts.
    """
    if isinstance(signatures, str):
        signatures = [signatures]
    if not signatures or len(signatures) != 1 or not verify(secret, body, signatures[0]):
        return Rejection(401, f"missing or invalid {SIGNATURE_HEADER}")
    stale = check_timestamp(timestamp, now, tolerance)
    if stale is not None:
        return Rejection(400, stale)
    return parse_event(body)


class SeenEvents:
    """The ``(job id, status)`` pairs already accepted: each is processed once.

    Thread-safe; the oldest pairs are forgotten beyond *limit* so memory stays bounded.
    """

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self._limit = limit
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, job_id: str, status: str) -> bool:
        """True the first time a pair is claimed, False for every later time."""
        key = (job_id, status)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return True


@dataclass(frozen=True)
class Event:
    """One accepted delivery: the job it describes and the exact bytes and headers received."""

    job: Job
    body: bytes
    headers: Mapping[str, str]  # FORWARDED_HEADERS that were present, as received
    path: str = "/"


class EventHandler(Protocol):
    """What the listener's worker thread hands accepted events to."""

    def handle(self, event: Event) -> None:
        """Process one event; exceptions are reported and the listener carries on."""

    def close(self) -> None:
        """Release resources; called on the worker thread after the last event."""

    def abort(self) -> None:
        """Stop what is running now (e.g. an --exec command); called from another thread."""


@dataclass(frozen=True)
class ListenerConfig:
    """Where the listener binds and what it accepts. ``port=0`` picks a free port."""

    secret: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tolerance: float = DEFAULT_TOLERANCE
    max_body: int = MAX_BODY
    socket_timeout: float = SOCKET_TIMEOUT
    body_deadline: float = BODY_DEADLINE


@dataclass
class ListenerStats:
    """Counts since the listener started."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0  # accepted events whose handler raised

    def summary(self) -> str:
        """``3 events received, 1 duplicate ignored, 2 deliveries rejected``."""
        parts = [_count(self.accepted, "event", "events") + " received"]
        if self.duplicates:
            parts.append(_count(self.duplicates, "duplicate", "duplicates") + " ignored")
        if self.rejected:
            parts.append(_count(self.rejected, "delivery", "deliveries") + " rejected")
        if self.failed:
            parts.append(f"{self.failed} failed while processing")
        return ", ".join(parts)


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


class Listener:
    """Receives deliveries over HTTP and hands each new, valid event to *handler*, in order.

    Request threads verify, de-duplicate, enqueue and answer 200 at once; a single worker
    thread runs *handler*. *log* receives one line per rejected or duplicate delivery and per
    handler crash. Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        config: ListenerConfig,
        handler: EventHandler,
        *,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not config.secret:
            raise ValueError("a listener needs a secret")
        self.config = config
        self.handler = handler
        self.stats = ListenerStats()
        self.seen = SeenEvents()
        self._log = log or _log_to_stderr
        self._clock = clock
        self._lock = threading.Condition()  # guards the queue, stats and the stopping flag
        self._queue: deque[Event | None] = deque()  # None: the worker should exit
        self._pending = 0  # events enqueued and not yet handled
        self._stopping = False
        self._httpd: BackgroundHTTPServer | None = None
        self._worker: threading.Thread | None = None
        self._worker_done = threading.Event()

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Listener:
        """Bind and serve on daemon threads; return self. Raises OSError if the port is taken."""
        if self._httpd is not None:
            return self
        self._httpd = _make_server(self)
        self._worker = threading.Thread(target=self._work, name="lumen-webhook-worker", daemon=True)
        self._worker.start()
        self._httpd.start()
        return self

    def stop_accepting(self) -> None:
        """Close the port; deliveries still in flight get 503, so their sender retries later.

        Events already answered 200 stay queued for the worker. Idempotent.
        """
        with self._lock:
            if not self._stopping:
                self._stopping = True
                self._queue.append(None)  # the worker exits once it reaches this
                self._lock.notify_all()
        httpd = self._httpd
        if httpd is not None:
            httpd.stop()
            self._httpd = None

    def stop(self, *, drain: bool = True) -> bool:
        """Stop accepting; then handle the events already answered 200 (or drop them).

        With *drain* False, queued events are dropped, the handler is asked to abort what it is
        doing, and the wait for it is short. Returns True once the worker thread has finished.
        Idempotent, and safe to call again after a Ctrl-C interrupted a draining call.
        """
        self.stop_accepting()
        if not drain:
            with self._lock:
                self._pending -= sum(1 for item in self._queue if item is not None)
                self._queue = deque([None])
                self._lock.notify_all()
            self.handler.abort()
        if self._worker is None:
            return True
        # An Event, not Thread.join(): a join interrupted by Ctrl-C can wrongly report the
        # thread finished. When abandoning, do not wait long for a step that cannot be
        # interrupted (a download): the process is about to exit, SQLite writes are atomic.
        return self._worker_done.wait(timeout=None if drain else 5.0)

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the port actually bound."""
        if self._httpd is None:
            raise RuntimeError("the listener is not running")
        return self._httpd.url

    @property
    def pending(self) -> int:
        """Events answered 200 and not handled yet."""
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Block until every accepted event has been handled; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    # -- request threads ----------------------------------------------------------------------

    def handle_post(self, request: BaseHTTPRequestHandler) -> None:
        """Verify one delivery and answer it; called on the request's own thread."""
        headers = request.headers
        length = body_length(
            headers.get_all("Content-Length"),
            headers.get("Transfer-Encoding"),
            self.config.max_body,
        )
        if isinstance(length, Rejection):
            self._reject(request, length)
            return
        body = self._read_body(request, length)
        if body is None:
            self._reject(request, Rejection(408, "the body did not arrive in time"))
            return
        outcome = check_delivery(
            self.config.secret,
            body,
            headers.get_all(SIGNATURE_HEADER),
            headers.get(TIMESTAMP_HEADER),
            now=self._clock(),
            tolerance=self.config.tolerance,
        )
        if isinstance(outcome, Rejection):
            self._reject(request, outcome)
            return
        event = Event(
            job=outcome,
            body=body,
            headers={name: headers[name] for name in FORWARDED_HEADERS if name in headers},
            path=request.path,
        )
        verdict = self._enqueue(event)
        if verdict == "stopping":
            # Not handled, so not acknowledged: the sender retries later.
            _answer(request, 503, {"error": {"message": "the listener is stopping"}})
        elif verdict == "duplicate":
            self._log(f"duplicate delivery of {event.job.id} ({event.job.status}): ignored")
            _answer(request, 200, {"received": True, "duplicate": True})
        else:
            _answer(request, 200, {"received": True, "duplicate": False})

    def reject_method(self, request: BaseHTTPRequestHandler) -> None:
        self._reject(request, Rejection(405, f"{request.command} is not allowed; POST only"))

    def report_error(self, peer: str, exc: BaseException | None) -> None:
        """A request failed in a way the handler did not answer (called by the server)."""
        self._log(f"error: a request from {peer} failed: {exc!r}")

    def _reject(self, request: BaseHTTPRequestHandler, rejection: Rejection) -> None:
        with self._lock:
            self.stats.rejected += 1
        peer = request.client_address[0]
        what = _printable(f"{request.command} {request.path}")
        self._log(f"rejected {what} from {peer}: {rejection.status} {rejection.reason}")
        extra = {"Allow": "POST"} if rejection.status == 405 else {}
        _answer(request, rejection.status, {"error": {"message": rejection.reason}}, extra)

    def _read_body(self, request: BaseHTTPRequestHandler, length: int) -> bytes | None:
        """Exactly *length* bytes, or None if the client stops or trickles past the deadline."""
        deadline = time.monotonic() + self.config.body_deadline
        chunks: list[bytes] = []
        remaining = length
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            request.connection.settimeout(min(self.config.socket_timeout, left))
            try:
                chunk = request.rfile.read1(min(remaining, 64 * 1024))
            except (TimeoutError, OSError):
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _enqueue(self, event: Event) -> str:
        job = event.job
        with self._lock:
            if self._stopping:
                return "stopping"
            if not self.seen.claim(job.id, job.status):
                self.stats.duplicates += 1
                return "duplicate"
            self.stats.accepted += 1
            self._pending += 1
            self._queue.append(event)
            self._lock.notify_all()
        return "accepted"

    # -- the worker thread --------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while True:
                with self._lock:
                    self._lock.wait_for(lambda: bool(self._queue))
                    event = self._queue.popleft()
                if event is None:
                    return
                try:
                    self.handler.handle(event)
                except Exception as exc:  # one bad event must not stop the listener
                    with self._lock:
                        self.stats.failed += 1
                    self._log(f"error: handling {event.job.id} failed: {exc}")
                finally:
                    with self._lock:
                        self._pending -= 1
                        self._lock.notify_all()
        finally:
            try:
                self.handler.close()
            except Exception as exc:
                self._log(f"error: closing the event handler failed: {exc}")
            self._worker_done.set()


def _printable(text: str, limit: int = 200) -> str:
    """*text* from an unauthenticated client, safe to show on a terminal (no escape codes)."""
    cleaned = "".join(char if char.isprintable() else "?" for char in text[:limit])
    return cleaned + ("…" if len(text) > limit else "")


def _log_to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _answer(
    request: BaseHTTPRequestHandler,
    status: int,
    document: object,
    headers: Mapping[str, str] | None = None,
) -> None:
    """A small JSON answer that closes the connection: one delivery per connection."""
    body = json.dumps(document).encode("utf-8") + b"\n"
    try:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
        request.wfile.flush()
    except OSError:
        pass  # the sender hung up; it will retry if it cares
    request.close_connection = True


def _make_server(listener: Listener) -> BackgroundHTTPServer:
    """The HTTP server bound to the listener's address, with its request handler class."""
    config = listener.config

    class Handler(BaseHTTPRequestHandler):
        server_version = "lumen-webhook"
        timeout = config.socket_timeout  # applied to the socket in setup(): no stalls forever
        protocol_version = "HTTP/1.0"  # one exchange per connection; nothing half-read lingers

        def do_POST(self) -> None:
            listener.handle_post(self)

        def __getattr__(self, name: str) -> Any:
            # Every other method (GET, PUT, even made-up ones) gets 405, not the stdlib's 501.
            if name.startswith("do_"):
                return lambda: listener.reject_method(self)
            raise AttributeError(name)

        def version_string(self) -> str:
            return self.server_version  # not the Python version: nobody else's business

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the listener reports what matters itself

    class Server(BackgroundHTTPServer):
        block_on_close = False  # a stalled client must not hold up stop()

        def handle_error(self, request: Any, client_address: Any) -> None:
            listener.report_error(client_address[0], sys.exc_info()[1])

    return Server(config.host, config.port, Handler, name="lumen-webhook-http")


def serve_until_stopped(
    listener: Listener, *, info: Callable[[str], None], warn: Callable[[str], None]
) -> None:
    """Block until Ctrl-C or SIGTERM; then drain the events received, or abandon them on a
    second Ctrl-C (which then propagates). *info* and *warn* tell people each step."""
    import signal

    stop = threading.Event()
    previous = None
    # A service manager stops us with SIGTERM: treat it like Ctrl-C so queued events finish.
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        try:
            while not stop.wait(0.5):  # a timeout, so Ctrl-C gets through on Windows too
                pass
        except KeyboardInterrupt:
            pass
        try:
            listener.stop_accepting()
            pending = listener.pending
            if pending:
                info("")
                info(f"finishing {pending} received event(s) first; Ctrl-C again abandons them")
            listener.stop(drain=True)
        except KeyboardInterrupt:
            unfinished = listener.pending
            listener.stop(drain=False)
            warn(f"abandoned {unfinished} unfinished event(s) ({listener.stats.summary()})")
            raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    info("")
    info(f"stopped: {listener.stats.summary()}")
