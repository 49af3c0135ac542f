"""What many test modules share: the test key, fake servers on loopback, small waiting helpers.

Fixtures that use these live in ``conftest.py``; anything a test module would otherwise copy
from another belongs here.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from lumen_cli.serving import BackgroundHTTPServer

TEST_KEY = "sk-lumen-test-0123456789abcdef"
JOBS_PATH = "/v1/videos/generations"


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

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


class Receiver:
    """An HTTP endpoint on loopback that records every POST and answers from a script.

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
                call = Call(self.path, dict(self.headers), body, time.monotonic())
                status = receiver._record(call)
                answer = b'{"ok": true}' if status < 500 else b"upstream broke"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

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
