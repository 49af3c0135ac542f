"""``lumen status``: ask the API about one job, once."""

from __future__ import annotations

import typer

from lumen_cli.commands.options import JobId, JsonOutput
from lumen_cli.context import app_context


def status(ctx: typer.Context, job_id: JobId, json_output: JsonOutput = False) -> None:
    """Show a job's current status, and update the history.

    One GET to the API.

    On a terminal: aligned fields. Piped: one tab-separated line (see README, "Output for
    scripts"); --json: the job as JSON.

    **Examples**

        lumen status v1a2b3c4d5

        lumen status v1a2b3c4d5 --json | jq -r .status
    """
    from lumen_cli.output.jobs import job_document, show_job
    from lumen_cli.services.jobs import check_trackable, refresh_job

    state = app_context(ctx, json_output=json_output)
    check_trackable(state, job_id)
    job = refresh_job(state, job_id)
    show_job(state.output, job_document(job, state.history.get(job.id)))
