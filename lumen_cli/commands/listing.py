"""``lumen list``: the local job history, newest first."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Annotated

import typer

from lumen_cli.commands.options import HostFilter, JsonOutput, Mine
from lumen_cli.context import AppContext, app_context
from lumen_cli.errors import BadInput

if TYPE_CHECKING:
    from lumen_cli.history import JobRecord

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
STATUSES = ("submitting", "unknown", "queued", "processing", "succeeded", "failed", "cancelled")


def parse_since(value: str, now: float) -> float:
    """``30m``, ``2h``, ``7d``, ``1w``, or an ISO date/time (local time), as a Unix time."""
    match = _RELATIVE.match(value.strip().lower())
    if match:
        return now - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise BadInput(
            f"--since takes a span like 2h or 7d, or a date like 2026-11-01; got {value!r}"
        ) from None


def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-s",
            help=f"Only jobs with this status ({', '.join(STATUSES)}).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Only jobs of this model.", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only jobs created since: 2h, 7d, 1w or 2026-11-01.", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="At most this many jobs.")
    ] = 50,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask the API about unfinished jobs first.")
    ] = False,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            help="Only the jobs of this batch (see `lumen batch list`).",
            show_default=False,
        ),
    ] = None,
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
    if status is not None:
        status = status.strip().lower()  # SUCCEEDED, Succeeded: any case
        if status not in STATUSES:
            raise BadInput(f"unknown status {status!r}", hint=f"Use one of: {', '.join(STATUSES)}.")
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
