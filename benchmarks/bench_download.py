"""`lumen download`'s Downloader against `curl -o`: 256 MiB from a local nginx.

A throw-away nginx (Debian's, one process: ``master_process off; daemon off;``) serves a
file of random bytes on a free loopback port from a temporary directory. Each round runs,
in turn, ``curl -sS -o``, the Downloader in a fresh Python process (synthetic succeeded
job, progress bar on: a rich console forced to terminal mode, writing to /dev/null), and
``curl -o`` followed by ``sync FILE`` (curl plus the fsync the Downloader always does).
Output files are deleted before every run, so each writes a new file. Wall time and peak
RSS per process come from ``wait4``; the table shows medians and ratios to plain curl.

    python -m benchmarks.bench_download [--size-mib 256] [--rounds 5] [--no-progress]
                                        [--limit-rate 100m] [--dir DIR]

Targets: Downloader within 1.15x of curl's wall time, peak RSS under 80 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import median, run_timed

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CURL = shutil.which("curl") or "/usr/bin/curl"

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
        {limit}
    }}
}}
"""

# The child process: the Downloader alone, as `lumen download` drives it.
CHILD = """\
import os, sys
from pathlib import Path
from rich.console import Console
from lumen_cli.api.models import Job
from lumen_cli.clock import SystemClock
from lumen_cli.download import Downloader

url, target, progress = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1"
checksum = sys.argv[4] == "1"  # as `lumen download --json` / `--sidecar`; plain runs skip it
with open(os.devnull, "w") as sink:
    console = Console(file=sink, force_terminal=True, width=100)
    job = Job(id="bench", status="succeeded", urls=(url,))
    with Downloader(
        clock=SystemClock(), progress=progress, console=console, checksum=checksum
    ) as downloader:
        downloader.fetch_job(job, record=None, template=str(target))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_random_file(path: Path, size: int) -> str:
    """*size* random bytes at *path* (random, so nothing compresses); returns the SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            handle.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


@contextmanager
def nginx(root: Path, prefix: Path, limit_rate: str | None = None) -> Iterator[str]:
    """A foreground nginx serving *root* on a free loopback port; yields its base URL.

    *limit_rate* (nginx syntax, e.g. ``100m``: bytes per second per connection) stands in
    for a real network link.
    """
    port = free_port()
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    limit = f"limit_rate {limit_rate};" if limit_rate else ""
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root, limit=limit))
    process = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(prefix)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited {process.returncode}")
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()  # noqa: S310 - our loopback URL
            return
        except urllib.error.HTTPError:
            return  # an answer (403 for the bare directory): nginx is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-progress", action="store_true", help="Downloader without bars.")
    parser.add_argument("--dir", type=Path, default=None, help="Where files are written.")
    parser.add_argument(
        "--limit-rate", default=None, help="Cap nginx per connection, e.g. 100m (a real link)."
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lumen-bench-", dir=args.dir))
    try:
        run(
            work,
            size=args.size_mib << 20,
            rounds=args.rounds,
            progress=not args.no_progress,
            limit_rate=args.limit_rate,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, *, size: int, rounds: int, progress: bool, limit_rate: str | None) -> None:
    root = work / "root"
    root.mkdir()
    work.chmod(0o755)  # nginx may serve as another user
    root.chmod(0o755)
    expected = write_random_file(root / "video.bin", size)
    out = work / "out.bin"
    with nginx(root, work / "nginx", limit_rate) as base:
        url = f"{base}/video.bin"
        label = "Downloader (progress on)" if progress else "Downloader (no progress)"
        cases = {
            "curl -o": [CURL, "-sS", "-o", str(out), url],
            label: [sys.executable, "-c", CHILD, url, str(out), "1" if progress else "0", "0"],
            "Downloader + sha256 (--json)": [
                sys.executable, "-c", CHILD, url, str(out), "1" if progress else "0", "1",
            ],
            "curl -o; sync FILE": ["sh", "-c", f'{CURL} -sS -o "$1" "$2" && sync "$1"',
                                   "-", str(out), url],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in cases}
        memory: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, command in cases.items():  # alternating: noise hits all alike
                out.unlink(missing_ok=True)
                elapsed, rss = run_timed(command)
                times[name].append(elapsed)
                memory[name].append(rss)
                if name == label:
                    check(out, expected)
    link = f"nginx limit_rate {limit_rate}" if limit_rate else "no rate limit"
    report(size, rounds, times, memory, baseline="curl -o", subject=label, link=link)


def check(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise RuntimeError("the Downloader's file differs from the source")


def report(
    size: int,
    rounds: int,
    times: dict[str, list[float]],
    memory: dict[str, list[float]],
    *,
    baseline: str,
    subject: str,
    link: str,
) -> None:
    base = median(times[baseline])
    print(f"{size >> 20} MiB from nginx on 127.0.0.1 ({link}), median of {rounds} runs each")
    print(f"{'client':<28} {'wall s':>8} {'MiB/s':>8} {'ratio':>7} {'peak RSS MiB':>13}")
    for name, samples in times.items():
        wall = median(samples)
        rss = max(memory[name])
        print(
            f"{name:<28} {wall:>8.3f} {size / wall / (1 << 20):>8.0f} "
            f"{wall / base:>7.2f} {rss:>13.1f}"
        )
    ratio = median(times[subject]) / base
    rss = max(memory[subject])
    verdict = "met" if ratio <= 1.15 else "missed"
    print(f"time: {ratio:.2f}x curl (target 1.15x: {verdict})")
    print(f"memory: {rss:.1f} MiB peak (target 80 MiB: {'met' if rss < 80 else 'missed'})")
    print("all samples (s): " + "; ".join(
        f"{name}: {', '.join(f'{t:.2f}' for t in samples)}" for name, samples in times.items()
    ))  # fmt: skip


if __name__ == "__main__":
    main()
