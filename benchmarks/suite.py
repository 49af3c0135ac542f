"""The benchmark suite: what each figure needs, set up once, and the table they all end in.

``python -m benchmarks`` runs every figure; name some to run only those, or ``--quick`` for
the ones that take seconds. Each figure times lumen and a baseline in alternating rounds
(after a warm-up) and compares medians; see README, "Development".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from benchmarks.common import KEY, Row, Scratch, byte_compile, print_table, sandbox, seed_history

HISTORY_JOBS = 10_000
MIN_ROUNDS = 5


class Suite:
    """The shared set-up of one run: started on first use, stopped at the end."""

    def __init__(self, *, rounds: int) -> None:
        self.rounds = rounds
        self.stack = contextlib.ExitStack()

    @cached_property
    def sandbox_url(self) -> str:
        """A sandbox in its own process, on a free port."""
        return self.stack.enter_context(sandbox())

    @cached_property
    def home(self) -> Scratch:
        """A scratch home whose history holds ``HISTORY_JOBS`` jobs, pointed at the sandbox."""
        scratch = self.scratch()
        seed_history(scratch.history, HISTORY_JOBS, base_url=self.sandbox_url)
        return scratch

    def scratch(self) -> Scratch:
        """A new scratch home, removed at the end of the run."""
        return self.stack.enter_context(Scratch())

    def env(self, home: Scratch | None = None, **extra: str) -> dict[str, str]:
        """The environment of a lumen run in *home* (the seeded one by default), with the
        sandbox as its API."""
        home = home or self.home
        return home.env(LUMEN_BASE_URL=self.sandbox_url, LUMEN_API_KEY=KEY, **extra)

    def api(self, method: str, path: str, body: object = None) -> dict[str, object]:
        """One request to the sandbox, as a test client would send it."""
        request = urllib.request.Request(  # noqa: S310 - our own loopback sandbox
            self.sandbox_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            document = json.loads(answer.read())
        assert isinstance(document, dict)
        return document

    def close(self) -> None:
        self.stack.close()


@dataclass(frozen=True)
class Figure:
    measure: Callable[[Suite], list[Row]]
    what: str
    slow: bool = False  # minutes rather than seconds: left out of --quick


def figures() -> dict[str, Figure]:
    from benchmarks import bench_batch, bench_commands, bench_download, bench_startup, bench_wait

    return {
        "version": Figure(bench_startup.version, "lumen --version vs python -c 'import typer'"),
        "help": Figure(bench_startup.help_page, "lumen --help vs python -c 'import typer'"),
        "completion": Figure(bench_startup.completion, "lumen wait <TAB> vs lumen --version"),
        "status": Figure(bench_commands.status, "lumen status ID vs an httpx GET"),
        "list": Figure(bench_commands.listing, "lumen list (10,000 jobs) vs lumen --version"),
        "list-filter": Figure(
            bench_commands.list_filter, "list --status succeeded vs list, --limit 20"
        ),
        "download-link": Figure(
            bench_download.over_a_link, "lumen download vs curl -o, 256 MiB at 64 MB/s", True
        ),
        "download-loopback": Figure(
            bench_download.on_loopback, "lumen download vs curl -o && sync, 1 GiB", True
        ),
        "wait": Figure(bench_wait.wait_all, "lumen wait --all on 1,000 running jobs", True),
        "batch": Figure(bench_batch.batch, "lumen batch vs an httpx floor, 500 lines", True),
    }


def main(argv: Sequence[str] | None = None) -> int:
    known = figures()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time lumen against its baselines and print one table (see README).",
    )
    parser.add_argument(
        "figures", nargs="*", metavar="FIGURE", help=f"run only these: {', '.join(known)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="only the figures that take seconds, not minutes"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=7,
        help=f"kept rounds per pair, after one warm-up (at least {MIN_ROUNDS}; default 7)",
    )
    parser.add_argument("--list", action="store_true", help="list the figures and stop")
    args = parser.parse_args(argv)
    if args.list:
        for name, figure in known.items():
            print(f"{name:<18} {figure.what}{'  (slow)' if figure.slow else ''}")
        return 0
    unknown = [name for name in args.figures if name not in known]
    if unknown:
        parser.error(f"no figure {', '.join(unknown)}; --list shows them")
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds takes {MIN_ROUNDS} or more")
    chosen = args.figures or [n for n, f in known.items() if not (args.quick and f.slow)]

    byte_compile()
    suite = Suite(rounds=args.rounds)
    load = os.getloadavg()[0]
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name in chosen:
            print(f"running {name}: {known[name].what}", file=sys.stderr, flush=True)
            rows += known[name].measure(suite)
    finally:
        suite.close()
    print(
        f"\n{len(chosen)} figure(s) in {time.monotonic() - started:.0f} s, load average "
        f"{load:.1f} then {os.getloadavg()[0]:.1f}. Pairs: {args.rounds} rounds after a "
        "warm-up; ours and baseline are medians, the ratio is the median of the rounds' ratios."
    )
    print_table(rows)
    return 1 if any(row.passed is False for row in rows) else 0
