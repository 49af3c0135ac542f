"""Serving HTTP from a daemon thread: the one server base for the sandbox and the listener.

Both need the same things of the standard library's ``ThreadingHTTPServer``: IPv6 when the
host says so, no reverse-DNS lookup at bind time (``getfqdn`` can take seconds), request
threads that never keep the process alive, and a ``start()`` / ``stop()`` pair that serves
from a background thread and joins it.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lumen_cli.net import bound_url

POLL_INTERVAL = 0.05  # how long stop() may wait for the serve loop to notice


class BackgroundHTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` on *host*:*port* (0: any free port) served by ``start()``.

    Subclasses set ``block_on_close = False`` when a stalled client must not hold up
    ``stop()``, and override ``handle_error`` to report failed requests their own way.
    """

    daemon_threads = True

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], *, name: str
    ) -> None:
        host = host.strip("[]")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.thread_name = name
        self._thread: threading.Thread | None = None
        super().__init__((host, port), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse-DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the port actually bound."""
        return bound_url(self.server_address)

    def start(self) -> None:
        """Serve from a daemon thread until ``stop()``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the serve loop, close the socket and join the serving thread. Idempotent."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
