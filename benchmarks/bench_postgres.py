"""A shared history on PostgreSQL: one batch sent by three machines against one, and `lumen
list` on a 100,000-job history against the same on SQLite.

1. **One batch, three machines.** 2,000 lines, `lumen batch FILE --concurrency 8`: once by
   one process, then by three processes at once (homes and host names of their own, one
   shared history), each round on a fresh schema. The sandbox runs in its own process and
   answers each submit after `--latency` seconds (the real API takes a while to accept a
   job; the sandbox answers in well under a millisecond, which would make one process
   bound by its CPU, and three processes on this two-core machine could not go faster
   than the cores). Submits are counted at the sandbox: every line must be POSTed once.
   Target: three processes at least 2.5x the throughput of one.
2. **`lumen list --limit 50` on 100,000 jobs.** The same 100,000 jobs in a SQLite file and in
   a PostgreSQL schema (copied by `lumen history migrate`); the two commands are timed
   alternately, whole processes. Target: PostgreSQL no slower than 1.5x SQLite. The time
   of `History.list(limit=50)` in one process is printed beside it (the queries alone,
   without the interpreter, the imports and the connection).

PostgreSQL: `--url` names a server to use (a database where the benchmark may create
schemas); by default a throwaway cluster is started as the tests start theirs (needs
PostgreSQL's server programs: `apt-get install postgresql`) and removed at the end.

    python -m benchmarks.bench_postgres [--lines 2000] [--latency 0.05] [--rounds 3]
        [--jobs 100000] [--list-rounds 15] [--url postgresql://…]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import lumen_cli
from benchmarks.common import LUMEN, median, run_timed

KEY = "sk-lumen-bench"
CONCURRENCY = 8
MACHINES = 3


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Bench:
    """The sandbox, the server and a scratch folder, for one run of the benchmark."""

    def __init__(self, scratch: Path, sandbox_url: str, server_url: str) -> None:
        self.scratch = scratch
        self.sandbox_url = sandbox_url
        self.server_url = server_url
        self.schemas = 0

    def schema(self) -> str:
        """A fresh, empty schema on the server: the URL of a history there."""
        import psycopg

        self.schemas += 1
        name = f"bench_{os.getpid()}_{self.schemas}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.execute(f"CREATE SCHEMA {name}")
        joiner = "&" if "?" in self.server_url else "?"
        return f"{self.server_url}{joiner}options=-csearch_path%3D{name}"

    def env(self, machine: str, history_url: str | None = None) -> dict[str, str]:
        home = self.scratch / machine
        shutil.rmtree(home, ignore_errors=True)
        env = {
            **os.environ,
            "LUMEN_CONFIG_DIR": str(home / "config"),
            "LUMEN_DATA_DIR": str(home / "data"),
            "LUMEN_BASE_URL": self.sandbox_url,
            "LUMEN_API_KEY": KEY,
            "LUMEN_HOST_NAME": machine,
        }
        if history_url:
            env["LUMEN_HISTORY_URL"] = history_url
        return env

    def sandbox(self, method: str, path: str, body: object = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own loopback sandbox
            self.sandbox_url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request) as answer:  # noqa: S310
            return json.loads(answer.read())

    def posts(self) -> int:
        stats = self.sandbox("GET", "/_sandbox/stats")
        return int(stats["requests"].get("POST /v1/videos/generations", 0))

    def slow_submits(self, latency: float, count: int) -> None:
        fault = {"kind": "delay", "method": "POST", "path": "/v1/videos/generations"}
        self.sandbox("POST", "/_sandbox/faults", {**fault, "seconds": latency, "count": count})


def batch_round(bench: Bench, file: Path, machines: int, latency: float, lines: int) -> float:
    """Seconds for *machines* processes started at once to send *file* (one fresh shared
    history); fails unless every line was POSTed exactly once."""
    url = bench.schema()
    bench.slow_submits(latency, lines)
    before = bench.posts()
    command = [*LUMEN, "batch", str(file), "--concurrency", str(CONCURRENCY)]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            command,
            env=bench.env(f"machine-{n}", url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(machines)
    ]
    errors = [process.communicate()[1] for process in processes]
    elapsed = time.perf_counter() - started
    for process, err in zip(processes, errors, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"lumen batch exited {process.returncode}: {err.decode()[-800:]}")
    sent = bench.posts() - before
    if sent != lines:
        raise RuntimeError(f"{sent} submits reached the sandbox for {lines} lines")
    return elapsed


def seed_sqlite(path: Path, jobs: int) -> None:
    """*jobs* succeeded jobs, a minute apart, in a new history file (as lumen writes them)."""
    from lumen_cli.history import History

    history = History(path)
    history.list(limit=1)  # the schema, as lumen creates it
    history.close()
    now = time.time()
    rows = []
    for n in range(jobs):
        created = now - (jobs - n) * 60
        request = json.dumps({"model": "seedance-2", "prompt": f"benchmark job {n}: a cat"})
        rows.append(
            (
                f"vbench{n:07d}",
                "default",
                "https://lumen.example",
                created,
                created,
                "succeeded",
                "seedance-2",
                f"benchmark job {n}: a cat",
                "text-to-video",
                request,
                json.dumps([f"https://files.example/vbench{n:07d}/0.mp4"]),
                "bench",
                "bench",
            )
        )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO jobs (id, profile, base_url, created_at, updated_at, status, model,"
            " prompt, mode, request, urls, host, user_name) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


def in_process_list(location: Path | str, rounds: int) -> float:
    """Median seconds of ``History.list(limit=50)`` on an open history (the query alone)."""
    from lumen_cli.history import History

    history = History(location)
    if len(history.list(limit=50)) != 50:  # opened, connected, checked
        raise RuntimeError(f"the history at {history.where} does not hold the jobs")
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        history.list(limit=50, profile="default")
        times.append(time.perf_counter() - started)
    history.close()
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per submit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--list-rounds", type=int, default=15)
    parser.add_argument("--url", help="a PostgreSQL database to use (default: a throwaway one)")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    args = parser.parse_args()

    compileall.compile_dir(str(Path(lumen_cli.__file__).parent), quiet=1)
    scratch = Path(tempfile.mkdtemp(prefix="lumen-bench-postgres-"))
    cluster_folder: Path | None = None
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli.sandbox", "--port", str(port), "--job-seconds", "60"],
        stderr=subprocess.PIPE,
    )
    try:
        assert sandbox.stderr is not None
        sandbox.stderr.readline()  # "listening on …"
        server_url = args.url
        if not server_url:
            from tests.support import PostgresCluster

            cluster_folder = Path(tempfile.mkdtemp(prefix="lumen-bench-cluster-"))
            server_url = PostgresCluster.shared(cluster_folder).url()
        bench = Bench(scratch, f"http://127.0.0.1:{port}", server_url)
        if not args.skip_batch:
            batch_figure(bench, args)
        if not args.skip_list:
            list_figure(bench, args)
    finally:
        sandbox.terminate()
        sandbox.wait()
        if cluster_folder is not None:
            from tests.support import PostgresCluster

            PostgresCluster.remove(cluster_folder)
        shutil.rmtree(scratch, ignore_errors=True)


def batch_figure(bench: Bench, args: argparse.Namespace) -> None:
    file = bench.scratch / "lines.txt"
    file.write_text(
        "".join(f"benchmark line {n}: a cat running on the grass\n" for n in range(args.lines))
    )
    one: list[float] = []
    three: list[float] = []
    for _ in range(args.rounds):
        one.append(batch_round(bench, file, 1, args.latency, args.lines))
        three.append(batch_round(bench, file, MACHINES, args.latency, args.lines))
    single, shared = median(one), median(three)
    print(
        f"one batch of {args.lines} lines, --concurrency {CONCURRENCY} per process, "
        f"{args.latency * 1000:.0f} ms per submit at the sandbox, medians of {args.rounds} rounds"
    )
    print(f"{'':<34} {'seconds':>8} {'lines/s':>8}")
    print(f"{'1 process':<34} {single:>8.2f} {args.lines / single:>8.0f}")
    print(f"{f'{MACHINES} processes, 1 history':<34} {shared:>8.2f} {args.lines / shared:>8.0f}")
    print(f"every line POSTed once                : yes ({2 * args.rounds} runs counted)")
    print(f"throughput, {MACHINES} processes / 1       : {single / shared:5.2f}x  (target >= 2.5)")
    print(
        f"ideal with the latency alone          : {args.lines / CONCURRENCY * args.latency:.2f} s "
        f"for 1, {args.lines / CONCURRENCY / MACHINES * args.latency:.2f} s for {MACHINES}"
    )


def list_figure(bench: Bench, args: argparse.Namespace) -> None:
    local_env = bench.env("local")
    path = Path(local_env["LUMEN_DATA_DIR"]) / "history.sqlite3"
    path.parent.mkdir(parents=True)
    seed_sqlite(path, args.jobs)
    url = bench.schema()
    copy = subprocess.run(
        [*LUMEN, "history", "migrate", "--from", str(path), "--to", url],
        env=bench.env("copier"),
        capture_output=True,
        text=True,
        check=False,
    )
    if copy.returncode != 0:
        raise RuntimeError(f"history migrate failed: {copy.stderr[-800:]}")
    shared_env = bench.env("shared", url)
    command = [*LUMEN, "list", "--limit", "50"]
    run_timed(command, local_env)  # warm-up: caches, .pyc files
    run_timed(command, shared_env)
    sqlite_times, postgres_times = [], []
    for _ in range(args.list_rounds):
        sqlite_times.append(run_timed(command, local_env)[0])
        postgres_times.append(run_timed(command, shared_env)[0])
    local, shared = median(sqlite_times), median(postgres_times)
    query_local = in_process_list(path, 50)
    query_shared = in_process_list(url, 50)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import psycopg"], check=True)
    psycopg_import = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - started
    print(
        f"lumen list --limit 50 on {args.jobs:,} jobs, whole processes, "
        f"medians of {args.list_rounds} alternating rounds"
    )
    print(f"{'':<28} {'process':>9} {'query':>9}")
    print(f"{'SQLite file':<28} {local * 1000:>7.0f}ms {query_local * 1000:>7.2f}ms")
    print(f"{'PostgreSQL (loopback)':<28} {shared * 1000:>7.0f}ms {query_shared * 1000:>7.2f}ms")
    print(
        f"ratio, PostgreSQL / SQLite   : {shared / local:5.2f}x process, "
        f"{query_shared / query_local:5.2f}x query  (target <= 1.5)"
    )
    print(
        f"import psycopg alone         : {(psycopg_import - bare) * 1000:.0f} ms (once per process)"
    )


if __name__ == "__main__":
    main()
