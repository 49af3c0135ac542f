"""Write the files made from the code: the completion scripts in completions/ and the man
page man/lumen.1. Run it after changing a command, a flag or a docstring:

    python scripts/generate.py

Tests fail while a generated file is stale (tests/test_completion.py, tests/test_help.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = {"bash": "bash", "zsh": "zsh", "fish": "fish", "powershell": "ps1"}


def generated() -> dict[Path, str]:
    """Every generated file of the repository and what it must hold."""
    from lumen_cli import __version__
    from lumen_cli.app import help_pages
    from lumen_cli.completion import SHELLS, script
    from lumen_cli.output.help import man_page

    files = {ROOT / "completions" / f"lumen.{SUFFIXES[shell]}": script(shell) for shell in SHELLS}
    # The date is the version's, not today's: the page changes only when the help does.
    files[ROOT / "man" / "lumen.1"] = man_page(help_pages(), version=__version__, date="")
    return files


def main() -> int:
    for path, text in generated().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
