"""The API layer: the HTTP client, typed job models, retries and polling. It never prints."""

import sys

# `import httpx` also imports httpx's own command-line program when click, rich and pygments
# are installed (typer and rich bring them): about 40 ms, half of importing httpx, for
# nothing lumen uses. httpx expects that import to fail where they are missing, and a None
# entry makes it fail. Every lumen module that imports httpx does so after this package.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
