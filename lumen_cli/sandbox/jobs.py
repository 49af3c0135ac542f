"""Generation jobs: the ``Job`` record (status derived from the clock), id generation, the
validation of create requests with the vendor's rules, aliases, models and limits, and the
``ApiError`` answer with the one JSON encoding the sandbox writes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from lumen_cli.net import is_http_url

MODELS = ("seedance-2", "seedance-2-fast", "veo-3-1")
RESOLUTIONS = ("480p", "720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
MIN_DURATION = 4
MAX_RESULTS = 4  # the sandbox-only field ``n`` asks for 1..4 result files
URL_FIELDS = ("image_url", "last_image_url", "reference_video_url", "webhook_url")

# The vendor accepts a second name for four fields: alias -> canonical name.
ALIASES = {
    "first_frame_url": "image_url",
    "last_frame_url": "last_image_url",
    "reference_images": "reference_image_urls",
    "video_url": "reference_video_url",
}

QUEUED_FRACTION = 0.2  # share of job_seconds spent "queued" before "processing"


class ApiError(Exception):
    """An error answer: rendered as ``{"error": {"message", "type", "code"}}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def json_bytes(document: object) -> bytes:
    """Compact UTF-8 JSON: how the sandbox writes answers, webhook bodies and its state file."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclasses.dataclass
class Job:
    """One generation task. Its status is derived from the clock, unless forced."""

    id: str
    model: str
    prompt: str
    resolution: str
    aspect_ratio: str
    duration: int
    generate_audio: bool
    mode: str
    created_at: float
    ends_at: float
    n: int = 1
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    forced_status: str | None = None
    forced_at: float | None = None

    @property
    def ending(self) -> str:
        """What the prompt asks the job to end as: a terminal status, or ``"forever"``."""
        words = self.prompt.lower()
        if "forever" in words:
            return "forever"
        if "fail" in words:
            return "failed"
        if "cancel" in words:
            return "cancelled"
        return "succeeded"

    def status(self, now: float) -> str:
        """The status at wall-clock time *now*."""
        if self.forced_status is not None:
            return self.forced_status
        elapsed = now - self.created_at
        if elapsed < (self.ends_at - self.created_at) * QUEUED_FRACTION:
            return "queued"
        if self.ending == "forever" or now < self.ends_at:
            return "processing"
        return self.ending

    def finished_at(self) -> float:
        """When the job became (or will become) terminal."""
        return self.forced_at if self.forced_at is not None else self.ends_at

    def error_message(self, status: str) -> str:
        """The ``error.message`` of a failed or cancelled job."""
        verb = "failed" if status == "failed" else "cancelled"
        if self.forced_status is not None:
            return f"generation {verb} (sandbox: forced by /_sandbox/jobs/{self.id}/finish)"
        asked = "fail" if status == "failed" else "cancel"
        return f"generation {verb} (sandbox: prompt asked to {asked})"

    def result(self, status: str, base_url: str) -> dict[str, Any]:
        """The ``data`` or ``error`` part shared by GET answers and webhook bodies."""
        if status == "succeeded":
            return {"data": [{"url": f"{base_url}/files/{self.id}/{i}.mp4"} for i in range(self.n)]}
        if status in ("failed", "cancelled"):
            return {"error": {"message": self.error_message(status)}}
        return {}

    def view(self, now: float, base_url: str) -> dict[str, Any]:
        """The job as ``GET /v1/videos/generations/{id}`` returns it."""
        status = self.status(now)
        return {
            "id": self.id,
            "object": "video.generation",
            "status": status,
            "created": int(self.created_at),
            "model": self.model,
            "prompt": self.prompt,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "duration": self.duration,
            "mode": self.mode,
            **self.result(status, base_url),
        }

    def to_state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> Job:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def new_job_id() -> str:
    """``"v"`` followed by 24 random hex digits, like the vendor's ids."""
    return "v" + secrets.token_hex(12)


def validate_generation(payload: object) -> dict[str, Any]:
    """Check a create request the way the vendor does; return the normalised fields.

    Raises :class:`ApiError` (400, or 404 for an unknown model) with a message naming the field.
    Aliases are folded into the canonical names and defaults filled in; JSON ``null`` counts as
    "not set".
    """
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    fields = _fold_aliases(payload)

    model = fields.get("model")
    if model is None:
        raise ApiError(400, "model is required")
    if not isinstance(model, str):
        raise ApiError(400, "model must be a string")
    if model not in MODELS:
        raise ApiError(404, f"no such video model: {model!r}")

    prompt = fields.get("prompt")
    if prompt is None:
        raise ApiError(400, "prompt is required")
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string")
    if not prompt.strip():
        raise ApiError(400, "prompt must not be blank")

    spec: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "resolution": _choice(fields, "resolution", RESOLUTIONS, "720p"),
        "aspect_ratio": _choice(fields, "aspect_ratio", ASPECT_RATIOS, "16:9"),
        "duration": _duration(fields),
        "generate_audio": _boolean(fields, "generate_audio", default=True),
        "n": _result_count(fields),
    }
    for name in URL_FIELDS:
        spec[name] = _url(fields, name)
    spec["reference_image_urls"] = _url_list(fields, "reference_image_urls")
    spec["webhook_secret"] = _webhook_secret(fields, webhook_set=spec["webhook_url"] is not None)

    # The safety check comes last, as upstream only looks at prompts of well-formed requests.
    if re.search(r"\bblocked\b", prompt, re.IGNORECASE):
        raise ApiError(400, "content blocked by the safety policy")
    return spec


def _fold_aliases(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Rename alias fields to their canonical names, refusing two different values for one."""
    fields = {key: value for key, value in payload.items() if value is not None}
    for alias, canonical in ALIASES.items():
        if alias not in fields:
            continue
        value = fields.pop(alias)
        if canonical in fields and fields[canonical] != value:
            raise ApiError(400, f"{canonical} and its alias {alias} are both set, differently")
        fields[canonical] = value
    return fields


def _choice(fields: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name, default)
    if value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def _duration(fields: Mapping[str, Any]) -> int:
    value = fields.get("duration", 5)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"duration must be an integer number of seconds; got {value!r}")
    if value < MIN_DURATION:
        raise ApiError(400, f"duration must be at least {MIN_DURATION} seconds; got {value}")
    return value


def _boolean(fields: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = fields.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false; got {value!r}")
    return value


def _result_count(fields: Mapping[str, Any]) -> int:
    value = fields.get("n", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESULTS:
        raise ApiError(400, f"n (sandbox only) must be an integer 1..{MAX_RESULTS}; got {value!r}")
    return value


def _url(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not is_http_url(value):
        raise ApiError(400, f"{name} must be an http(s) URL; got {value!r}")
    return str(value)


def _url_list(fields: Mapping[str, Any], name: str) -> list[str]:
    value = fields.get(name, [])
    if not isinstance(value, list) or not all(is_http_url(item) for item in value):
        raise ApiError(400, f"{name} must be a list of http(s) URLs")
    return [str(item) for item in value]


def _webhook_secret(fields: Mapping[str, Any], *, webhook_set: bool) -> str | None:
    secret = fields.get("webhook_secret")
    if secret is not None and not isinstance(secret, str):
        raise ApiError(400, "webhook_secret must be a string")
    if webhook_set and not secret:
        raise ApiError(400, "webhook_secret is required when webhook_url is set")
    return secret if webhook_set else None


def generation_mode(spec: Mapping[str, Any]) -> str:
    """The vendor's auto-detected mode: a reference video wins over any image."""
    if spec.get("reference_video_url"):
        return "video-to-video"
    if spec.get("image_url") or spec.get("last_image_url") or spec.get("reference_image_urls"):
        return "image-to-video"
    return "text-to-video"
