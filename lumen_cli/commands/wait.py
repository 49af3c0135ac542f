"""``lumen wait``: follow jobs until they end, optionally saving each as it succeeds."""

from __future__ import annotations

from typing import Annotated

import typer

from lumen_cli.commands.options import (
    Download,
    DownloadWorkers,
    Interval,
    JsonOutput,
    OutputTemplate,
    Timeout,
)
from lumen_cli.context import app_context
from lumen_cli.download import DOWNLOAD_WORKERS
from lumen_cli.errors import BadInput


def wait(
    ctx: typer.Context,
    job_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Job ids to wait for.", show_default=False, metavar="ID..."),
    ] = None,
    all_jobs: Annotated[
        bool, typer.Option("--all", help="Wait for every unfinished job in the history.")
    ] = False,
    timeout: Timeout = None,
    interval: Interval = None,
    download: Download = False,
    output: OutputTemplate = None,
    download_workers: DownloadWorkers = DOWNLOAD_WORKERS,
    json_output: JsonOutput = False,
) -> None:
    """Wait until jobs end, and report how each ended.

    Exits 0 if all succeeded, 7 if one failed, 8 if one was cancelled, 9 if the timeout
    passed first (the worst of these).

    On a terminal a live table shows each job; elsewhere one line per state change goes
    to stderr. Ctrl-C stops waiting (exit 130); the jobs stay in the history.

    **Examples**

        lumen wait v1a2b3c4d5

        lumen wait --all --timeout 600 --download -o "clips/{date}/{id}.mp4"

        lumen wait v1a2b3c4d5 --json | jq -r '.data[0].url'
    """
    state = app_context(ctx, json_output=json_output)
    if all_jobs and job_ids:
        raise BadInput("pass job ids or --all, not both")
    if all_jobs:
        ids = [
            record.id
            for record in state.history.list(
                profile=state.settings.profile, statuses=("queued", "processing")
            )
        ]
        if not ids:
            state.output.info("no unfinished jobs in the history")
            if json_output:
                state.output.json([])
            return
    elif job_ids:
        ids = list(dict.fromkeys(job_ids))
    else:
        raise BadInput("which jobs? pass job ids, or --all", hint="See `lumen list`.")
    from lumen_cli.services.follow import follow

    followed = follow(
        state,
        ids,
        timeout=timeout,
        interval=interval,
        download=download,
        output=output,
        download_workers=download_workers,
    )
    raise typer.Exit(followed.report(state, single=len(ids) == 1 and not all_jobs))
