"""A small file server for the download figures, used where nginx is not installed.

It serves the files under one folder with ``os.sendfile`` (the kernel copies, as nginx does),
answers ``HEAD`` and ``Range: bytes=N-``, and can hold each connection under ``/files/`` to a
rate in bytes per second, as nginx's ``limit_rate`` does, to stand in for a real link. Files
under ``/v1/`` are served as JSON: a job document there answers the one API request
``lumen download`` sends before fetching, so a whole ``lumen download`` runs against it.

    python -m benchmarks.fileserver ROOT [--rate BYTES_PER_SECOND]

Prints ``serving http://127.0.0.1:PORT`` on stdout once bound, then serves until killed.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-$")
SLICE_SECONDS = 0.02  # a rate-limited connection is sent this long's worth of bytes at a time
UNLIMITED_SLICE = 8 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root: Path
    rate: int | None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            self._empty(404)
            return
        size = target.stat().st_size
        wanted = _RANGE.match(self.headers.get("Range", ""))
        start = int(wanted.group(1)) if wanted else 0
        if start and start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self._empty_body()
            return
        api = path.startswith("/v1/")
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/json" if api else "video/mp4")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{size:x}-{target.stat().st_mtime_ns:x}"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if body:
            limited = path.startswith("/files/") and self.rate
            with open(target, "rb") as source:
                self._send(source.fileno(), start, size, self.rate if limited else None)

    def _send(self, fd: int, offset: int, end: int, rate: int | None) -> None:
        """Bytes *offset* to *end* of *fd*, at most *rate* bytes a second on average."""
        out = self.connection.fileno()
        step = max(64 << 10, int(rate * SLICE_SECONDS)) if rate else UNLIMITED_SLICE
        started, sent = time.monotonic(), 0
        try:
            while offset < end:
                count = os.sendfile(out, fd, offset, min(step, end - offset))
                if count == 0:
                    return
                offset += count
                sent += count
                if rate:
                    ahead = started + sent / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self._empty_body()

    def _empty_body(self) -> None:
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--rate", type=int, default=None, help="bytes per second per connection")
    args = parser.parse_args()
    handler = type("Handler", (_Handler,), {"root": args.root.resolve(), "rate": args.rate})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(f"serving http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
