"""The commands run in loops, over a history of 10,000 jobs: ``lumen status ID`` against a
``python -c`` that imports httpx and sends the same GET, ``lumen list`` against
``lumen --version``, and ``list --status succeeded --limit 20`` against ``list --limit 20``.

    python -m benchmarks.bench_commands [--rounds 7]
    python -m benchmarks status list list-filter [--rounds 7]    # the same
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from benchmarks.common import LUMEN, Pair, Row, alternate, memory_row, time_row

if TYPE_CHECKING:
    from benchmarks.suite import Suite

# What a careful script does for one job's status: httpx, one GET, the key from the environment.
GET = (
    "import os, sys, httpx\n"
    "key = os.environ['LUMEN_API_KEY']\n"
    "answer = httpx.get(sys.argv[1], headers={'Authorization': 'Bearer ' + key})\n"
    "answer.raise_for_status()\n"
    "print(answer.json()['status'])\n"
)
# The same, without httpx's own command-line program, which `import httpx` loads when click,
# rich and pygments are installed and which lumen keeps out (lumen_cli/__init__.py).
LEAN_GET = "import sys; sys.modules['httpx._main'] = None\n" + GET
QUERY_ROUNDS = 300


def status(suite: Suite) -> list[Row]:
    job = suite.api("POST", "/v1/videos/generations", {"model": "seedance-2", "prompt": "a cat"})
    job_id = str(job["id"])
    suite.api("POST", f"/_sandbox/jobs/{job_id}/finish", {"status": "succeeded"})
    url = f"{suite.sandbox_url}/v1/videos/generations/{job_id}"
    env = suite.env()
    ours = [*LUMEN, "status", job_id]
    pair = alternate(ours, [sys.executable, "-c", GET, url], rounds=suite.rounds, env=env)
    lean = alternate(ours, [sys.executable, "-c", LEAN_GET, url], rounds=suite.rounds, env=env)
    row = time_row("lumen status ID / httpx GET", pair, target=1.3)
    info = time_row("  the same, GET without httpx's CLI", lean, target=1.3)
    return [row, Row(info.figure, info.ours, info.baseline, info.ratio, "-", None)]


def listing(suite: Suite) -> list[Row]:
    env = suite.env()
    pair = alternate([*LUMEN, "list"], [*LUMEN, "--version"], rounds=suite.rounds, env=env)
    return [
        time_row("lumen list (10,000 jobs) / --version", pair, target=2.0),
        memory_row("lumen list (10,000 jobs) peak RSS", max(pair.ours_rss), below=60),
    ]


def list_filter(suite: Suite) -> list[Row]:
    """A filter costs nothing: ``list --status succeeded --limit 20`` against ``list --limit
    20``, whole processes; then the history's query alone, in this process, for a status
    that 3 % of the jobs have. With most jobs succeeded, walking the history newest first
    finds 20 of them at once, index or not; a rare status shows whether the index is used
    (without it the query takes about 1.5x). "No slower" allows 5 % for noise."""
    from lumen_cli.history import History

    env = suite.env()
    filtered = [*LUMEN, "list", "--status", "succeeded", "--limit", "20"]
    pair = alternate(filtered, [*LUMEN, "list", "--limit", "20"], rounds=suite.rounds, env=env)
    history = History(suite.home.history)
    query = Pair()
    for _ in range(QUERY_ROUNDS):
        for status, times in (("cancelled", query.ours), (None, query.baseline)):
            started = time.perf_counter()
            history.list(profile="default", status=status, limit=20)
            times.append(time.perf_counter() - started)
    history.close()
    return [
        time_row("list --status succeeded / list, --limit 20", pair, target=1.05),
        time_row("  the query alone, --status cancelled", query, target=1.05),
    ]


def main() -> None:
    from benchmarks.suite import main as suite_main

    sys.exit(suite_main(["status", "list", "list-filter", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
