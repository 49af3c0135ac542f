"""Typed views of what the API returns, validated at the edge so nothing downstream guesses."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lumen_cli.errors import BadResponse
from lumen_cli.net import is_http_url
from lumen_cli.text import shorten

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
# What a job was asked for, in the API's own names (beyond model and prompt).
REQUEST_FIELDS = (
    "resolution",
    "aspect_ratio",
    "duration",
    "generate_audio",
    *IMAGE_FIELDS,
    *VIDEO_FIELDS,
    "webhook_url",
)


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


MAX_ID_CHARS = 200  # vendor ids are ~25 characters; a longer one is not an id
MAX_URL_CHARS = 8192
MAX_ERROR_CHARS = 2000
LAST_PLAUSIBLE_TIME = 4_102_444_800  # 2100-01-01: a "created" beyond it is garbage
_UNSAFE_ID = re.compile(r"[\x00-\x20\x7f-\x9f/\\]|^\.{1,2}$")


def check_job_id(job_id: str) -> str:
    """*job_id* if it can name a job in a URL path, a file name and a terminal line.

    Raises ``BadInput``: ``.`` and ``..``, ``/``, backslashes, spaces and control characters
    would change the request's path or forge output, and no job has such an id.
    """
    from lumen_cli.errors import BadInput

    problem = id_problem(job_id)
    if problem:
        raise BadInput(f"{shorten(job_id, 80)!s} is not a job id: {problem}")
    return job_id


def id_problem(job_id: str) -> str | None:
    """What is wrong with *job_id* as an id, or None."""
    if not job_id:
        return "it is empty"
    if len(job_id) > MAX_ID_CHARS:
        return f"it is {len(job_id)} characters long (ids have at most {MAX_ID_CHARS})"
    if _UNSAFE_ID.search(job_id):
        return "ids hold no '/', '\\', spaces or control characters and are not '.' or '..'"
    return None


@dataclass(frozen=True)
class Job:
    """One video generation job as the API reports it; ``raw`` is the server's object.

    Every field is checked at this edge: nothing downstream (history, file names, output)
    has to guess at what a server sent.
    """

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
        problem = id_problem(job_id)
        if problem:
            raise BadResponse(
                f"the API's answer has an unusable job id {shorten(job_id, 60)}: {problem}"
            )
        if not isinstance(status, str) or status not in KNOWN_STATUSES:
            raise BadResponse(
                f"the API's answer has an unknown job status: {shorten(repr(status), 60)}"
            )
        return cls(
            id=job_id,
            status=status,
            created=plausible_time(payload.get("created")),
            model=_short_text(payload.get("model"), MAX_ID_CHARS),
            urls=_result_urls(payload.get("data")),
            error=_error_message(payload.get("error")),
            raw=payload,
        )


def plausible_time(value: object) -> int | None:
    """*value* as a Unix time if it is a whole number between 1970 and 2100, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= LAST_PLAUSIBLE_TIME else None


def _short_text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


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
        if len(url) > MAX_URL_CHARS or not is_http_url(url):
            raise BadResponse(f"the API's result URL is not an http(s) URL: {shorten(url, 80)}")
        urls.append(url)
    return tuple(urls)


def _error_message(error: object) -> str | None:
    if error is None:
        return None
    if isinstance(error, dict):
        message = error.get("message")
        text = message if isinstance(message, str) else json.dumps(error)[:MAX_ERROR_CHARS]
    else:
        text = str(error)
    return text[:MAX_ERROR_CHARS]


def error_message_from_body(body: bytes, fallback: str) -> str:
    """The server's ``error.message`` from an error response, or *fallback*.

    HTML error pages and other non-JSON bodies give *fallback*: never dump a page.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return fallback
    if isinstance(payload, dict):
        message = _error_message(payload.get("error")) or payload.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()[:500]
    return fallback
