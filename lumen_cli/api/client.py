"""LumenClient: the thin httpx layer over the Lumen video API.

Retries live here and follow one rule: a request is sent again only when that cannot
bill the user twice. GETs are safe to repeat. The job POST is billed and the API takes
no idempotency key, so it is repeated only after a 429 (the server refused it) or a
failure before any byte was sent; after a 5xx, a read timeout or a dropped connection
its outcome is unknown and it is never sent again.
"""

from __future__ import annotations

import platform
import random
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from lumen_cli import __version__
from lumen_cli.api.models import Job, error_message_from_body
from lumen_cli.api.retry import RetryPolicy, parse_retry_after
from lumen_cli.clock import Clock, SystemClock
from lumen_cli.errors import (
    APIError,
    AuthRejected,
    BadResponse,
    ConfigError,
    LumenError,
    NoKey,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
    describe_exception,
    error_for_status,
)
from lumen_cli.net import is_loopback

if TYPE_CHECKING:
    import httpx

JOBS_PATH = "/v1/videos/generations"
# An id no job can have: the API answers 404 to a good key and 401 to a bad one.
KEY_PROBE_ID = "lumen-cli-key-check"

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


def user_agent() -> str:
    return f"lumen-cli/{__version__} (Python {platform.python_version()}; {platform.system()})"


def check_base_url(base_url: str) -> str:
    """Validate *base_url*; the key goes over plain http only to this machine."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing to send the API key over plain http to {parts.hostname}",
            hint="Use an https:// base_url (plain http is allowed for 127.0.0.1 only).",
        )
    return base_url.rstrip("/")


class LumenClient:
    """Talks to one Lumen API base URL with one key. Use as a context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        max_connections: int = 10,
        read_timeout: float = READ_TIMEOUT,
        rng: random.Random | None = None,
    ) -> None:
        import httpx

        self.base_url = check_base_url(base_url)
        self._api_key = api_key
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
            # A redirect could carry the key elsewhere; the API never redirects.
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            trust_env=False,
        )

    def __enter__(self) -> LumenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the API -----------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> Job:
        """POST a job. Raises ``OutcomeUnknown`` when it may have been created."""
        import httpx

        self._require_key()
        started = self.clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.post(JOBS_PATH, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: safe to try again.
                failure: LumenError = Unavailable(
                    f"could not reach {self._host}: {describe_exception(exc)}"
                )
                delay = self.retry.backoff(attempt, self._rng)
            except httpx.TransportError as exc:
                raise OutcomeUnknown(
                    f"the connection failed after the job was sent ({describe_exception(exc)})"
                ) from exc
            else:
                if response.status_code == 429:
                    failure = self._status_error(response)
                    delay = self._retry_after(response) or self.retry.backoff(attempt, self._rng)
                elif response.status_code >= 500:
                    raise OutcomeUnknown(
                        f"the API answered {response.status_code} to the submit "
                        f"({self._status_error(response).message})"
                    )
                elif response.status_code >= 400:
                    raise self._status_error(response)
                else:
                    try:
                        return Job.from_api(self._json(response))
                    except BadResponse as exc:
                        raise OutcomeUnknown(
                            "the API accepted the submit but its answer is unreadable: "
                            + exc.message
                        ) from exc
            self._wait_or_give_up(failure, attempt, delay, started)

    def get_job(self, job_id: str) -> Job:
        """GET one job, retrying transient failures within the deadline."""
        self._require_key()
        return Job.from_api(self._get(f"{JOBS_PATH}/{quote(job_id, safe='')}"))

    def key_is_accepted(self) -> bool:
        """Ask the API whether the key is good, without creating anything."""
        try:
            self.get_job(KEY_PROBE_ID)
        except NotFound:
            return True
        except AuthRejected:
            return False
        return True

    # -- plumbing ---------------------------------------------------------------

    @property
    def _host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _require_key(self) -> None:
        if not self._api_key:
            raise NoKey()

    def _get(self, path: str) -> object:
        import httpx

        started = self.clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.get(path)
            except httpx.TransportError as exc:
                failure: LumenError = Unavailable(
                    f"could not reach {self._host}: {describe_exception(exc)}"
                )
                delay = self.retry.backoff(attempt, self._rng)
            else:
                if response.status_code < 400:
                    return self._json(response)
                failure = self._status_error(response)
                if not _retryable(response.status_code):
                    raise failure
                delay = self._retry_after(response) or self.retry.backoff(attempt, self._rng)
            self._wait_or_give_up(failure, attempt, delay, started)

    def _wait_or_give_up(
        self, failure: LumenError, attempt: int, delay: float, started: float
    ) -> None:
        elapsed = self.clock.monotonic() - started
        if attempt >= self.retry.max_attempts or elapsed + delay > self.retry.deadline:
            failure.message = f"{failure.message} (gave up after {attempt} attempts)"
            raise failure
        self.clock.sleep(delay)

    def _retry_after(self, response: httpx.Response) -> float | None:
        seconds = parse_retry_after(response.headers.get("Retry-After"), self.clock.time())
        if seconds is None:
            return None
        return min(seconds, self.retry.retry_after_cap)

    def _status_error(self, response: httpx.Response) -> APIError:
        fallback = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        message = error_message_from_body(response.content, fallback)
        error = error_for_status(response.status_code, message)
        if isinstance(error, RateLimited):
            error.message = f"rate limited: {message}"
        return error

    def _json(self, response: httpx.Response) -> object:
        content_type = response.headers.get("Content-Type", "")
        if not response.content:
            raise BadResponse(f"the API sent an empty answer (HTTP {response.status_code})")
        try:
            return response.json()
        except ValueError:
            kind = "an HTML page" if "html" in content_type else "something that is not JSON"
            raise BadResponse(
                f"the API sent {kind} instead of JSON (HTTP {response.status_code})",
                hint="A proxy or gateway may be in the way; check base_url with `lumen doctor`.",
            ) from None


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500
