"""``lumen status``: ask the API about one job, once."""

from __future__ import annotations

import typer

from lumen_cli.commands.options import JobId, JsonOutput
from lumen_cli.context import app_context


def status(ctx: typer.Context, job_id: JobId, json_output: JsonOutput = False) -> None:
    """Show a job's current status (one GET), and update the history.

    **Examples**

        lumen status v1a2b3c4d5

        lumen status v1a2b3c4d5 --json | jq -r .status
    """
    from lumen_cli.output.jobs import job_fields
    from lumen_cli.services.jobs import check_trackable, refresh_job

    state = app_context(ctx, json_output=json_output)
    check_trackable(state, job_id)
    job = refresh_job(state, job_id)
    if json_output:
        state.output.json(job.raw)
        return
    record = state.history.get(job.id)
    state.output.fields(job_fields(job, record))
