"""Start-up cost of `lumen --version` and `lumen --help`, as ratios to `import typer`.

Runs the three commands alternately (so machine noise hits all of them alike) and
prints medians and ratios.

    python benchmarks/bench_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.common import LUMEN, median, run_timed

CASES = {
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "lumen --version": [*LUMEN, "--version"],
    "lumen --help": [*LUMEN, "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100"}
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, command in CASES.items():
            times[name].append(run_timed(command, env)[0])
    baseline = median(times["python -c 'import typer'"])
    print(f"{'command':<28} {'median ms':>10} {'ratio':>7}")
    for name, samples in times.items():
        print(f"{name:<28} {median(samples) * 1000:>10.1f} {median(samples) / baseline:>7.2f}")


if __name__ == "__main__":
    main()
