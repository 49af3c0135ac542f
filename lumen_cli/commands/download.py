"""``lumen download``: save the result files of succeeded jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lumen_cli.commands.options import JsonOutput, OutputTemplate
from lumen_cli.context import AppContext, app_context
from lumen_cli.errors import LumenError, worst_exit_code

if TYPE_CHECKING:
    from lumen_cli.download.fetch import Saved


def download(
    ctx: typer.Context,
    job_ids: Annotated[
        list[str],
        typer.Argument(
            help="Job id(s), as printed by `lumen submit`.", show_default=False, metavar="ID..."
        ),
    ],
    output: OutputTemplate = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Download again even when a complete file is already there."),
    ] = False,
    sidecar: Annotated[
        bool,
        typer.Option(
            "--sidecar",
            help="Also write NAME.mp4.json: id, model, prompt, request, times, URL, sha256.",
        ),
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Save the videos of succeeded jobs, resumably.

    Each job is asked for afresh, since result URLs may be signed and expire. A file
    streams into NAME.part and takes its name only once complete; a rerun resumes the
    .part. A file already there with the size the server announces is complete and is
    not fetched again (unless --force); a different file there is left alone.
    In -o, {index} counts from 1, {prompt} is a safe slug of at most 60 characters and
    {date} is the creation day; several results and no {index} give NAME-1, NAME-2.

    Exits 6 when a file cannot be saved whole, 7 or 8 for a failed or cancelled job,
    2 for one still running; with several ids, the worst of these.

    **Examples**

        lumen download v1a2b3c4d5

        lumen download v1a2b3c4d5 -o "clips/{date}/{prompt}.mp4" --sidecar

        lumen download v1a2b3c4d5 v6e7f8a9b0 -o clips/

        lumen download v1a2b3c4d5 --json | jq -r '.paths[]'
    """
    from lumen_cli.output.jobs import job_document, show_job, show_jobs

    state = app_context(ctx, json_output=json_output)
    template = state.settings.value("output", output)  # checked before any request
    ids = list(dict.fromkeys(job_ids))  # once each, in the order given
    documents: list[dict[str, Any]] = []
    failures: list[LumenError] = []
    for job_id in ids:
        try:
            files = _download_one(state, job_id, template=template, force=force, sidecar=sidecar)
        except LumenError as error:
            if len(ids) == 1:
                raise  # one id: the usual error report, and its JSON under --json
            if job_id not in error.message:  # say which id, once
                error.message = f"{job_id}: {error.message}"
            failures.append(error)
            if not json_output:
                state.output.error(error)  # now; under --json after the one document
            continue
        for item in files:
            if item.skipped:
                state.output.info(f"already saved: {state.output.short_path(str(item.path))}")
        document = job_document(None, state.history.get(job_id))
        document["files"] = [item.to_json() for item in files]
        documents.append(document)
    if len(ids) == 1 and documents:
        show_job(state.output, documents[0])
    elif documents or json_output:
        show_jobs(state.output, documents)
    for failure in failures if json_output else ():
        state.output.error(failure)  # stderr only: the JSON is written
    if failures:
        raise typer.Exit(worst_exit_code(error.exit_code for error in failures))


def _download_one(
    state: AppContext, job_id: str, *, template: str | None, force: bool, sidecar: bool
) -> list[Saved]:
    """Refresh *job_id* (URLs may have expired), check it succeeded, save its files."""
    from lumen_cli.services.fetch import download_job
    from lumen_cli.services.jobs import check_trackable, refresh_job, require_success

    check_trackable(state, job_id)
    job = refresh_job(state, job_id)
    require_success(state, job)
    return download_job(state, job, template=template, force=force, sidecar=sidecar)
