"""``lumen download`` against ``curl -o``: 256 MiB over a 64 MB/s link, and 1 GiB on loopback.

A local server holds a file of random bytes (nothing compresses) and answers ``lumen
download``'s one API request with a succeeded job whose result is that file, so the whole
command runs: start-up, the API request, the transfer, the fsync and the rename. The server
is nginx where it is installed (one foreground process, ``limit_rate`` for the link), else
``benchmarks/fileserver.py`` (``sendfile``, the same per-connection rate limit). Output is
piped, as in a script: no progress bar. Every run writes a new file; lumen's is checked.

* over a link: ``lumen download`` / ``curl -o``, target 1.06x;
* on loopback: ``lumen download`` / ``curl -o FILE && sync FILE`` (curl plus the fsync lumen
  always does before its rename), target 1.15x, peak RSS under 80 MiB.

    python -m benchmarks.bench_download [--rounds 7]
    python -m benchmarks download-link download-loopback [--rounds 7]    # the same

Needs curl, the baseline; without it both figures say n/a.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import KEY, LUMEN, Row, alternate, free_port, memory_row, time_row

if TYPE_CHECKING:
    from benchmarks.suite import Suite

CURL = shutil.which("curl")
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
    None,
)
LINK_BYTES_PER_SECOND = 64_000_000  # 64 MB/s: a 512 Mbit/s link
JOB_ID = "vbench0download"

NGINX_CONF = """\
master_process off;
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /files/ {{ {limit} }}
        location /v1/ {{ default_type application/json; }}
    }}
}}
"""


def over_a_link(suite: Suite) -> list[Row]:
    return _figure(suite, size=256 << 20, rate=LINK_BYTES_PER_SECOND, sync=False)


def on_loopback(suite: Suite) -> list[Row]:
    return _figure(suite, size=1 << 30, rate=None, sync=True)


def _figure(suite: Suite, *, size: int, rate: int | None, sync: bool) -> list[Row]:
    link = f"{size >> 20} MiB, " + (f"{rate / 1e6:g} MB/s" if rate else "loopback")
    name = f"download {link} / curl -o" + (" && sync" if sync else "")
    if CURL is None:
        return [Row(name, "-", "-", "-", "-", None, "curl is not installed: no baseline")]
    home = suite.scratch()
    root = home.root / "served"
    expected = _write_random_file(root / "files" / "video.bin", size)
    out = home.root / "out.bin"
    with _server(root, home.root / "server", rate) as base:
        url = f"{base}/files/video.bin"
        job = {"id": JOB_ID, "status": "succeeded", "model": "seedance-2", "data": [{"url": url}]}
        api = root / "v1" / "videos" / "generations" / JOB_ID
        api.parent.mkdir(parents=True)
        api.write_text(json.dumps(job))
        for folder in (home.root, root, *api.parents, root / "files"):
            if folder.is_relative_to(home.root):
                folder.chmod(0o755)  # nginx may serve as another user
        env = home.env(LUMEN_BASE_URL=base, LUMEN_API_KEY=KEY)
        ours = [*LUMEN, "download", JOB_ID, "-o", str(out)]
        curl = [CURL, "-sS", "-o", str(out), url]
        baseline = ["sh", "-c", '"$0" -sS -o "$1" "$2" && sync "$1"', CURL, str(out), url]

        checked: list[bool] = []

        def written() -> None:  # the size every time, the bytes once
            if out.stat().st_size != size or not (checked or _sha256(out) == expected):
                raise RuntimeError("lumen download's file differs from the source")
            checked.append(True)

        pair = alternate(
            ours,
            baseline if sync else curl,
            rounds=suite.rounds,
            env=env,
            before=lambda: out.unlink(missing_ok=True),
            after_ours=written,
        )
    server = "nginx" if NGINX else "benchmarks/fileserver.py"
    return [
        time_row(name, pair, target=1.15 if sync else 1.06, note=f"served by {server}"),
        memory_row(f"download {link} peak RSS", max(pair.ours_rss), below=80),
    ]


def _write_random_file(path: Path, size: int) -> str:
    """*size* random bytes at *path*; returns their SHA-256."""
    path.parent.mkdir(parents=True)
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            handle.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _server(root: Path, prefix: Path, rate: int | None) -> Iterator[str]:
    """nginx (or the fallback) serving *root* on a free loopback port; yields its base URL."""
    prefix.mkdir(parents=True)
    if NGINX:
        port = free_port()
        (prefix / "tmp").mkdir()
        conf = prefix / "nginx.conf"
        limit = f"limit_rate {rate};" if rate else ""
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root, limit=limit))
        command = [NGINX, "-c", str(conf), "-p", str(prefix)]
        url = f"http://127.0.0.1:{port}"
    else:
        command = [sys.executable, "-m", "benchmarks.fileserver", str(root)]
        command += ["--rate", str(rate)] if rate else []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        if not NGINX:
            assert process.stdout is not None
            url = process.stdout.readline().split()[-1]
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the file server exited {process.returncode}")
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()  # noqa: S310 - our loopback URL
            return
        except urllib.error.HTTPError:
            return  # an answer (403 or 404 for the bare folder): it is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the file server did not start")


def main() -> None:
    from benchmarks.suite import main as suite_main

    sys.exit(suite_main(["download-link", "download-loopback", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
