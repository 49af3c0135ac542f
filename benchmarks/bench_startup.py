"""Start-up: ``lumen --version`` and ``lumen --help`` against ``python -c "import typer"`` (the
floor for a Typer program), and completion of ``lumen wait <TAB>`` against ``lumen --version``,
run as bash runs it, with 10,000 jobs in the history.

    python -m benchmarks.bench_startup [--rounds 7]
    python -m benchmarks version help completion [--rounds 7]    # the same
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from benchmarks.common import LUMEN, Row, alternate, time_row

if TYPE_CHECKING:
    from benchmarks.suite import Suite

IMPORT_TYPER = [sys.executable, "-c", "import typer"]
VERSION = [*LUMEN, "--version"]


def version(suite: Suite) -> list[Row]:
    env = suite.scratch().env()
    pair = alternate(VERSION, IMPORT_TYPER, rounds=suite.rounds, env=env)
    return [time_row("lumen --version / import typer", pair, target=1.3)]


def help_page(suite: Suite) -> list[Row]:
    env = suite.scratch().env()
    pair = alternate([*LUMEN, "--help"], IMPORT_TYPER, rounds=suite.rounds, env=env)
    return [time_row("lumen --help / import typer", pair, target=1.6)]


def completion(suite: Suite) -> list[Row]:
    """What bash's completion function runs for ``lumen wait <TAB>`` (completions/lumen.bash)."""
    env = suite.env()
    asked = {
        **env,
        "_LUMEN_COMPLETE": "complete_bash",
        "COMP_WORDS": "lumen wait ",
        "COMP_CWORD": "2",
    }
    pair = alternate(LUMEN, VERSION, rounds=suite.rounds, env=asked, baseline_env=env)
    return [time_row("lumen wait <TAB> (10,000 jobs) / --version", pair, target=1.5)]


def main() -> None:
    from benchmarks.suite import main as suite_main

    sys.exit(suite_main(["version", "help", "completion", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
