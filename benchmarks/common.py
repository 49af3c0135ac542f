"""What the benchmarks share: timing whole processes in alternating pairs, a scratch home that
never touches the real config or history, a sandbox on a free port, a seeded history, and the
table every figure ends up in."""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lumen_cli

KEY = "sk-lumen-bench"  # the sandbox takes any sk-lumen- key
_SCRIPT = Path(sys.executable).with_name("lumen")
# The installed console script, as people run it (else python -m, as a clone runs it).
LUMEN = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "lumen_cli"]


# Children are started by a small helper process, not by the benchmark itself: Linux counts
# the memory of the process that starts a child (vfork, then exec) in the child's peak RSS,
# and a benchmark that has seeded a history is large. The helper is a bare interpreter.
_SPAWNER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    command, env = json.loads(line)
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    print(json.dumps([elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]), flush=True)
"""


class Run:
    """A command started by the spawner; :meth:`result` waits for it to end."""

    _shared: subprocess.Popen[str] | None = None  # the spawner, started on first use
    _lock = threading.Lock()

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        Run._lock.acquire()  # one command at a time, until its result is read
        try:
            if Run._shared is None or Run._shared.poll() is not None:
                Run._shared = subprocess.Popen(
                    [sys.executable, "-c", _SPAWNER],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )  # it ends when this process does (its stdin closes)
            self._spawner = Run._shared
            assert self._spawner.stdin is not None
            self._spawner.stdin.write(json.dumps([self.command, env or dict(os.environ)]) + "\n")
            self._spawner.stdin.flush()
        except BaseException:
            Run._lock.release()
            raise

    def result(self, *, check: bool = True) -> tuple[float, float, int]:
        """Wall time in seconds, peak RSS in MiB and exit code (an error if not 0 and *check*)."""
        try:
            assert self._spawner.stdout is not None
            elapsed, peak_kib, code = json.loads(self._spawner.stdout.readline())
        finally:
            Run._lock.release()
        if check and code != 0:
            raise RuntimeError(f"{' '.join(self.command)} exited {code}")
        return elapsed, peak_kib / 1024, code  # Linux reports KiB


def run_timed(
    command: Sequence[str], env: dict[str, str] | None = None, *, check: bool = True
) -> tuple[float, float]:
    """Run *command* (stdout and stderr to /dev/null: piped, as a script runs it); return its
    wall time in seconds and its peak RSS in MiB."""
    elapsed, peak, _ = Run(command, env).result(check=check)
    return elapsed, peak


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def byte_compile() -> None:
    """Byte-compile lumen's modules, as an installation does: where PYTHONDONTWRITEBYTECODE
    is set, every run would otherwise compile them again."""
    compileall.compile_dir(str(Path(lumen_cli.__file__).parent), quiet=1)


@dataclass
class Pair:
    """Wall times and peak RSS of two commands run in alternation, round by round."""

    ours: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    ours_rss: list[float] = field(default_factory=list)
    baseline_rss: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """The median of each round's ratio: noise that hits a round hits both sides."""
        return median([a / b for a, b in zip(self.ours, self.baseline, strict=True)])


def alternate(
    ours: Sequence[str],
    baseline: Sequence[str],
    *,
    rounds: int,
    env: dict[str, str] | None = None,
    baseline_env: dict[str, str] | None = None,
    before: Callable[[], None] | None = None,
    after_ours: Callable[[], None] | None = None,
    warmup: int = 1,
) -> Pair:
    """Run *ours* and *baseline* in turn: *warmup* rounds thrown away, then *rounds* kept.

    Rounds swap which side goes first (AB, BA, …), so neither always runs on a cache the
    other just warmed. *before* runs before every run (say, to delete an output file);
    *after_ours* after each run of *ours* (say, to check what it wrote).
    """
    pair = Pair()
    sides = [
        (ours, env, pair.ours, pair.ours_rss, after_ours),
        (baseline, baseline_env or env, pair.baseline, pair.baseline_rss, None),
    ]
    for index in range(warmup + rounds):
        for command, side_env, times, rss, after in sides if index % 2 == 0 else sides[::-1]:
            if before is not None:
                before()
            elapsed, peak = run_timed(command, side_env)
            if after is not None:
                after()
            if index >= warmup:
                times.append(elapsed)
                rss.append(peak)
    return pair


@dataclass
class Row:
    """One line of the table. *passed* is None where nothing could be measured."""

    figure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    passed: bool | None
    note: str = ""


def time_row(figure: str, pair: Pair, *, target: float, note: str = "") -> Row:
    """A row comparing the two sides' times; passes when the ratio is at most *target*."""
    ratio = pair.ratio
    return Row(
        figure,
        _duration(median(pair.ours)),
        _duration(median(pair.baseline)),
        f"{ratio:.2f}x",
        f"<= {target:g}x",
        ratio <= target,
        note,
    )


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e6:.0f} us"


def memory_row(figure: str, peak_mib: float, *, below: float, baseline: str = "-") -> Row:
    return Row(figure, f"{peak_mib:.1f} MiB", baseline, "-", f"< {below:g} MiB", peak_mib < below)


def print_table(rows: Sequence[Row], *, out: Callable[[str], None] = print) -> None:
    headers = ("figure", "ours", "baseline", "ratio", "target", "result")
    cells = [(r.figure, r.ours, r.baseline, r.ratio, r.target, _verdict(r.passed)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    out("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    out("  ".join("-" * w for w in widths))
    for row, cell in zip(rows, cells, strict=True):
        out("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        if row.note:
            out(f"    {row.note}")


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else "pass" if passed else "FAIL"


class Scratch:
    """A temporary home for lumen: its own config and data folders and no LUMEN_* setting
    from the caller's environment, so nothing real (key, profile, history) is read or
    written. Removed on exit."""

    def __init__(self, prefix: str = "lumen-bench-") -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.config = self.root / "config"
        self.data = self.root / "data"
        self.history = self.data / "history.sqlite3"

    def env(self, **extra: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("LUMEN_")}
        env.update(
            LUMEN_CONFIG_DIR=str(self.config),
            LUMEN_DATA_DIR=str(self.data),
            COLUMNS="100",
        )
        env.update(extra)
        return env

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def sandbox(*, job_seconds: float = 1.0) -> Iterator[str]:
    """A sandbox in its own process on a free port; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lumen_cli.sandbox",
            "--port",
            "0",
            "--job-seconds",
            str(job_seconds),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # "lumen sandbox listening on http://…"
        if "listening on " not in line:
            raise RuntimeError(f"the sandbox did not start: {line.strip()}")
        # Whatever else it says is read and dropped, so a full pipe never stalls it.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(10)


_MODELS = ("seedance-2", "seedance-2-fast", "veo-3-1")
_PHRASES = (
    "a cat running on the grass",
    "cinematic",
    "a slow pan over a city at night",
    "waves on a rocky shore at dawn",
    "a paper boat drifting down a gutter in the rain",
    "neon signs flickering in fog",
    "a hummingbird over red flowers",
    "slow motion",
    "35 mm film, shallow depth of field",
)
# How a long-used history looks: most jobs succeeded, a few failed or were cancelled.
_STATUSES = ("succeeded",) * 85 + ("failed",) * 8 + ("cancelled",) * 3 + ("unknown",) * 4


def seed_history(path: Path, count: int, *, base_url: str, profile: str = "default") -> None:
    """Write *count* finished jobs, one every 10 minutes back from now, into a new history at
    *path* (its schema made by lumen itself, so it is the current one)."""
    from lumen_cli.history import History

    history = History(path)
    history.counts()  # creates the file at the current schema
    history.close()
    rng = random.Random(11)  # noqa: S311 - the same history every run
    now = time.time()
    rows = []
    for n in range(count):
        job_id = f"v{n:08x}{rng.getrandbits(64):016x}"
        created = now - (count - n) * 600.0
        status = rng.choice(_STATUSES)
        model = rng.choice(_MODELS)
        prompt = ", ".join(rng.sample(_PHRASES, rng.randint(1, 4)))
        request = {"model": model, "prompt": prompt, "duration": rng.choice((4, 5, 8))}
        succeeded = status == "succeeded"
        urls = [f"{base_url}/files/{job_id}/0.mp4"] if succeeded else []
        paths = [f"clips/{job_id}.mp4"] if succeeded and n % 2 else []
        error = "the prompt was refused by the safety policy" if status == "failed" else None
        rows.append(
            (
                job_id,
                profile,
                base_url,
                created,
                created + 90,
                status,
                model,
                prompt,
                "text-to-video",
                json.dumps(request),
                error,
                json.dumps(urls),
                json.dumps(paths),
            )
        )
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO jobs (id, profile, base_url, created_at, updated_at, status, model,"
            " prompt, mode, request, error, urls, paths) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
