"""Build and check the body of a job POST before anything is sent.

Only fields that the user set (or configured) are sent, each under the API's own name
and type. Checks that the server would make anyway are made here first, so a typo costs
no round trip and never a credit.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lumen_cli.errors import BadInput
from lumen_cli.net import check_http_url, is_http_url
from lumen_cli.text import json_text
from lumen_cli.values import (
    check_aspect_ratio,
    check_duration,
    check_model,
    check_resolution,
)


@dataclass
class JobSpec:
    """What the user asked for, before validation. ``None`` means not set."""

    prompt: str
    model: str | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    duration: int | None = None
    generate_audio: bool | None = None
    image_url: str | None = None
    last_image_url: str | None = None
    reference_image_urls: list[str] = field(default_factory=list)
    reference_video_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_media_url(flag: str, value: str) -> str:
    """An image/video input must be an http(s) URL: the API takes no uploads."""
    hint = None
    if not is_http_url(value) and (not urlsplit(value).scheme or Path(value).expanduser().exists()):
        hint = (
            "The API takes URLs only, not files: upload the file somewhere it can be fetched "
            "and pass its https:// URL."
        )
    return check_http_url(flag, value, hint=hint)


def build_body(spec: JobSpec) -> dict[str, Any]:
    """The JSON body for ``POST /v1/videos/generations``; raises ``BadInput`` on bad values."""
    prompt = spec.prompt.strip()
    if not prompt:
        raise BadInput("the prompt is empty", hint="Pass a prompt, or '-' to read it from stdin.")
    if not spec.model:
        raise BadInput("no model is set", hint="Pass --model, e.g. --model seedance-2.")
    body: dict[str, Any] = {"model": check_model(spec.model), "prompt": prompt}

    if spec.resolution is not None:
        body["resolution"] = check_resolution(spec.resolution)
    if spec.aspect_ratio is not None:
        body["aspect_ratio"] = check_aspect_ratio(spec.aspect_ratio)
    if spec.duration is not None:
        body["duration"] = check_duration(spec.duration)
    if spec.generate_audio is not None:
        body["generate_audio"] = bool(spec.generate_audio)

    if spec.image_url is not None:
        body["image_url"] = check_media_url("--image", spec.image_url)
    if spec.last_image_url is not None:
        body["last_image_url"] = check_media_url("--last-image", spec.last_image_url)
    if spec.reference_image_urls:
        body["reference_image_urls"] = [
            check_media_url("--ref-image", url) for url in spec.reference_image_urls
        ]
    if spec.reference_video_url is not None:
        body["reference_video_url"] = check_media_url("--ref-video", spec.reference_video_url)

    if spec.webhook_url is not None:
        check_http_url("--webhook-url", spec.webhook_url)
        if not spec.webhook_secret:
            raise BadInput(
                "--webhook-url needs a signing secret",
                hint="Pass --webhook-secret or set LUMEN_WEBHOOK_SECRET (the API requires one).",
            )
        body["webhook_url"] = spec.webhook_url
        body["webhook_secret"] = spec.webhook_secret
    body.update(spec.extra)
    return body


SECRET_IN_CURL = "$LUMEN_WEBHOOK_SECRET"  # noqa: S105 - a variable's name, as for the key


def curl_command(base_url: str, body: dict[str, Any]) -> str:
    """The curl command that sends *body*: the key stays in ``$LUMEN_API_KEY`` and the
    webhook secret in ``$LUMEN_WEBHOOK_SECRET``, so the command runs as it is."""
    from lumen_cli.api.client import JOBS_PATH

    marker = "\x00secret\x00"
    sent = {**body, "webhook_secret": marker} if "webhook_secret" in body else body
    left, found, right = json_text(sent).partition(json_text(marker))
    data = shlex.quote(left)
    if found:  # the value becomes "…" in the shell: the variable's text inside JSON quotes
        data = f'{shlex.quote(left + chr(34))}"{SECRET_IN_CURL}"{shlex.quote(chr(34) + right)}'
    return (
        f"curl -sS {shlex.quote(base_url.rstrip('/') + JOBS_PATH)} \\\n"
        '  -H "Authorization: Bearer $LUMEN_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {data}"
    )
