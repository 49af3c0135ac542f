"""Every error the CLI can end with, and the one table that maps them to exit codes.

The API layer raises these; ``app.py`` turns them into a message, a hint and an exit code.
Nothing here prints.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, as documented in README and ``lumen --help``."""

    OK = 0
    ERROR = 1
    BAD_INPUT = 2
    AUTH = 3
    CREDITS = 4
    NOT_FOUND = 5
    UNAVAILABLE = 6
    JOB_FAILED = 7
    JOB_CANCELLED = 8
    TIMEOUT = 9
    INTERRUPTED = 130


EXIT_CODE_HELP = """\
Exit codes:
  0  success
  1  unexpected error; webhook verify: signature invalid
  2  bad input: usage, client-side validation, HTTP 400
  3  no key, or key rejected (401)
  4  insufficient credits (402)
  5  not found (404: job or model)
  6  service unavailable after retries (429/5xx/network), a submit whose outcome
     is unknown, a failed download
  7  a job failed
  8  a job was cancelled
  9  wait timed out with a job still running
  130  interrupted (Ctrl-C); nothing tracked is lost"""


# When several jobs end differently, a command exits with the first of these that
# occurred: what a job did outranks how we fared talking about it, which outranks typos.
SEVERITY = (
    ExitCode.JOB_FAILED,
    ExitCode.JOB_CANCELLED,
    ExitCode.TIMEOUT,
    ExitCode.UNAVAILABLE,
    ExitCode.NOT_FOUND,
    ExitCode.AUTH,
    ExitCode.CREDITS,
    ExitCode.BAD_INPUT,
    ExitCode.ERROR,
)


def worst_exit_code(codes: set[ExitCode]) -> ExitCode:
    """The exit code for a run whose jobs ended with *codes* (``OK`` when empty)."""
    codes = codes - {ExitCode.OK}
    return next(
        (code for code in SEVERITY if code in codes), ExitCode.ERROR if codes else ExitCode.OK
    )


def describe_exception(exc: BaseException) -> str:
    """``ConnectError: [Errno 111] Connection refused``: a transport failure, for messages."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class LumenError(Exception):
    """Base of every error the CLI reports as a message rather than a traceback."""

    exit_code: ExitCode = ExitCode.ERROR
    kind: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_json(self) -> dict[str, object]:
        """The error as scripts see it under ``--json``."""
        body: dict[str, object] = {
            "type": self.kind,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }
        if self.hint:
            body["hint"] = self.hint
        return {"error": body}


class BadInput(LumenError):
    """The user's input was rejected before anything was sent."""

    exit_code = ExitCode.BAD_INPUT
    kind = "bad_input"


class ConfigError(BadInput):
    """The config file or a setting is unusable."""

    kind = "config"


class NoKey(LumenError):
    """No API key is configured."""

    exit_code = ExitCode.AUTH
    kind = "no_key"

    def __init__(self, message: str = "no API key is set") -> None:
        super().__init__(message, hint=AUTH_HINT)


class HistoryError(LumenError):
    """The local job history cannot be read or written."""

    kind = "history"


class Unavailable(LumenError):
    """The service could not be reached, or kept failing, within the deadline."""

    exit_code = ExitCode.UNAVAILABLE
    kind = "unavailable"


class BadResponse(Unavailable):
    """The server answered something that is not the JSON we expect."""

    kind = "bad_response"


class OutcomeUnknown(Unavailable):
    """A billed POST may or may not have created a job; it is never sent again."""

    kind = "outcome_unknown"

    def __init__(self, message: str, *, local_id: str | None = None) -> None:
        hint = (
            "The job may exist and be billed. It is kept in the history as 'unknown'; "
            "check the console or `lumen list --status unknown` before submitting again."
        )
        super().__init__(message, hint=hint)
        self.local_id = local_id


class Interrupted(LumenError):
    """Ctrl-C: the run stopped; the history keeps every job."""

    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"

    def __init__(self) -> None:
        super().__init__(
            "interrupted", hint="Every job stays in the history: `lumen list`, `lumen wait --all`."
        )


class DownloadError(Unavailable):
    """A result file could not be fetched completely."""

    kind = "download"


class JobFailed(LumenError):
    """The job ended failed: there is nothing to download."""

    exit_code = ExitCode.JOB_FAILED
    kind = "job_failed"


class JobCancelled(LumenError):
    """The job was cancelled: there is nothing to download."""

    exit_code = ExitCode.JOB_CANCELLED
    kind = "job_cancelled"


class JobNotFinished(BadInput):
    """The job is still queued or processing."""

    kind = "job_not_finished"


AUTH_HINT = (
    "Set a key with `lumen auth login` or the LUMEN_API_KEY environment variable; "
    "`lumen --sandbox …` works with no key at all."
)


class APIError(LumenError):
    """The API answered with an error status; ``message`` is the server's own."""

    kind = "api"

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status

    def to_json(self) -> dict[str, object]:
        body = super().to_json()
        error = body["error"]
        assert isinstance(error, dict)
        error["status"] = self.status
        return body


class BadRequest(APIError):
    exit_code = ExitCode.BAD_INPUT
    kind = "bad_request"


class AuthRejected(APIError):
    exit_code = ExitCode.AUTH
    kind = "unauthorized"


class InsufficientCredits(APIError):
    exit_code = ExitCode.CREDITS
    kind = "insufficient_credits"


class NotFound(APIError):
    exit_code = ExitCode.NOT_FOUND
    kind = "not_found"


class RateLimited(APIError):
    exit_code = ExitCode.UNAVAILABLE
    kind = "rate_limited"


class ServerError(APIError):
    exit_code = ExitCode.UNAVAILABLE
    kind = "server_error"


# The one place where HTTP statuses become exception classes and hints.
_STATUS_TABLE: dict[int, tuple[type[APIError], str | None]] = {
    400: (BadRequest, "Check the flags against `lumen submit --help`."),
    401: (AuthRejected, AUTH_HINT),
    402: (InsufficientCredits, "Top up credits in the Lumen console; failed jobs are refunded."),
    404: (NotFound, "Check the job id (`lumen list`) or the model name (`--model`)."),
    429: (RateLimited, "The API is rate limiting; wait a little, or lower batch concurrency."),
}


def error_for_status(status: int, message: str) -> APIError:
    """Build the typed error for an HTTP error *status* carrying the server's *message*."""
    if status in _STATUS_TABLE:
        cls, hint = _STATUS_TABLE[status]
        return cls(message, status=status, hint=hint)
    if status >= 500:
        return ServerError(
            message, status=status, hint="The service had an error; try again later."
        )
    if 400 <= status < 500:
        return BadRequest(message, status=status)
    return APIError(message, status=status)
