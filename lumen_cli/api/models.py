"""Typed views of what the API returns, validated at the edge so nothing downstream guesses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lumen_cli.errors import BadResponse

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
KNOWN_STATUSES = frozenset({"queued", "processing"}) | TERMINAL_STATUSES

# Request fields that carry media, in the API's own names, and the aliases it also accepts.
IMAGE_FIELDS = ("image_url", "last_image_url", "reference_image_urls")
VIDEO_FIELDS = ("reference_video_url",)
FIELD_ALIASES = {
    "first_frame_url": "image_url",
    "last_frame_url": "last_image_url",
    "reference_images": "reference_image_urls",
    "video_url": "reference_video_url",
}
SECRET_FIELDS = frozenset({"webhook_secret"})


def detect_mode(request: dict[str, Any]) -> str:
    """The generation mode the API will pick for *request* (shown to users, never sent)."""
    fields = {FIELD_ALIASES.get(name, name) for name, value in request.items() if value}
    if fields.intersection(VIDEO_FIELDS):
        return "video-to-video"
    if fields.intersection(IMAGE_FIELDS):
        return "image-to-video"
    return "text-to-video"


def strip_secrets(request: dict[str, Any]) -> dict[str, Any]:
    """A copy of *request* without secrets, fit for the history and sidecars."""
    return {key: value for key, value in request.items() if key not in SECRET_FIELDS}


def redact_secrets(request: dict[str, Any]) -> dict[str, Any]:
    """A copy of *request* with secrets replaced, fit for ``--dry-run`` output."""
    return {key: ("***" if key in SECRET_FIELDS else value) for key, value in request.items()}


@dataclass(frozen=True)
class Job:
    """One video generation job as the API reports it; ``raw`` is the server's object."""

    id: str
    status: str
    created: int | None = None
    model: str | None = None
    urls: tuple[str, ...] = ()
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_api(cls, payload: object) -> Job:
        """Validate the server's JSON; anything off raises ``BadResponse``."""
        if not isinstance(payload, dict):
            raise BadResponse(f"expected a JSON object from the API, got {type(payload).__name__}")
        job_id = payload.get("id")
        status = payload.get("status")
        if not isinstance(job_id, str) or not job_id:
            raise BadResponse("the API's answer has no job id")
        if not isinstance(status, str) or status not in KNOWN_STATUSES:
            raise BadResponse(f"the API's answer has an unknown job status: {status!r}")
        created = payload.get("created")
        model = payload.get("model")
        return cls(
            id=job_id,
            status=status,
            created=created if isinstance(created, int) and not isinstance(created, bool) else None,
            model=model if isinstance(model, str) else None,
            urls=_result_urls(payload.get("data")),
            error=_error_message(payload.get("error")),
            raw=payload,
        )


def _result_urls(data: object) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise BadResponse("the API's 'data' is not a list")
    urls = []
    for item in data:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url:
            raise BadResponse("the API's 'data' holds an item without a url")
        urls.append(url)
    return tuple(urls)


def _error_message(error: object) -> str | None:
    if error is None:
        return None
    if isinstance(error, dict):
        message = error.get("message")
        return message if isinstance(message, str) else str(error)
    return str(error)


def error_message_from_body(body: bytes, fallback: str) -> str:
    """The server's ``error.message`` from an error response, or *fallback*.

    HTML error pages and other non-JSON bodies give *fallback*: never dump a page.
    """
    import json

    try:
        payload = json.loads(body)
    except ValueError:
        return fallback
    if isinstance(payload, dict):
        message = _error_message(payload.get("error")) or payload.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()[:500]
    return fallback
