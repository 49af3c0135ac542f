"""Options shared by several commands, declared once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from lumen_cli.errors import BadInput

if TYPE_CHECKING:
    from lumen_cli.api.request import JobSpec
    from lumen_cli.config import Settings
    from lumen_cli.context import AppContext
    from lumen_cli.services.uploads import Uploads

JsonOutput = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout and nothing else."),
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print only the job id(s) on stdout."),
]
JobId = Annotated[
    str,
    typer.Argument(help="Job id, as printed by `lumen submit`.", show_default=False, metavar="ID"),
]
OutputTemplate = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Where to save: a path, a directory, or a template with {id} {index} {model} "
        "{prompt} {date}. Default: the `output` setting, then ./{id}.mp4.",
        show_default=False,
    ),
]
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
        help="Poll each job every this many seconds (default: 2 s growing to 15 s; at most "
        "10 GETs a second in all, so jobs/10 s past 150 jobs).",
        show_default=False,
    ),
]
Mine = Annotated[
    bool,
    typer.Option("--mine", help="Only the jobs you sent (your user name, from any machine)."),
]
HostFilter = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="Only the jobs sent from this machine (a shared history names each).",
        show_default=False,
        metavar="NAME",
    ),
]
Download = Annotated[
    bool, typer.Option("--download", help="Download each job as soon as it succeeds.")
]
DownloadWorkers = Annotated[
    int,
    typer.Option(
        "--download-workers",
        min=1,
        max=32,
        help="Files saved at once, beside the polling.",
    ),
]

# -- filters on the history (`list`, `gallery`, `usage`) ---------------------------------------

STATUSES = ("submitting", "unknown", "queued", "processing", "succeeded", "failed", "cancelled")
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

StatusFilter = Annotated[
    str | None,
    typer.Option(
        "--status",
        "-s",
        help=f"Only jobs with this status ({', '.join(STATUSES)}).",
        show_default=False,
    ),
]
ModelFilter = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Only jobs of this model.",
        show_default=False,
        show_envvar=False,  # a filter, not the `model` setting
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since", help="Only jobs created since: 2h, 7d, 1w or 2026-11-01.", show_default=False
    ),
]
BatchFilter = Annotated[
    str | None,
    typer.Option(
        "--batch",
        help="Only the jobs of this batch (see `lumen batch list`).",
        show_default=False,
    ),
]


def check_status(status: str | None) -> str | None:
    """A ``--status`` filter in any case (``SUCCEEDED``), as the history spells it."""
    if status is None:
        return None
    status = status.strip().lower()
    if status not in STATUSES:
        raise BadInput(f"unknown status {status!r}", hint=f"Use one of: {', '.join(STATUSES)}.")
    return status


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


# -- the request fields of `submit` (and, as defaults for every line, of `batch`) ----------

MEDIA = "Inputs"
WEBHOOK = "Webhook"

Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model, e.g. seedance-2, seedance-2-fast, veo-3-1.",
        show_default=False,
    ),
]
Resolution = Annotated[
    str | None,
    typer.Option("--resolution", "-r", help="480p, 720p or 1080p (per model).", show_default=False),
]
AspectRatio = Annotated[
    str | None,
    typer.Option("--aspect-ratio", "-a", help="e.g. 16:9, 9:16, 1:1.", show_default=False),
]
Duration = Annotated[
    int | None, typer.Option("--duration", "-d", help="Seconds, 4 or more.", show_default=False)
]
Audio = Annotated[
    bool | None,
    typer.Option("--audio/--no-audio", help="Generate audio (generate_audio).", show_default=False),
]
Image = Annotated[
    str | None,
    typer.Option(
        "--image",
        "--first-frame",
        help="First-frame image: a URL or a local file (image_url).",
        rich_help_panel=MEDIA,
        show_default=False,
    ),
]
LastImage = Annotated[
    str | None,
    typer.Option(
        "--last-image",
        "--last-frame",
        help="Last-frame image: a URL or a local file (last_image_url).",
        rich_help_panel=MEDIA,
        show_default=False,
    ),
]
RefImage = Annotated[
    list[str] | None,
    typer.Option(
        "--ref-image",
        help="Reference image (URL or local file); repeat for several.",
        rich_help_panel=MEDIA,
        show_default=False,
    ),
]
RefVideo = Annotated[
    str | None,
    typer.Option(
        "--ref-video",
        help="Reference video: a URL or a local file (video-to-video).",
        rich_help_panel=MEDIA,
        show_default=False,
    ),
]
Upload = Annotated[
    bool,
    typer.Option(
        "--upload",
        help="With --dry-run: upload local input files now, and show their URLs.",
        rich_help_panel=MEDIA,
    ),
]
WebhookUrl = Annotated[
    str | None,
    typer.Option(
        "--webhook-url",
        help="Where the API POSTs the signed result.",
        rich_help_panel=WEBHOOK,
        show_default=False,
    ),
]
WebhookSecret = Annotated[
    str | None,
    typer.Option(
        "--webhook-secret",
        help="Signing secret (prefer LUMEN_WEBHOOK_SECRET).",
        rich_help_panel=WEBHOOK,
        show_default=False,
    ),
]


def job_spec(
    settings: Settings,
    prompt: str,
    *,
    model: str | None,
    resolution: str | None,
    aspect_ratio: str | None,
    duration: int | None,
    audio: bool | None,
    image: str | None,
    last_image: str | None,
    ref_image: list[str] | None,
    ref_video: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
) -> JobSpec:
    """The request the submit flags ask for, over the settings (flag > env > profile)."""
    from lumen_cli.api.request import JobSpec

    return JobSpec(
        prompt=prompt,
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


def local_uploads(
    ctx: typer.Context, state: AppContext, *, dry_run: bool, upload: bool
) -> Uploads | None:
    """Where this command's local input files go (``services.uploads``), None when no upload
    is set up. A dry run that does not ``--upload`` names the sandbox without starting it."""
    from lumen_cli.errors import BadInput
    from lumen_cli.services.uploads import open_uploads

    if upload and not dry_run:
        raise BadInput("--upload goes with --dry-run (a run uploads local files anyway)")
    previewing = dry_run and not upload
    uploads = open_uploads(
        state, sandbox_url=state.preview_base_url if previewing else lambda: state.base_url
    )
    if uploads is not None:
        ctx.call_on_close(uploads.close)
    return uploads
