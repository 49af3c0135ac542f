"""``lumen list``: the job history, newest first."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from lumen_cli.commands.options import (
    BatchFilter,
    HostFilter,
    JsonOutput,
    Mine,
    ModelFilter,
    Since,
    StatusFilter,
    check_status,
    parse_since,
)
from lumen_cli.context import AppContext, app_context

if TYPE_CHECKING:
    from lumen_cli.history import JobRecord


def list_jobs(
    ctx: typer.Context,
    status: StatusFilter = None,
    model: ModelFilter = None,
    since: Since = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="At most this many jobs.")
    ] = 50,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask the API about unfinished jobs first.")
    ] = False,
    batch: BatchFilter = None,
    mine: Mine = False,
    host: HostFilter = None,
    json_output: JsonOutput = False,
) -> None:
    """List the jobs of the history, newest first.

    Only this profile's jobs. On a shared history (history_url), every machine's:
    --mine and --host narrow them to who sent them.

    A table on a terminal. Piped: one tab-separated line per job (id, status, model, mode,
    created, prompt, then the saved paths, URLs or error); --json: a JSON array.

    **Examples**

        lumen list --status succeeded --since 1d

        lumen list --json | jq -r '.[].id'

        lumen list --refresh

        lumen list --batch shots --status failed

        lumen list --mine --host render-1
    """
    state = app_context(ctx, json_output=json_output)
    status = check_status(status)
    since_ts = parse_since(since, time.time()) if since else None
    history = state.history

    def query() -> list[JobRecord]:
        return history.list(
            status=status,
            model=model,
            since=since_ts,
            profile=state.settings.profile,
            limit=limit,
            batch=batch,
            host=host,
            user=history.user if mine else None,
        )

    records = query()
    if refresh:
        _refresh(state, [r.id for r in records if r.status in ("queued", "processing")])
        records = query()

    if not records and not json_output:
        state.output.info(
            "no jobs in the history yet"
            if not (status or model or since or batch or mine or host)
            else "no jobs match"
        )
        return
    from lumen_cli.output.jobs import job_document, show_jobs

    show_jobs(state.output, [job_document(None, record) for record in records])


def _refresh(state: AppContext, job_ids: list[str]) -> None:
    from lumen_cli.errors import NotFound
    from lumen_cli.services.jobs import refresh_job

    for job_id in job_ids:
        try:
            refresh_job(state, job_id)
        except NotFound:
            state.output.warn(f"{job_id}: the API no longer knows this job")
