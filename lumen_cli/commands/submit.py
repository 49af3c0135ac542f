"""``lumen submit``: POST a video job."""

from __future__ import annotations

from typing import Annotated

import typer

from lumen_cli.commands.inputs import read_prompt
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
    OutputTemplate,
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


def submit(
    ctx: typer.Context,
    prompt: Annotated[
        str,
        typer.Argument(
            help="What the video shows; '-' reads it from stdin.",
            show_default=False,
            metavar="PROMPT",
        ),
    ],
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
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the request body (secrets redacted); send nothing."),
    ] = False,
    curl: Annotated[
        bool, typer.Option("--curl", help="With --dry-run: print an equivalent curl command.")
    ] = False,
    upload: Upload = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", "-w", help="Wait for the job to finish (exit 7/8/9 as `wait`)."),
    ] = False,
    download: Download = False,
    output: OutputTemplate = None,
    download_workers: DownloadWorkers = DOWNLOAD_WORKERS,
    timeout: Timeout = None,
    interval: Interval = None,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Submit a video job and print its id.

    Only the options you pass (or configured with `lumen config set`) are sent.
    The mode (text-, image- or video-to-video) follows from the inputs.

    An input may be a local file once `upload_command` is set (README, "Local files"):
    every file is checked, then uploaded once, before the job is sent. `--sandbox`
    takes local files with no set-up.

    **Examples**

        lumen submit "a cat running on the grass, cinematic" -d 5 -r 720p

        echo "a slow pan over a city at night" | lumen submit - -q

        lumen submit "make the character wave" --image https://example.com/first.png

        lumen --sandbox submit "make it wave" --image ./me.png --wait --download

        lumen submit "a cat" --dry-run --curl

        lumen --sandbox submit "a cat running" --wait --download -o clips/
    """
    from lumen_cli.api.models import detect_mode, redact_secrets
    from lumen_cli.api.request import build_body, curl_command
    from lumen_cli.services.uploads import with_urls
    from lumen_cli.text import json_text

    state = app_context(ctx, json_output=json_output, quiet=quiet)
    out = state.output
    if curl and not dry_run:
        raise BadInput("--curl goes with --dry-run")
    uploads = local_uploads(ctx, state, dry_run=dry_run, upload=upload)
    follow_up = wait or download or output is not None
    saving = download or output is not None
    # Every input is checked before the job is billed, the download template included.
    template = state.settings.value("output", output) if saving else None
    spec = job_spec(
        state.settings,
        read_prompt(prompt),
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
    body = build_body(spec, local_files=uploads is not None)
    inputs = uploads.files.inputs(body) if uploads is not None else []
    mode = detect_mode(body)

    if dry_run:
        if uploads is not None and inputs:
            urls = uploads.resolve(inputs, upload=upload)
            uploads.show(inputs, urls)
            body = with_urls(body, inputs, urls)
        shown = redact_secrets(body)
        if curl:
            out.lines(curl_command(state.preview_base_url(), shown))
        else:
            out.json(shown) if json_output else out.lines(json_text(shown, indent=2))
        out.info(f"dry run: {mode}, nothing was sent")
        from lumen_cli.output.usage import cost_note
        from lumen_cli.pricing import load_prices, requested_seconds

        prices = load_prices(state.settings.data, state.config_file.path)
        estimate = prices.of_request(body) if prices is not None else None
        out.info(cost_note(estimate, requested_seconds(body), state.config_file.path))
        return

    from lumen_cli.output.jobs import job_document, show_job
    from lumen_cli.services.submit import submit_job

    if uploads is not None and inputs:
        state.client  # noqa: B018 - no key (NoKey) is said before anything is uploaded
        body = with_urls(body, inputs, uploads.resolve(inputs))
    job = submit_job(state, body)
    if quiet:
        out.data(job.id)
    elif out.stdout_tty and not json_output:
        show_job(out, job_document(job, state.history.get(job.id)))
        if not follow_up:
            out.hint(
                f"Follow it with `lumen{' --sandbox' if state.sandbox else ''} wait {job.id}`."
            )
    elif not follow_up:  # scripts get one document or line: with --wait, the finished job's
        show_job(out, job_document(job, state.history.get(job.id)))
    if follow_up:
        from lumen_cli.services.follow import follow

        followed = follow(
            state,
            [job.id],
            timeout=timeout,
            interval=interval,
            download=saving,
            output=template,
            download_workers=download_workers,
        )
        raise typer.Exit(followed.report(state, single=True))
