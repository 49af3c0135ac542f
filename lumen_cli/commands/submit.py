"""``lumen submit``: POST a video job."""

from __future__ import annotations

from typing import Annotated

import typer

from lumen_cli.commands.inputs import read_prompt
from lumen_cli.commands.options import (
    Download,
    Interval,
    JsonOutput,
    OutputTemplate,
    Quiet,
    Timeout,
)
from lumen_cli.context import app_context
from lumen_cli.errors import BadInput

MEDIA = "Inputs (URLs only)"
WEBHOOK = "Webhook"


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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model, e.g. seedance-2, seedance-2-fast, veo-3-1.",
            show_default=False,
        ),
    ] = None,
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution", "-r", help="480p, 720p or 1080p (per model).", show_default=False
        ),
    ] = None,
    aspect_ratio: Annotated[
        str | None,
        typer.Option("--aspect-ratio", "-a", help="e.g. 16:9, 9:16, 1:1.", show_default=False),
    ] = None,
    duration: Annotated[
        int | None, typer.Option("--duration", "-d", help="Seconds, 4 or more.", show_default=False)
    ] = None,
    audio: Annotated[
        bool | None,
        typer.Option(
            "--audio/--no-audio", help="Generate audio (generate_audio).", show_default=False
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            "--first-frame",
            help="First-frame image URL (image_url).",
            rich_help_panel=MEDIA,
            show_default=False,
        ),
    ] = None,
    last_image: Annotated[
        str | None,
        typer.Option(
            "--last-image",
            "--last-frame",
            help="Last-frame image URL (last_image_url).",
            rich_help_panel=MEDIA,
            show_default=False,
        ),
    ] = None,
    ref_image: Annotated[
        list[str] | None,
        typer.Option(
            "--ref-image",
            help="Reference image URL; repeat for several.",
            rich_help_panel=MEDIA,
            show_default=False,
        ),
    ] = None,
    ref_video: Annotated[
        str | None,
        typer.Option(
            "--ref-video",
            help="Reference video URL (video-to-video).",
            rich_help_panel=MEDIA,
            show_default=False,
        ),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            help="Where the API POSTs the signed result.",
            rich_help_panel=WEBHOOK,
            show_default=False,
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            "--webhook-secret",
            help="Signing secret (prefer LUMEN_WEBHOOK_SECRET).",
            rich_help_panel=WEBHOOK,
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the request body (secrets redacted); send nothing."),
    ] = False,
    curl: Annotated[
        bool, typer.Option("--curl", help="With --dry-run: print an equivalent curl command.")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", "-w", help="Wait for the job to finish (exit 7/8/9 as `wait`)."),
    ] = False,
    download: Download = False,
    output: OutputTemplate = None,
    timeout: Timeout = None,
    interval: Interval = None,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Submit a video job and print its id.

    Only the options you pass (or configured with `lumen config set`) are sent.
    The mode (text-, image- or video-to-video) follows from the inputs.

    **Examples**

        lumen submit "a cat running on the grass, cinematic" -d 5 -r 720p

        echo "a slow pan over a city at night" | lumen submit - -q

        lumen submit "make the character wave" --image https://example.com/first.png

        lumen submit "a cat" --dry-run --curl

        lumen --sandbox submit "a cat running" --wait --download -o clips/
    """
    from lumen_cli.api.models import detect_mode, redact_secrets
    from lumen_cli.api.request import JobSpec, build_body, curl_command
    from lumen_cli.text import json_text

    state = app_context(ctx, json_output=json_output, quiet=quiet)
    out = state.output
    settings = state.settings
    if curl and not dry_run:
        raise BadInput("--curl goes with --dry-run")
    follow_up = wait or download or output is not None
    saving = download or output is not None
    # Every input is checked before the job is billed, the download template included.
    template = settings.value("output", output) if saving else None
    spec = JobSpec(
        prompt=read_prompt(prompt),
        model=settings.value("model", model),
        resolution=settings.value("resolution", resolution),
        aspect_ratio=settings.value("aspect_ratio", aspect_ratio),
        duration=settings.value("duration", duration),
        generate_audio=settings.value("generate_audio", audio),
        image_url=image,
        last_image_url=last_image,
        reference_image_urls=list(ref_image or []),
        reference_video_url=ref_video,
        webhook_url=settings.value("webhook_url", webhook_url),
        webhook_secret=settings.value("webhook_secret", webhook_secret),
    )
    body = build_body(spec)
    mode = detect_mode(body)

    if dry_run:
        shown = redact_secrets(body)
        if curl:
            out.lines(curl_command(state.preview_base_url(), shown))
        else:
            out.json(shown) if json_output else out.lines(json_text(shown, indent=2))
        out.info(f"dry run: {mode}, nothing was sent")
        return

    from lumen_cli.output.jobs import job_document, show_job
    from lumen_cli.services.submit import submit_job

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
        )
        raise typer.Exit(followed.report(state, single=True))
