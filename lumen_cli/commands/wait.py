"""``lumen wait``: follow jobs until they end, optionally saving each as it succeeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lumen_cli.commands.options import JsonOutput, OutputTemplate
from lumen_cli.context import AppContext, app_context
from lumen_cli.errors import BadInput, ExitCode, worst_exit_code

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.api.polling import WaitOutcome

Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout", min=0.0, help="Give up after this many seconds (exit 9).", show_default=False
    ),
]
Interval = Annotated[
    float | None,
    typer.Option(
        "--interval",
        min=0.1,
        help="Poll every this many seconds (default: adaptive, 2 s growing to 15 s).",
        show_default=False,
    ),
]
Download = Annotated[
    bool, typer.Option("--download", help="Download each job as soon as it succeeds.")
]


def wait(
    ctx: typer.Context,
    job_ids: Annotated[
        list[str] | None, typer.Argument(help="Job ids to wait for.", show_default=False)
    ] = None,
    all_jobs: Annotated[
        bool, typer.Option("--all", help="Wait for every unfinished job in the history.")
    ] = False,
    timeout: Timeout = None,
    interval: Interval = None,
    download: Download = False,
    output: OutputTemplate = None,
    json_output: JsonOutput = False,
) -> None:
    """Wait until jobs finish; exit 0 if all succeeded, 7 failed, 8 cancelled, 9 timed out.

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
                profile=state.profile, statuses=("queued", "processing")
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
    code = follow(
        state, ids, timeout=timeout, interval=interval, download=download, output=output,
        single=len(ids) == 1 and not all_jobs,
    )  # fmt: skip
    raise typer.Exit(code)


def follow(
    state: AppContext,
    ids: list[str],
    *,
    timeout: float | None,
    interval: float | None,
    download: bool,
    output: str | None,
    single: bool,
) -> int:
    """Poll *ids* to the end, report, and return the exit code (shared with ``submit --wait``)."""
    from lumen_cli.api.polling import Poller, PollPolicy
    from lumen_cli.jobs import check_trackable, download_job
    from lumen_cli.output import WaitDisplay

    for job_id in ids:
        check_trackable(state, job_id)
    out = state.output
    history = state.history
    client = state.client
    saved_paths: dict[str, list[str]] = {}

    with WaitDisplay(out) as display:

        def on_update(job: Job, previous: str | None) -> None:
            history.update_from_api(job, profile=state.profile, base_url=client.base_url)
            display.update(job, previous)
            if download and job.status == "succeeded":
                saved = download_job(state, job, template=output, progress=False)
                saved_paths[job.id] = [str(item.path) for item in saved]
                for item in saved:
                    verb = "already saved" if item.skipped else "saved"
                    display.note(job.id, f"{verb} {item.path} ({item.bytes} bytes)")

        poller = Poller(client, clock=state.clock, policy=PollPolicy(fixed=interval))
        outcome = poller.wait(ids, timeout=timeout, on_update=on_update)

    _report(state, ids, outcome, saved_paths, single=single)
    return exit_code(outcome)


_STATUS_EXIT = {"failed": ExitCode.JOB_FAILED, "cancelled": ExitCode.JOB_CANCELLED}


def exit_code(outcome: WaitOutcome) -> int:
    """The worst of the jobs' endings (failed, cancelled, still running, not found)."""
    codes = {_STATUS_EXIT.get(job.status, ExitCode.OK) for job in outcome.jobs.values()}
    if outcome.timed_out or outcome.pending:
        codes.add(ExitCode.TIMEOUT)
    if outcome.missing:
        codes.add(ExitCode.NOT_FOUND)
    return int(worst_exit_code(codes))


def _report(
    state: AppContext,
    ids: list[str],
    outcome: WaitOutcome,
    saved_paths: dict[str, list[str]],
    *,
    single: bool,
) -> None:
    out = state.output
    for job_id, error in outcome.missing.items():
        out.warn(f"{job_id}: {error.message}")
    for job in outcome.jobs.values():
        if job.status in ("failed", "cancelled"):
            out.warn(f"{job.id} {job.status}: {job.error or 'no reason given'}")
    if outcome.timed_out:
        out.warn(
            f"timed out with {len(outcome.pending)} job(s) still running; "
            "`lumen wait --all` picks them up again"
        )
    if out.quiet:
        return  # the exit code says how it ended
    if out.json_mode:
        documents = [outcome.jobs[i].raw for i in ids if i in outcome.jobs]
        out.json(documents[0] if single and documents else documents)
        return
    for job_id in ids:
        found = outcome.jobs.get(job_id)
        if found is None:
            out.data(f"{job_id}\tnot found")
            continue
        detail = (
            saved_paths.get(job_id) or list(found.urls) or ([found.error] if found.error else [])
        )
        out.data("\t".join([found.id, found.status, *detail]))
