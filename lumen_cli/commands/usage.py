"""``lumen usage``: jobs, seconds of video and estimated credits, from the history alone."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from lumen_cli.commands.options import JsonOutput, Since, parse_since
from lumen_cli.context import app_context
from lumen_cli.errors import BadInput


def usage(
    ctx: typer.Context,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Group the jobs by model, day (local dates), profile (every profile of "
            "the history) or batch.",
        ),
    ] = "model",
    since: Since = None,
    json_output: JsonOutput = False,
) -> None:
    """Show jobs, seconds of video and estimated credits, from the history.

    Read from the local history alone: nothing is asked of the API. For each model (or
    day, profile, batch): jobs and how they ended, seconds of video requested (a job
    without a duration counts the API's default 5 s), delivered (succeeded) and refunded
    (failed: the API gives their credits back). With a [prices] table in the config file
    (credits per second, by model and resolution), seconds turn into estimated credits;
    failed jobs are counted apart.

    A table and a bar chart of seconds per day on a terminal; piped, one tab-separated
    line per group (group, jobs, succeeded, failed, cancelled, unknown, running, seconds
    requested, delivered, refunded, credits, refunded credits); --json, one document.

    **Examples**

        lumen usage

        lumen usage --since 7d --by day

        lumen usage --by batch --json | jq '.groups[] | {batch, credits_estimate}'
    """
    from lumen_cli.output.usage import show_usage
    from lumen_cli.services.usage import BY, usage_of

    state = app_context(ctx, json_output=json_output)
    grouping = by.strip().lower()
    if grouping not in BY:
        raise BadInput(f"unknown --by {by!r}", hint=f"Use one of: {', '.join(BY)}.")
    since_ts = parse_since(since, time.time()) if since else None
    found = usage_of(state, by=grouping, since=since_ts)
    if not found.total.jobs and not json_output:
        state.output.info("no jobs match" if since else "no jobs in the history yet")
        return
    show_usage(state.output, found.to_json())
