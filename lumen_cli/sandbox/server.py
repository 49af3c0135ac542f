"""The sandbox server: its configuration, and ``SandboxServer``, which ties the parts together.

``SandboxServer`` owns the life cycle (start, stop, serve in the foreground, stop on request),
the HTTP server with the open connections it must end on stop, the
:class:`~lumen_cli.sandbox.store.JobStore`, the armed :class:`~lumen_cli.sandbox.faults.FaultSet`
and the :class:`~lumen_cli.sandbox.webhooks.WebhookDispatcher`. Requests are answered by
:class:`~lumen_cli.sandbox.routes.SandboxHandler`, which uses only the public methods here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lumen_cli.sandbox.faults import RATE_LIMIT, FaultSet
from lumen_cli.sandbox.files import UploadStore
from lumen_cli.sandbox.jobs import Job
from lumen_cli.sandbox.routes import SandboxHandler
from lumen_cli.sandbox.store import JobStore
from lumen_cli.sandbox.webhooks import Delivery, WebhookDispatcher
from lumen_cli.serving import BackgroundHTTPServer

FETCH_MODES = ("none", "loopback", "all")  # see lumen_cli.sandbox.inputs


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """How a :class:`SandboxServer` listens and behaves.

    ``port=0`` picks a free port (read it back from ``SandboxServer.url``). ``webhook_backoff``
    lists the pauses between delivery attempts, so its length plus one is the number of
    attempts. With ``state_file`` set, jobs survive a restart. ``submit_rate_limit=N`` arms a
    ``rate_limit`` fault: job submits beyond N in one second are refused with 429 (see
    :mod:`~lumen_cli.sandbox.faults`; clearing the faults disarms it). ``fetch_inputs`` says
    which input URLs of a job are fetched before it is created: ``loopback`` (the default),
    ``all`` or ``none`` (see :mod:`~lumen_cli.sandbox.inputs`).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    job_seconds: float = 3.0
    webhook_backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    state_file: Path | None = None
    webhook_timeout: float = 5.0
    submit_rate_limit: int | None = None
    fetch_inputs: str = "loopback"

    def __post_init__(self) -> None:
        if self.fetch_inputs not in FETCH_MODES:
            raise ValueError(f"fetch_inputs must be one of {', '.join(FETCH_MODES)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.job_seconds < 0:
            raise ValueError("job_seconds must not be negative")
        if any(pause < 0 for pause in self.webhook_backoff):
            raise ValueError("webhook_backoff pauses must not be negative")
        if self.webhook_timeout <= 0:
            raise ValueError("webhook_timeout must be positive")
        limit = self.submit_rate_limit
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError("submit_rate_limit must be an integer")
        if limit is not None and limit < 1:
            raise ValueError(f"submit_rate_limit must be at least 1, not {limit}")


class SandboxHTTPServer(BackgroundHTTPServer):
    """The HTTP server of one :class:`SandboxServer`.

    On top of the shared base: it remembers open connections so that closing it also ends idle
    keep-alive connections (their handler threads would otherwise wait for the client, and
    closing joins them), and it reports errors other than a client hanging up.
    """

    def __init__(self, sandbox: SandboxServer, host: str, port: int) -> None:
        self.sandbox = sandbox
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, SandboxHandler, name="lumen-sandbox-http")

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered by the serve loop itself, so every connection accepted before stop() ends
        # that loop is known to server_close().
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)

    def server_close(self) -> None:
        """Close the listening socket, end every open connection, join the handler threads."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is routine; anything else is a sandbox bug and should be seen.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


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

        *clock* gives the wall time that job statuses (and rate limits' one-second windows)
        are computed from; tests pass a fake one to step a job through queued, processing and
        its end without sleeping.
        """
        self.config = config or SandboxConfig()
        self.clock = clock
        self.faults = FaultSet(clock=clock)
        if self.config.submit_rate_limit is not None:
            self.faults.add(RATE_LIMIT, per_second=self.config.submit_rate_limit)
        self.store = JobStore(
            clock=clock, job_seconds=self.config.job_seconds, state_file=self.config.state_file
        )
        self.uploads = UploadStore()  # in memory only: files put to /uploads/
        self._stop_lock = threading.Lock()
        self._stopping = threading.Event()  # wakes fault sleeps when stopping
        self._stop_requested = threading.Event()
        self._httpd: SandboxHTTPServer | None = None
        self._webhooks = WebhookDispatcher(
            self.config.webhook_backoff, self.config.webhook_timeout, self._prepare_delivery
        )

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; return self. Raises OSError if the port is taken."""
        if self._httpd is not None:
            return self
        self._httpd = SandboxHTTPServer(self, self.config.host, self.config.port)
        self._stopping.clear()
        self._stop_requested.clear()
        self._webhooks.start()
        for job_id, delay in self.store.pending_webhooks():
            self._webhooks.schedule(job_id, delay)
        self._httpd.start()
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
            httpd.stop()  # ends open connections and joins the handler threads
            self._webhooks.stop()
            self._httpd = None

    def wait_for_stop(self, seconds: float) -> bool:
        """Wait up to *seconds* for the server to begin stopping; True if it has.

        Handlers sleep through this (delays, slow downloads) so that stop() never waits them out.
        """
        return self._stopping.wait(seconds)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the port actually bound (wildcard hosts read as loopback)."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._httpd.url

    @property
    def fetch_inputs(self) -> str:
        return self.config.fetch_inputs

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(urlsplit(self.url).port or 0)

    def public_url(self, host_header: str | None) -> str:
        """The base of result URLs: the bound address, or the client's Host for wildcard binds."""
        if self.config.host in ("0.0.0.0", "::", "") and host_header:
            return f"http://{host_header}"
        return self.url

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

    def requests(self, path_prefix: str = "") -> list[dict[str, str | None]]:
        """The last requests received (method, path and a few headers), oldest first."""
        return self.store.requests(path_prefix)

    def deliveries(self) -> list[dict[str, Any]]:
        """Webhook deliveries so far: job_id, url, attempts, last_status, delivered, done."""
        return self._webhooks.records()

    def _prepare_delivery(self, job_id: str) -> Delivery | float | None:
        return self.store.prepare_delivery(job_id, self.public_url(None))
