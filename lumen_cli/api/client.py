"""LumenClient: the thin httpx layer over the Lumen video API.

Every request goes through the one retry loop (``api/retry.py``) and follows one rule: it is
sent again only when that cannot bill the user twice. GETs are safe to repeat. The job POST
is billed and the API takes no idempotency key, so it is repeated only after a 429 (the
server refused it) or a failure before any byte was sent; after a 5xx, a read timeout or a
dropped connection its outcome is unknown and it is never sent again.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from lumen_cli.api.models import Job, check_job_id, error_message_from_body
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
from lumen_cli.text import shorten

if TYPE_CHECKING:
    import httpx

    from lumen_cli.api.pacing import Pacer

T = TypeVar("T")
JOBS_PATH = "/v1/videos/generations"
MAX_ANSWER_BYTES = 4 << 20  # a job is a few hundred bytes; a status answer is never MiBs
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

    def get_job(self, job_id: str, *, within: float | None = None) -> Job:
        """GET one job, retrying transient failures within the deadline.

        *within* bounds the whole call, retries and requests in flight included (``wait
        --timeout``). The answer must be about *job_id*: another id is refused, not saved.
        """
        check_job_id(job_id)
        job = self._call(
            "GET", f"{JOBS_PATH}/{quote(job_id, safe='')}", Job.from_api, within=within
        )
        if job.id != job_id:
            raise BadResponse(
                f"asked about job {job_id}, the API answered about {shorten(job.id, 80)}; "
                "nothing was saved",
                hint="A proxy or gateway may be in the way; check base_url with `lumen doctor`.",
            )
        return job

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
        within: float | None = None,
        pacer: Pacer | None = None,
    ) -> T:
        """Send one request through the retry loop and return its JSON, read by *parse*.

        *resend* False is the billed POST's rule: once the request may have reached the
        server it is never sent again, and anything but a clear answer is ``OutcomeUnknown``.
        """
        from lumen_cli.api.network import deadline

        if not self._api_key:
            raise NoKey()
        policy = self.retry
        if within is not None:
            policy = dataclasses.replace(policy, deadline=min(policy.deadline, within))
        with deadline(within):
            return call_with_retries(
                lambda: self._attempt(method, path, parse, body, resend),
                policy=policy,
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

        from lumen_cli.api.network import deadline, describe_failure, unknown_host

        try:
            with deadline(self.retry.attempt_seconds):  # however slowly the server trickles
                answer = self._exchange(method, path, body)
        except httpx.TransportError as exc:
            if not resend and not never_sent(exc):
                raise OutcomeUnknown(
                    f"the connection failed after the job was sent ({describe_exception(exc)})"
                ) from exc
            reason = describe_failure(exc)
            unreachable = Unavailable(f"could not reach {self._host}: {reason}")
            if unknown_host(exc):
                raise unreachable from None  # no retry heals a name that does not resolve
            raise TryAgain(unreachable, reason=reason) from None
        except BadResponse as exc:  # an answer too large to read
            if resend:
                raise
            raise OutcomeUnknown(f"the API's answer to the submit is unusable: {exc}") from exc
        status = answer.status
        if 300 <= status < 400:
            # Nothing is created by a redirect, and the key must not follow it anywhere.
            raise BadResponse(
                f"the API answered HTTP {status}, redirected to {answer.location_host()}; "
                "lumen does not follow redirects with the key",
                hint="Check base_url (`lumen config get base_url`): it may need https:// "
                "or a different path.",
            )
        asked = "job" if resend else "submit"
        if retryable_status(status):
            error = self._status_error(answer, asked)
            if not resend and status != 429:
                raise OutcomeUnknown(f"the API answered {status} to the submit ({error.message})")
            delay = retry_after(answer.headers, self.retry, self.clock.time())
            raise TryAgain(error, delay=delay, reason=f"HTTP {status}: {error.message}")
        if status >= 400:
            raise self._status_error(answer, asked)
        try:
            return parse(answer.json())
        except BadResponse as exc:
            if resend:
                raise
            raise OutcomeUnknown(
                "the API accepted the submit but its answer is unreadable: " + exc.message
            ) from exc

    def _exchange(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        """One request and its whole answer, read up to ``MAX_ANSWER_BYTES``."""
        request = self._http.build_request(method, path, json=body)
        response = self._http.send(request, stream=True)
        try:
            announced = response.headers.get("Content-Length", "")
            if announced.isascii() and announced.isdigit() and int(announced) > MAX_ANSWER_BYTES:
                raise _too_large(int(announced))
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > MAX_ANSWER_BYTES:
                    raise _too_large(None)
        finally:
            response.close()
        return Answer(
            response.status_code, response.reason_phrase, response.headers, bytes(content)
        )

    def _status_error(self, answer: Answer, asked: str) -> APIError:
        fallback = f"HTTP {answer.status} {answer.reason}".strip()
        message = error_message_from_body(answer.content, fallback)
        error = error_for_status(answer.status, message, asked=asked)
        if isinstance(error, RateLimited):
            error.message = f"rate limited: {message}"
        return error


@dataclass(frozen=True)
class Answer:
    """An API answer, read whole (and no larger than ``MAX_ANSWER_BYTES``)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> object:
        """The JSON document of the answer; ``BadResponse`` for anything else."""
        import json

        if not self.content:
            raise BadResponse(f"the API sent an empty answer (HTTP {self.status})")
        try:
            return json.loads(self.content)
        except RecursionError:
            raise BadResponse(f"the API sent JSON nested too deeply (HTTP {self.status})") from None
        except ValueError:
            content_type = self.headers.get("Content-Type", "")
            kind = "an HTML page" if "html" in content_type else "something that is not JSON"
            raise BadResponse(
                f"the API sent {kind} instead of JSON (HTTP {self.status})",
                hint="A proxy or gateway may be in the way; check base_url with `lumen doctor`.",
            ) from None

    def location_host(self) -> str:
        """Where a redirect points (its host only: a URL may carry credentials)."""
        location = self.headers.get("Location", "")
        try:
            host = urlsplit(location).hostname
        except ValueError:
            host = None
        return host or "an address it did not give"


def _too_large(announced: int | None) -> BadResponse:
    size = f"{announced} bytes" if announced is not None else "more"
    return BadResponse(
        f"the API's answer is too large ({size}; at most {MAX_ANSWER_BYTES >> 20} MiB are read)",
        hint="A proxy or gateway may be in the way; check base_url with `lumen doctor`.",
    )
