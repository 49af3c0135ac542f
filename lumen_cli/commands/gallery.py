"""``lumen gallery``: one offline HTML page of the history's jobs and their videos."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from lumen_cli.commands.options import (
    BatchFilter,
    ModelFilter,
    Since,
    StatusFilter,
    check_status,
    parse_since,
)
from lumen_cli.context import app_context


def gallery(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="The page to write: a file, or a folder to hold lumen-gallery.html.",
            show_default=False,
            show_envvar=False,  # not the `output` setting of downloads
            metavar="FILE",
        ),
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser ($BROWSER).")
    ] = False,
    status: StatusFilter = None,
    model: ModelFilter = None,
    since: Since = None,
    batch: BatchFilter = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print what the page would hold (a JSON array); write no page."
        ),
    ] = False,
) -> None:
    """Write one HTML page of the history's jobs: videos, prompts, filters.

    One card per job of this profile, newest first: the saved video (by its path relative
    to the page, so the folder can move), the prompt, model, resolution, aspect ratio,
    duration, status, time, id and saved path, or the error of a failed job. A job not
    downloaded shows its result URL, which may have expired. The page works offline: a
    search box and status and model toggles in plain JavaScript, no network at all.

    Default page: ./lumen-gallery.html. Its path is printed on stdout.

    **Examples**

        lumen gallery

        lumen gallery --batch shots -o clips/ --open

        lumen gallery --status succeeded --since 7d -o week.html

        lumen gallery --json | jq -r '.[].videos[].src'
    """
    from lumen_cli import __version__
    from lumen_cli.output.gallery import render_page
    from lumen_cli.services.gallery import (
        gallery_items,
        gallery_records,
        open_in_browser,
        page_path,
        write_page,
    )

    state = app_context(ctx, json_output=json_output)
    out = state.output
    status = check_status(status)
    now = time.time()
    since_ts = parse_since(since, now) if since else None
    page = page_path(output)
    records = gallery_records(state, status=status, model=model, since=since_ts, batch=batch)
    items = gallery_items(records, page)
    if json_output:
        out.json(items)
        return
    filters = " ".join(
        f"{flag} {value}"
        for flag, value in (
            ("--status", status),
            ("--model", model),
            ("--since", since),
            ("--batch", batch),
        )
        if value is not None
    )
    from lumen_cli.output.jobs import format_time
    from lumen_cli.text import plural

    heading = (
        f"{plural(len(items), 'job')} of profile {state.settings.profile}"
        + (f" ({filters})" if filters else "")
        + f", newest first · made {format_time(now)}"
    )
    write_page(page, render_page(items, heading=heading, version=__version__))
    videos = sum(1 for item in items for video in item["videos"] if video["exists"])
    out.data(str(page))
    out.info(
        f"wrote {out.short_path(str(page))}: {plural(len(items), 'job')}, "
        f"{plural(videos, 'saved video')}"
    )
    if not items:
        out.hint("No job matches: the page is empty." if filters else "The history is empty.")
    if open_page:
        opener = open_in_browser(page)
        if opener is None:
            out.warn(f"no browser could be started: open {page} yourself")
        else:
            out.info(f"opened with {opener}")
