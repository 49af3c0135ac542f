"""LumenClient: the thin httpx layer over the Lumen video API.

Every request goes through the one retry loop (``api/retry.py``) and follows one rule: it is
sent again only when that cannot bill the user twice. GETs are safe to repeat. The job POST
is billed and the API takes no idempotency key, so it is repeated only after a 429 (the
server refused it) or a failure before any byte was sent; after a 5xx, a read timeout or a
dropped connection its outcome is unknown and it is never sent again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from lumen_cli.api.models import Job, error_message_from_body
from lumen_cli.api.retry import (
    RetryNote,
    RetryPolicy,
    TryAgain,
    call_with_retries,
    retry_after,
    retryable_status,
)
from lumen_cli.api.transport import READ_TIMEOUT
from lumen_cli.clock import Clock, SystemClock
from lumen_cli.config import check_base_url
from lumen_cli.errors import (
    APIError,
    AuthRejected,
    BadResponse,
    NoKey,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
    describe_exception,
    error_for_status,
)

if TYPE_CHECKING:
    import httpx

    from lumen_cli.api.pacing import Pacer

T = TypeVar("T")
JOBS_PATH = "/v1/videos/generations"
# An id no job can have: the API answers 404 to a good key and 401 to a bad one.
KEY_PROBE_ID = "lumen-cli-key-check"


def never_sent(exc: httpx.TransportError) -> bool:
    """True when *exc* happened before any byte of the request reached the server."""
    import httpx

    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class LumenClient:
    """Talks to one Lumen API base URL with one key. Use as a context manager.

    *on_retry* hears about each retry before the loop sleeps (the CLI shows it on stderr).
    """

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
        on_retry: Callable[[RetryNote], None] | None = None,
    ) -> None:
        from lumen_cli.api.transport import new_client

        self.base_url = check_base_url(base_url)
        self._api_key = api_key
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.on_retry = on_retry
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._http = new_client(
            base_url=self.base_url,
            api_key=api_key,
            headers={"Accept": "application/json"},
            max_connections=max_connections,
            read_timeout=read_timeout,
        )

    def __enter__(self) -> LumenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the API -----------------------------------------------------------------

    def create_job(self, body: dict[str, Any], *, pacer: Pacer | None = None) -> Job:
        """POST a job. Raises ``OutcomeUnknown`` when it may have been created.

        *pacer*: the submit shares its rate limit with others (a batch's), see ``pacing``.
        """
        return self._call("POST", JOBS_PATH, Job.from_api, body=body, resend=False, pacer=pacer)

    def get_job(self, job_id: str) -> Job:
        """GET one job, retrying transient failures within the deadline."""
        return self._call("GET", f"{JOBS_PATH}/{quote(job_id, safe='')}", Job.from_api)

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

    def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[object], T],
        *,
        body: dict[str, Any] | None = None,
        resend: bool = True,
        pacer: Pacer | None = None,
    ) -> T:
        """Send one request through the retry loop and return its JSON, read by *parse*.

        *resend* False is the billed POST's rule: once the request may have reached the
        server it is never sent again, and anything but a clear answer is ``OutcomeUnknown``.
        """
        if not self._api_key:
            raise NoKey()
        return call_with_retries(
            lambda: self._attempt(method, path, parse, body, resend),
            policy=self.retry,
            clock=self.clock,
            rng=self._rng,
            on_retry=self.on_retry,
            pacer=pacer,
        )

    def _attempt(
        self,
        method: str,
        path: str,
        parse: Callable[[object], T],
        body: dict[str, Any] | None,
        resend: bool,
    ) -> T:
        import httpx

        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            if not resend and not never_sent(exc):
                raise OutcomeUnknown(
                    f"the connection failed after the job was sent ({describe_exception(exc)})"
                ) from exc
            raise TryAgain(
                Unavailable(f"could not reach {self._host}: {describe_exception(exc)}")
            ) from None
        status = response.status_code
        if retryable_status(status):
            error = self._status_error(response)
            if not resend and status != 429:
                raise OutcomeUnknown(f"the API answered {status} to the submit ({error.message})")
            delay = retry_after(response.headers, self.retry, self.clock.time())
            raise TryAgain(error, delay=delay)
        if status >= 400:
            raise self._status_error(response)
        try:
            return parse(self._json(response))
        except BadResponse as exc:
            if resend:
                raise
            raise OutcomeUnknown(
                "the API accepted the submit but its answer is unreadable: " + exc.message
            ) from exc

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
