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
from lumen_cli.text import json_text, shorten
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


# The request fields that take an image or a video, and the flag that sets each.
MEDIA_FLAGS = {
    "image_url": "--image",
    "last_image_url": "--last-image",
    "reference_image_urls": "--ref-image",
    "reference_video_url": "--ref-video",
}
UPLOAD_EXAMPLE = (
    "lumen config set upload_command "
    "'rclone copyto {path} r2:clips/{sha256}{ext} && echo https://clips.example.com/{sha256}{ext}'"
)


def is_local_path(value: str) -> bool:
    """Whether an input names a local file rather than a URL (it has no ``scheme://``)."""
    return bool(value.strip()) and "://" not in value and not is_http_url(value)


def check_media_url(flag: str, value: str, *, local_files: bool = False) -> str:
    """An image/video input: an http(s) URL, or with *local_files* a local path (left as it
    is, for ``services.uploads`` to check and upload)."""
    if local_files and is_local_path(value):
        return value
    hint = None
    if not is_http_url(value) and (not urlsplit(value).scheme or Path(value).expanduser().exists()):
        hint = (
            "The API takes URLs only: set a command that uploads a local file and prints its "
            f"URL, e.g. `{UPLOAD_EXAMPLE}` (README, 'Local files'). `lumen --sandbox …` "
            "takes local files with no set-up."
        )
        if is_local_path(value):
            raise BadInput(
                f"{flag} {shorten(value, 80)} is not an http(s) URL, and local files need "
                "upload_command",
                hint=hint,
            )
    return check_http_url(flag, value, hint=hint)


def build_body(spec: JobSpec, *, local_files: bool = False) -> dict[str, Any]:
    """The JSON body for ``POST /v1/videos/generations``; raises ``BadInput`` on bad values.

    *local_files*: inputs may name local files (an upload is set up); they stay in the body
    as they are until ``services.uploads`` puts their URLs in their place."""
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

    media = {
        "image_url": spec.image_url,
        "last_image_url": spec.last_image_url,
        "reference_image_urls": spec.reference_image_urls or None,
        "reference_video_url": spec.reference_video_url,
    }
    for name, value in media.items():
        flag = MEDIA_FLAGS[name]
        if isinstance(value, list):
            body[name] = [check_media_url(flag, url, local_files=local_files) for url in value]
        elif value is not None:
            body[name] = check_media_url(flag, value, local_files=local_files)

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
