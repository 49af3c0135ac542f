"""The Downloader against the sandbox and small stdlib servers: resume, locks, integrity."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rich.console import Console

from lumen_cli.api.retry import RetryPolicy
from lumen_cli.clock import FakeClock
from lumen_cli.download.fetch import Downloader, Saved, parse_content_range
from lumen_cli.download.part import PartFile
from lumen_cli.errors import DownloadError
from lumen_cli.output.progress import DownloadProgress
from lumen_cli.sandbox import SandboxServer
from lumen_cli.sandbox.files import blob_bytes
from lumen_cli.services.fetch import save_job_files
from tests.support import (
    Seen,
    blob_job,
)


def downloader(clock: FakeClock | None = None, **options: Any) -> Downloader:
    return Downloader(clock=clock or FakeClock(), **options)


def test_parse_content_range() -> None:
    assert parse_content_range("bytes 10-19/100") == (10, 19, 100)
    assert parse_content_range("bytes 10-19/*") == (10, 19, None)
    assert parse_content_range("bytes 19-10/100") is None
    assert parse_content_range("bytes 10-100/100") is None
    assert parse_content_range(None) is None


def test_complete_part_is_renamed_without_a_body(
    sandbox: SandboxServer, tmp_path: Path, seen: Seen
) -> None:
    size = 100_000
    job = blob_job(sandbox, size)
    target = tmp_path / "blob.bin"
    with downloader() as first:
        first.fetch(job.urls[0], target)
    # As if killed after the last byte and before the rename:
    os.replace(target, tmp_path / "blob.bin.part")
    (tmp_path / "blob.bin.part.json").write_text(json.dumps({"total": size, "validator": None}))
    with downloader() as again:
        saved = again.fetch(job.urls[0], target)
    assert target.read_bytes() == blob_bytes(size)
    assert saved.sha256 == hashlib.sha256(blob_bytes(size)).hexdigest()
    assert seen[-1]["Range"] == f"bytes={size}-"  # answered 416: nothing left to send


def test_part_without_its_sidecar_starts_over(
    sandbox: SandboxServer, tmp_path: Path, seen: Seen
) -> None:
    job = blob_job(sandbox, 50_000)
    (tmp_path / "x.bin.part").write_bytes(b"bytes of who knows what")
    with downloader() as fetcher:
        fetcher.fetch(job.urls[0], tmp_path / "x.bin")
    assert (tmp_path / "x.bin").read_bytes() == blob_bytes(50_000)
    assert seen[-1]["Range"] is None


def test_big_blob_with_progress_on_a_terminal(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PartFile, "write_behind", 512 << 10)  # exercise the write-behind
    size = 3 << 20
    job = blob_job(sandbox, size)
    sandbox.faults.add("cut", path="/files/blob/", at=1 << 20)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    progress = DownloadProgress(console)
    with Downloader(clock=FakeClock(), progress=progress, chunk_size=256 << 10) as d:
        saved = save_job_files(d, job, None, template=None, base_dir=tmp_path)
    expected = blob_bytes(size)
    assert saved == [
        Saved("vblob", job.urls[0], tmp_path / "vblob.bin", size,
              hashlib.sha256(expected).hexdigest(), False)
    ]  # fmt: skip
    assert (tmp_path / "vblob.bin").read_bytes() == expected
    assert "retrying in" in screen.getvalue()
    assert "vblob.bin" in screen.getvalue()


def test_two_downloads_of_one_file_take_turns(sandbox: SandboxServer, tmp_path: Path) -> None:
    size = 40_000
    job = blob_job(sandbox, size)
    sandbox.faults.add("slow", path="/files/blob/", bytes_per_second=200_000)
    target = tmp_path / "same.bin"
    results: list[Saved] = []

    def fetch() -> None:
        with downloader() as fetcher:
            results.append(fetcher.fetch(job.urls[0], target))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(10)
    assert sorted(item.skipped for item in results) == [False, True]
    assert target.read_bytes() == blob_bytes(size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.bin"]


class _Recorder(BaseHTTPRequestHandler):
    """Redirects /start -> (other server) /hop -> /file, planting cookies on the way."""

    protocol_version = "HTTP/1.1"
    log: ClassVar[list[dict[str, Any]]] = []
    other = ""
    body = b"redirected video bytes" * 100

    def do_GET(self) -> None:
        self.log.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path == "/start":
            self._redirect(f"{self.other}/hop")
        elif self.path == "/hop":
            self._redirect("/file")
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Set-Cookie", "session=secret; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorders() -> Iterator[tuple[str, str]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    first, second = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    _Recorder.log = []
    _Recorder.other = second
    yield first, second
    for server in servers:
        server.shutdown()
        server.server_close()


def test_redirect_hops_carry_no_credentials(recorders: tuple[str, str], tmp_path: Path) -> None:
    first, _ = recorders
    url = first.replace("http://", "http://user:pw@") + "/start"  # userinfo would be Basic auth
    with downloader() as fetcher:
        saved = fetcher.fetch(url, tmp_path / "r.mp4")
    assert saved.bytes == len(_Recorder.body)
    assert (tmp_path / "r.mp4").read_bytes() == _Recorder.body
    assert [entry["path"] for entry in _Recorder.log] == ["/start", "/hop", "/file"]
    for entry in _Recorder.log:
        assert "authorization" not in entry
        assert "cookie" not in entry
        assert entry["accept-encoding"] == "identity"


class _Liar(BaseHTTPRequestHandler):
    """/short promises 1000 bytes and sends 500; /range answers 206 with a bad length."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.close_connection = True
        self.send_response(206 if self.path == "/range" else 200)
        self.send_header("Content-Length", "1000")
        if self.path == "/range":
            self.send_header("Content-Range", "bytes 0-499/500")
        self.end_headers()
        self.wfile.write(b"x" * 500)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def liar() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "message"), [("/short", "gave up"), ("/range", "Content-Length")])
def test_length_mismatch_is_an_error(liar: str, tmp_path: Path, path: str, message: str) -> None:
    clock = FakeClock()
    with downloader(clock, retry=RetryPolicy(max_attempts=3)) as fetcher:
        with pytest.raises(DownloadError, match=message):
            fetcher.fetch(liar + path, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()
    assert len(clock.sleeps) <= 2


class _Capped(BaseHTTPRequestHandler):
    """Answers every request with at most 300 bytes, as a 206 (some CDNs cap ranges)."""

    protocol_version = "HTTP/1.1"
    data = bytes(range(256)) * 8
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        asked = self.headers.get("Range")
        self.ranges.append(asked)
        first = int(asked[6:-1]) if asked else 0
        last = min(first + 299, len(self.data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(self.data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("ETag", '"capped"')
        self.end_headers()
        self.wfile.write(self.data[first : last + 1])

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_capped_ranges_are_followed_to_the_end(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capped)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    _Capped.ranges = []
    try:
        with downloader() as fetcher:
            saved = fetcher.fetch(f"http://127.0.0.1:{server.server_address[1]}/v", tmp_path / "v")
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp_path / "v").read_bytes() == _Capped.data
    assert saved.sha256 == hashlib.sha256(_Capped.data).hexdigest()
    assert _Capped.ranges == [None, *(f"bytes={n}-" for n in range(300, 2048, 300))]


def test_importing_the_module_stays_cheap() -> None:
    code = (
        "import sys, lumen_cli.download.fetch, lumen_cli.services.fetch;"
        "print(sorted({'httpx', 'rich'} & set(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_without_checksum_a_cut_download_still_resumes_byte_exact(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    size = 3 << 20
    job = blob_job(sandbox, size)
    sandbox.faults.add("cut", path="/files/blob/", at=1 << 20)
    with downloader(checksum=False, chunk_size=256 << 10) as d:
        saved = save_job_files(d, job, None, template=None, base_dir=tmp_path)
    assert [(item.bytes, item.sha256) for item in saved] == [(size, None)]
    assert (tmp_path / "vblob.bin").read_bytes() == blob_bytes(size)
