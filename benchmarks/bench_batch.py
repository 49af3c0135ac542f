"""`lumen batch`: throughput against the floor for a Python client, and memory flat in lines.

The sandbox runs in its own process. Three ways of sending the same 500 prompts run
alternately (so machine noise hits all of them alike), each against a fresh history:

* `lumen batch FILE --concurrency 8`;
* the floor: a minimal script sending the same 500 POSTs over one `httpx.Client` with 8
  threads (no history, no checks, no output);
* a shell loop's way: one `lumen submit` process per line, sequentially (timed over a sample
  of lines, as lines per second).

Each round also sends twice the lines with batch and the floor, so that the time splits
into a fixed part (start-up) and a part per line (the slope between the two sizes). Then
the peak RSS of `lumen batch` over 500 and over 5,000 lines. Prints medians and ratios.

lumen's modules are byte-compiled first, as an installation does (this matters where
PYTHONDONTWRITEBYTECODE is set: otherwise every run would compile them again).

    python -m benchmarks.bench_batch [--lines 500] [--rounds 5] [--submit-sample 40]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import lumen_cli
from benchmarks.common import LUMEN, median, run_timed

KEY = "sk-lumen-bench"
CONCURRENCY = 8
# The floor: what a careful script does with httpx and nothing else.
FLOOR = """
import sys, httpx
from concurrent.futures import ThreadPoolExecutor
url, path, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
prompts = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
with httpx.Client(base_url=url, headers={"Authorization": "Bearer KEY"}, limits=limits) as client:
    def send(prompt):
        body = {"model": "seedance-2", "prompt": prompt}
        client.post("/v1/videos/generations", json=body).raise_for_status()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, prompts))
""".replace("KEY", KEY)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_prompts(path: Path, count: int) -> Path:
    path.write_text(
        "".join(f"benchmark line {n}: a cat running on the grass\n" for n in range(count))
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--submit-sample", type=int, default=40, help="lines sent by submit")
    parser.add_argument("--memory-lines", type=int, default=5000)
    args = parser.parse_args()

    compileall.compile_dir(str(Path(lumen_cli.__file__).parent), quiet=1)
    scratch = Path(tempfile.mkdtemp(prefix="lumen-bench-batch-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli.sandbox", "--port", str(port), "--job-seconds", "5"],
        stderr=subprocess.PIPE,
    )
    try:
        assert sandbox.stderr is not None
        sandbox.stderr.readline()  # "listening on …"
        prompts = write_prompts(scratch / "prompts.txt", args.lines)
        double = write_prompts(scratch / "double.txt", 2 * args.lines)
        sample = write_prompts(scratch / "sample.txt", args.submit_sample)

        def env(name: str) -> dict[str, str]:
            data = scratch / name
            shutil.rmtree(data, ignore_errors=True)
            return {
                **os.environ,
                "LUMEN_CONFIG_DIR": str(scratch / "config"),
                "LUMEN_DATA_DIR": str(data),
                "LUMEN_BASE_URL": url,
                "LUMEN_API_KEY": KEY,
            }

        def batch_cmd(path: Path) -> list[str]:
            return [*LUMEN, "batch", str(path), "--concurrency", str(CONCURRENCY)]

        def floor_cmd(path: Path) -> list[str]:
            return [sys.executable, "-c", FLOOR, url, str(path), str(CONCURRENCY)]

        names = ("batch", "floor", "submit", "batch2", "floor2")
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.rounds):
            times["batch"].append(run_timed(batch_cmd(prompts), env("batch"))[0])
            times["floor"].append(run_timed(floor_cmd(prompts), env("floor"))[0])
            times["batch2"].append(run_timed(batch_cmd(double), env("batch"))[0])
            times["floor2"].append(run_timed(floor_cmd(double), env("floor"))[0])
            per_line = []
            submit_env = env("submit")
            for prompt in sample.read_text().splitlines():
                per_line.append(run_timed([*LUMEN, "submit", prompt, "-q"], submit_env)[0])
            times["submit"].append(sum(per_line) / len(per_line) * args.lines)

        memory = {}
        for count in (args.lines, args.memory_lines):
            path = write_prompts(scratch / f"memory-{count}.txt", count)
            cmd = [*LUMEN, "batch", str(path), "--concurrency", str(CONCURRENCY)]
            memory[count] = run_timed(cmd, env(f"memory-{count}"))[1]
    finally:
        sandbox.terminate()
        sandbox.wait()
        shutil.rmtree(scratch, ignore_errors=True)

    batch, floor, submit, batch2, floor2 = (median(times[name]) for name in names)
    print(
        f"{args.lines} lines against the sandbox, concurrency {CONCURRENCY}, "
        f"medians of {args.rounds} rounds"
    )
    print(f"{'way of sending':<44} {'seconds':>8} {'lines/s':>8}")
    rows = [
        ("lumen batch --concurrency 8", batch),
        ("floor: httpx.Client, 8 threads, no history", floor),
        (f"lumen submit per line (x{args.lines}, from {args.submit_sample})", submit),
    ]
    for name, seconds in rows:
        print(f"{name:<44} {seconds:>8.2f} {args.lines / seconds:>8.0f}")
    print(f"throughput, batch / submit per line : {submit / batch:6.1f}x  (target >= 4)")
    print(f"time, batch / floor                 : {batch / floor:6.2f}x  (target <= 1.5)")
    per_batch, per_floor = (batch2 - batch) / args.lines, (floor2 - floor) / args.lines
    fixed_batch, fixed_floor = batch - per_batch * args.lines, floor - per_floor * args.lines
    print(
        f"per line (slope {args.lines}->{2 * args.lines}) : batch {per_batch * 1000:.2f} ms, "
        f"floor {per_floor * 1000:.2f} ms, ratio {per_batch / per_floor:.2f}x"
    )
    print(
        f"fixed (intercept)                   : batch {fixed_batch:.2f} s, "
        f"floor {fixed_floor:.2f} s"
    )
    small, large = memory[args.lines], memory[args.memory_lines]
    print(f"peak RSS, {args.lines} lines  : {small:6.1f} MiB")
    print(
        f"peak RSS, {args.memory_lines} lines : {large:6.1f} MiB  (target < 100; "
        f"ratio {large / small:.2f})"
    )


if __name__ == "__main__":
    main()
