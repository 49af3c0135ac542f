"""``lumen batch``: send every line of a file, each exactly once; ``batch status`` and ``list``.

``lumen batch FILE`` is ``lumen batch run FILE``: the group sends any first word that is
not one of its commands to ``run`` (a file named ``status`` or ``list`` needs ``run``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lumen_cli.commands.base import Command, Group, group
from lumen_cli.commands.inputs import read_bytes
from lumen_cli.commands.options import (
    AspectRatio,
    Audio,
    Download,
    DownloadWorkers,
    Duration,
    Image,
    Interval,
    JsonOutput,
    LastImage,
    Model,
    Quiet,
    RefImage,
    RefVideo,
    Resolution,
    Timeout,
    Upload,
    WebhookSecret,
    WebhookUrl,
    job_spec,
    local_uploads,
)
from lumen_cli.context import app_context
from lumen_cli.download import DOWNLOAD_WORKERS
from lumen_cli.errors import BadInput

BATCH = "Batch"
SUBCOMMANDS = ("run", "status", "list")
HELP_FLAGS = ("--help", "-h")


class DefaultRunGroup(Group):
    """A group whose ``run`` command may go unnamed: ``lumen batch FILE``."""

    default_command = "run"  # completion knows it too

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in SUBCOMMANDS and args[0] not in HELP_FLAGS:
            args = [self.default_command, *args]
        return list(super().parse_args(ctx, args))


app = group(
    """Send many jobs from a file, each exactly once.

Every line of a JSON Lines, CSV or text file is a job.
`lumen batch FILE` runs the file (the same as `lumen batch run FILE`). Re-run it after
anything (Ctrl-C, a crash, a fix, lines appended): lines already accepted are not sent
again. See `lumen batch run --help` and docs/batch.md.

**Examples**

    lumen batch prompts.txt -m seedance-2-fast -d 5

    lumen batch shots.jsonl --wait --download -o "clips/{custom_id}.mp4"

    lumen batch status shots

    lumen batch list
""",
    cls=DefaultRunGroup,
)


@app.command("run", cls=Command)
def run(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="The batch file (.jsonl, .csv or .txt); '-' reads stdin.", show_default=False
        ),
    ],
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl, csv or text (default: from the extension; stdin: text).",
            rich_help_panel=BATCH,
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="The batch's name in the history (default: the file's name without "
            "extension; stdin needs one).",
            rich_help_panel=BATCH,
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="Lines sent at once (429s slow the whole batch down).",
            rich_help_panel=BATCH,
        ),
    ] = 4,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Send the good lines even when some are invalid (exit 2 still).",
            rich_help_panel=BATCH,
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Send again the lines whose job failed (failed jobs are refunded).",
            rich_help_panel=BATCH,
        ),
    ] = False,
    retry_unknown: Annotated[
        bool,
        typer.Option(
            "--retry-unknown",
            help="Send again the lines whose outcome is unknown: MAY BILL TWICE.",
            rich_help_panel=BATCH,
        ),
    ] = False,
    results: Annotated[
        str | None,
        typer.Option(
            "--results",
            help="Also write each line's result to this file, as JSON Lines.",
            rich_help_panel=BATCH,
            show_default=False,
        ),
    ] = None,
    max_credits: Annotated[
        float | None,
        typer.Option(
            "--max-credits",
            min=0,
            help="Send nothing when the lines to send are estimated to cost more than this "
            "(from [prices] in the config file).",
            rich_help_panel=BATCH,
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the file and print what would be sent, with a summary and the "
            "estimated cost; send nothing.",
        ),
    ] = False,
    upload: Upload = False,
    model: Model = None,
    resolution: Resolution = None,
    aspect_ratio: AspectRatio = None,
    duration: Duration = None,
    audio: Audio = None,
    image: Image = None,
    last_image: LastImage = None,
    ref_image: RefImage = None,
    ref_video: RefVideo = None,
    webhook_url: WebhookUrl = None,
    webhook_secret: WebhookSecret = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", "-w", help="Follow every job to its end (exit 7/8/9 as `wait` does)."
        ),
    ] = False,
    download: Download = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to save: a path, a directory, or a template with {id} {index} "
            "{model} {prompt} {date} {custom_id} {line}.",
            show_default=False,
        ),
    ] = None,
    download_workers: DownloadWorkers = DOWNLOAD_WORKERS,
    timeout: Timeout = None,
    interval: Interval = None,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Send every line of FILE as a job, each exactly once; re-run it after anything.

    Lines are JSON objects (the API's fields and aliases, `prompt` required, optional
    `custom_id`), CSV rows under a header naming the fields, or plain prompts (blank lines
    and # comments skipped). The submit options are defaults for every line; a line's
    own fields win. The whole file is checked before the first request.

    With `upload_command` set (or --sandbox), inputs may name local files, relative to
    the batch file's folder: every file is checked first, then each distinct file is
    uploaded once before the first job is sent.

    A line is recorded before it is sent. A re-run of the same batch (the file's name, or
    --name) sends only lines never accepted and follows those still running (--wait). A
    line whose outcome is unknown is never sent again without --retry-unknown.

    --dry-run and --max-credits estimate the cost of the lines to send from the [prices]
    table of the config file (credits per second by model and resolution); --max-credits N
    sends nothing (exit 2) when the estimate is higher than N, or when no price covers a
    line.

    Output: one result per line as soon as it is known ({line, custom_id, id, status,
    error, paths} with --json; ids with -q). Exit 0 when every line was accepted (with
    --wait: succeeded), 2 for invalid lines, 6 for lines not accepted or unknown, and
    7/8/9 with --wait as `wait`.

    **Examples**

        lumen batch prompts.txt -m seedance-2-fast -d 5 --dry-run

        lumen batch prompts.txt --max-credits 500

        lumen batch shots.jsonl -c 8 --results results.jsonl

        lumen batch shots.csv --wait --download -o "clips/{custom_id}.mp4"

        cat prompts.txt | lumen batch - --name tuesday --json | jq -r .id
    """
    from lumen_cli.services.batch import BatchOptions, plan_batch, preview, run_batch

    state = app_context(ctx, json_output=json_output, quiet=quiet)
    uploads = local_uploads(ctx, state, dry_run=dry_run, upload=upload)
    if file == "-" and not name:
        raise BadInput(
            "a batch read from stdin needs --name",
            hint="A re-run finds the batch by its name: … | lumen batch - --name tuesday",
        )
    batch_name = name or Path(file).stem
    if not batch_name.strip():
        raise BadInput("the batch name is empty", hint="Pass --name.")
    defaults = job_spec(
        state.settings,
        "",
        model=model,
        resolution=resolution,
        aspect_ratio=aspect_ratio,
        duration=duration,
        audio=audio,
        image=image,
        last_image=last_image,
        ref_image=ref_image,
        ref_video=ref_video,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
    follow_up = wait or download or output is not None
    saving = download or output is not None
    # -o may name the batch's own placeholders (checked by plan_batch); the setting may not.
    template = output if output is not None else state.settings.value("output") if saving else None
    plan = plan_batch(
        read_bytes(file),
        source=file,
        name=batch_name,
        fmt=file_format,
        defaults=defaults,
        output=template,
        uploads=uploads,
    )
    options = BatchOptions(
        concurrency=concurrency,
        retry_failed=retry_failed,
        retry_unknown=retry_unknown,
        skip_invalid=skip_invalid,
        wait=follow_up,
        download=saving,
        output=template,
        timeout=timeout,
        interval=interval,
        download_workers=download_workers,
        resume_command=_resume_command(state.sandbox, file, name),
        max_credits=max_credits,
    )
    if dry_run:
        raise typer.Exit(int(preview(state, plan, options, uploads=uploads, upload=upload)))
    # One pool for the senders and the poller's workers.
    state.max_connections = max(state.max_connections, concurrency + 8)
    raise typer.Exit(int(run_batch(state, plan, options, results=results, uploads=uploads)))


@app.command("status", cls=Command)
def status(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The batch's name.", show_default=False)],
    json_output: JsonOutput = False,
) -> None:
    """Show a batch's lines: each line's status, job id, and saved files or error.

    Plain tab-separated lines when stdout is not a terminal, as a run prints its results:
    line, custom_id, id, status, then the saved paths or the error.

    **Examples**

        lumen batch status shots

        lumen batch status shots --json | jq -r '.[] | select(.status == "failed") | .line'
    """
    from lumen_cli.output.batch import show_lines

    state = app_context(ctx, json_output=json_output)
    lines = state.history.batch_lines(state.settings.profile, name)
    if not lines:
        raise BadInput(f"no batch named {name!r} in the history", hint="See `lumen batch list`.")
    show_lines(state.output, lines)


@app.command("list", cls=Command)
def list_batches(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """List the batches of this profile, with their lines counted by status.

    **Examples**

        lumen batch list

        lumen batch list --json | jq -r '.[].name'
    """
    state = app_context(ctx, json_output=json_output)
    batches = state.history.batches(state.settings.profile)
    if json_output:
        state.output.json([batch.to_json() for batch in batches])
        return
    if not batches:
        state.output.info("no batches in the history yet")
        return
    from lumen_cli.output.jobs import format_time
    from lumen_cli.text import iso_time

    when = format_time if state.output.stdout_tty else iso_time
    rows = [
        [
            batch.name,
            str(batch.lines),
            ", ".join(f"{count} {status}" for status, count in sorted(batch.counts.items())),
            when(batch.updated_at),
            batch.source or "",
        ]
        for batch in batches
    ]
    state.output.table(["NAME", "LINES", "STATUS", "LAST RUN", "SOURCE"], rows)


def _resume_command(sandbox: bool, file: str, name: str | None) -> str:
    """The command that runs this batch again, for hints."""
    import shlex

    words = ["lumen", *(["--sandbox"] if sandbox else []), "batch", file]
    if name:
        words += ["--name", name]
    command = " ".join(shlex.quote(word) for word in words)
    return f"… | {command}" if file == "-" else command
