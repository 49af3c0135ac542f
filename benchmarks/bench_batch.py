"""``lumen batch``: time against the floor for a Python client, throughput against one
``lumen submit`` per line, and memory flat in the number of lines (see batch.md).

The sandbox runs in its own process. Each round sends the same 500 prompts with
``lumen batch FILE --concurrency 8`` and with the floor (a minimal script sending the same
POSTs over one ``httpx.Client`` with 8 threads: no history, no checks, no output), each
against a fresh history, in alternation; then the same with 1,000 lines, so that the time
splits into a part per line (the slope) and a fixed part. ``lumen submit`` per line, as a
shell loop sends them, is timed over 40 lines and scaled. Last, the peak RSS of
``lumen batch`` over 5,000 lines.

* batch / floor, 500 lines: target 1.5x;
* throughput, batch / submit per line: target 4x or more;
* peak RSS over 5,000 lines: target under 100 MiB.

    python -m benchmarks.bench_batch [--rounds 7]
    python -m benchmarks batch [--rounds 7]    # the same
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import (
    LUMEN,
    Pair,
    Row,
    alternate,
    median,
    memory_row,
    run_timed,
    time_row,
)

if TYPE_CHECKING:
    from benchmarks.suite import Suite

LINES = 500
MEMORY_LINES = 5000
SUBMIT_SAMPLE = 40
CONCURRENCY = 8
# The floor: what a careful script does with httpx and nothing else.
FLOOR = """
import os, sys, httpx
from concurrent.futures import ThreadPoolExecutor
url, path, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
prompts = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
headers = {"Authorization": "Bearer " + os.environ["LUMEN_API_KEY"]}
with httpx.Client(base_url=url, headers=headers, limits=limits) as client:
    def send(prompt):
        body = {"model": "seedance-2", "prompt": prompt}
        client.post("/v1/videos/generations", json=body).raise_for_status()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, prompts))
"""


def _prompts(path: Path, count: int) -> Path:
    path.write_text(
        "".join(f"benchmark line {n}: a cat running on the grass\n" for n in range(count))
    )
    return path


def batch(suite: Suite) -> list[Row]:
    home = suite.scratch()
    env = suite.env(home)

    def fresh_history() -> None:
        shutil.rmtree(home.data, ignore_errors=True)

    def pair(lines: int) -> Pair:
        path = _prompts(home.root / f"prompts-{lines}.txt", lines)
        return alternate(
            [*LUMEN, "batch", str(path), "--concurrency", str(CONCURRENCY)],
            [sys.executable, "-c", FLOOR, suite.sandbox_url, str(path), str(CONCURRENCY)],
            rounds=suite.rounds,
            env=env,
            before=fresh_history,
        )

    single, double = pair(LINES), pair(2 * LINES)
    sample = _prompts(home.root / "sample.txt", SUBMIT_SAMPLE).read_text().splitlines()
    fresh_history()
    per_submit = median([run_timed([*LUMEN, "submit", line, "-q"], env)[0] for line in sample])
    fresh_history()
    path = _prompts(home.root / f"prompts-{MEMORY_LINES}.txt", MEMORY_LINES)
    _, peak = run_timed([*LUMEN, "batch", str(path), "--concurrency", str(CONCURRENCY)], env)

    batch_s, floor_s = median(single.ours), median(single.baseline)
    slope_batch = (median(double.ours) - batch_s) / LINES
    slope_floor = (median(double.baseline) - floor_s) / LINES
    split = (
        f"per line {slope_batch * 1000:.2f} / {slope_floor * 1000:.2f} ms, fixed "
        f"{batch_s - slope_batch * LINES:.2f} / {floor_s - slope_floor * LINES:.2f} s "
        "(batch / floor)"
    )
    throughput = per_submit * LINES / batch_s
    return [
        time_row(f"batch {LINES} lines / httpx floor", single, target=1.5, note=split),
        Row(
            f"batch {LINES} lines / submit per line",
            f"{LINES / batch_s:.0f} lines/s",
            f"{1 / per_submit:.1f} lines/s",
            f"{throughput:.0f}x",
            ">= 4x",
            throughput >= 4,
        ),
        memory_row(f"batch {MEMORY_LINES:,} lines peak RSS", peak, below=100),
    ]


def main() -> None:
    from benchmarks.suite import main as suite_main

    sys.exit(suite_main(["batch", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
