"""lumen: the command-line tool for the Lumen video API."""

import sys

__version__ = "0.1.0"

# `import httpx` also imports httpx's own command-line program when click, rich and pygments
# are installed (typer and rich bring them): about 40 ms, half of importing httpx, for
# nothing lumen uses. httpx expects that import to fail where they are missing; a None entry
# makes it fail. Here, so that it holds before any lumen module imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
