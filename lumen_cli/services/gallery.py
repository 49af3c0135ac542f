"""``lumen gallery``: the history's jobs as one offline HTML page (``output.gallery``).

The page names each saved video by its path relative to the page, so the page and its
videos can move together (to a USB stick, a shared folder) and still play. The page is
written atomically (a reader sees the old page or the new one) and never through a
symlink. ``--open`` hands it to the browser without the secrets of lumen's environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lumen_cli.errors import BadInput, LumenError
from lumen_cli.output.jobs import job_document
from lumen_cli.services.shell import child_environment

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lumen_cli.history import JobRecord
    from lumen_cli.services import Runtime

DEFAULT_PAGE = "lumen-gallery.html"
PAGE_MODE = 0o644  # a page to share, as sidecars are
BROWSER_WAIT = 2.0  # seconds an opener (xdg-open) has to fail before it counts as started


def page_path(output: str | None) -> Path:
    """Where the page goes: *output* (a file, or a folder to hold ``lumen-gallery.html``),
    else ``./lumen-gallery.html``; always absolute."""
    if output == "-":
        raise BadInput(
            "-o - (standard output) is not supported: the page is a file beside its videos",
            hint="--json prints what the page would hold on stdout.",
        )
    if not output:
        return Path(os.path.abspath(DEFAULT_PAGE))
    expanded = os.path.expanduser(output)
    if expanded.endswith(("/", os.sep)) or os.path.isdir(expanded):
        return Path(os.path.abspath(os.path.join(expanded, DEFAULT_PAGE)))
    return Path(os.path.abspath(expanded))


def video_src(path: str, page_dir: Path) -> str:
    """The address of the file *path* from a page in *page_dir*: relative, percent-encoded
    (a ``#`` or ``?`` in a name stays part of it), never a scheme or a host."""
    try:
        relative = os.path.relpath(path, page_dir)
    except ValueError:  # another drive (Windows): only an absolute address reaches it
        return Path(path).as_uri()
    encoded = quote(Path(relative).as_posix(), safe="/")
    return encoded if encoded.startswith("../") else f"./{encoded}"


def gallery_records(
    rt: Runtime,
    *,
    status: str | None = None,
    model: str | None = None,
    since: float | None = None,
    batch: str | None = None,
) -> list[JobRecord]:
    """This profile's jobs for the page, newest first; a *batch* must exist."""
    profile = rt.settings.profile
    if batch is not None and batch not in {known.name for known in rt.history.batches(profile)}:
        raise BadInput(f"no batch named {batch!r} in the history", hint="See `lumen batch list`.")
    return rt.history.list(status=status, model=model, since=since, profile=profile, batch=batch)


def gallery_items(records: Sequence[JobRecord], page: Path) -> list[dict[str, Any]]:
    """What the page holds: each job's document with its ``videos`` (path, src, exists)."""
    items = []
    for record in records:
        item = job_document(None, record)
        item["videos"] = [
            {
                "path": path,
                "src": video_src(path, page.parent),
                "exists": os.path.isfile(path),
            }
            for path in record.paths
        ]
        items.append(item)
    return items


def write_page(page: Path, html: str) -> None:
    """Write *html* to *page* atomically; a symlink there is refused, not followed."""
    from lumen_cli.fsutil import atomic_write

    if page.is_symlink():
        raise BadInput(
            f"{page} is a symlink: refusing to write the gallery through it",
            hint="Remove the link, or pass another -o.",
        )
    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(page, html.encode("utf-8"), mode=PAGE_MODE)
    except OSError as exc:
        raise LumenError(f"cannot write {exc.filename or page}: {exc.strerror or exc}") from None


def open_in_browser(page: Path) -> str | None:
    """Ask the browser to show *page*: ``$BROWSER`` (a list of commands separated by
    ``os.pathsep``, ``%s`` standing for the address), else the desktop's opener. Returns
    the command started, or None when none could be. The child gets lumen's environment
    without its secrets (the API key, the webhook secret)."""
    import shlex
    import subprocess

    url = page.as_uri()
    browsers = [cmd for cmd in os.environ.get("BROWSER", "").split(os.pathsep) if cmd.strip()]
    if sys.platform == "win32" and not browsers:  # pragma: no cover - Windows only
        os.startfile(url)  # type: ignore[attr-defined]  # noqa: S606
        return "the default browser"
    if not browsers:
        browsers = ["open" if sys.platform == "darwin" else "xdg-open"]
    env = child_environment()  # no secrets for the browser either
    for browser in browsers:
        words = shlex.split(browser)
        command = [word.replace("%s", url) for word in words]
        if not any("%s" in word for word in words):
            command.append(url)
        try:
            process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # the browser outlives lumen, and Ctrl-C of it
            )
        except OSError:
            continue
        try:
            if process.wait(timeout=BROWSER_WAIT) != 0:
                continue  # xdg-open with no desktop: try the next one
        except subprocess.TimeoutExpired:
            pass  # a browser itself, still running: it has the page
        return words[0]
    return None
