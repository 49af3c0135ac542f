"""Every error the CLI can end with, and the one table that maps them to exit codes.

The API layer raises these; ``app.py`` turns them into a message, a hint and an exit code.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterable
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


# The one exit-code table: what each code means. `lumen --help` and README's table are made
# from it (a test holds README to it), and every command ends through the functions below.
EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: (
        "unexpected error; a check that answers no: `webhook verify` (invalid signature), "
        "`webhook send` (the handler refused), `config get` (not set), "
        "`sandbox status` (none running)"
    ),
    ExitCode.BAD_INPUT: "bad input: usage, client-side validation, HTTP 400",
    ExitCode.AUTH: "no key, or key rejected (401)",
    ExitCode.CREDITS: "insufficient credits (402)",
    ExitCode.NOT_FOUND: "not found (404: job or model)",
    ExitCode.UNAVAILABLE: (
        "service unavailable after retries (429/5xx/network), a submit whose outcome is "
        "unknown, a failed download or upload"
    ),
    ExitCode.JOB_FAILED: "a job failed",
    ExitCode.JOB_CANCELLED: "a job was cancelled",
    ExitCode.TIMEOUT: "`wait` timed out with a job still running",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); nothing tracked is lost",
}

# How a followed job's last known status ends the run.
JOB_STATUS_EXIT: dict[str, ExitCode] = {
    "succeeded": ExitCode.OK,
    "failed": ExitCode.JOB_FAILED,
    "cancelled": ExitCode.JOB_CANCELLED,
    "queued": ExitCode.TIMEOUT,  # still running when the wait stopped
    "processing": ExitCode.TIMEOUT,
}

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
WORST_ORDER_NOTE = (
    "With several jobs the exit code is the worst outcome, in this order: a failed job, "
    "a cancelled one, one still running, the service unavailable, an id not found."
)


def exit_code_for_job(status: str) -> ExitCode:
    """The exit code of a run that followed a job to *status*."""
    return JOB_STATUS_EXIT.get(status, ExitCode.ERROR)


def exit_code_for_answer(status: int) -> ExitCode:
    """The exit code for an HTTP *status* answered by someone else's server (a webhook handler)."""
    if 200 <= status < 300:
        return ExitCode.OK
    return ExitCode.UNAVAILABLE if status >= 500 else ExitCode.ERROR


def worst_exit_code(codes: Iterable[ExitCode]) -> ExitCode:
    """The exit code for a run whose parts ended with *codes* (``OK`` when none failed)."""
    failed = set(codes) - {ExitCode.OK}
    return next(
        (code for code in SEVERITY if code in failed), ExitCode.ERROR if failed else ExitCode.OK
    )


def exit_code_help() -> str:
    """The exit-code block of ``lumen --help``: the same table as README's (markdown)."""
    return "**Exit codes**\n\n" + exit_code_table()


def exit_code_table() -> str:
    """README's exit-code table (markdown), made from the same table as ``--help``."""
    rows = [f"| {int(code)} | {text} |" for code, text in EXIT_CODES.items()]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


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

    def __str__(self) -> str:
        return self.message  # which callers may have added to since it was raised

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


class HistoryBusy(HistoryError):
    """Another lumen process held the history's lock too long; trying again may work."""

    kind = "history_busy"


class HistoryUnreachable(HistoryError):
    """The shared history's server cannot be reached (or turned us away): nothing that
    needs it was sent."""

    exit_code = ExitCode.UNAVAILABLE
    kind = "history_unreachable"


class BatchBusy(LumenError):
    """Another ``lumen`` process is sending the same batch."""

    kind = "batch_busy"


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

    def __init__(self, command: str | None = None) -> None:
        hint = _INTERRUPT_HINTS.get(command or "", "Every job stays in the history: `lumen list`.")
        super().__init__("interrupted", hint=hint)


class DownloadError(Unavailable):
    """A result file could not be fetched completely."""

    kind = "download"


class UploadFailed(Unavailable):
    """A local input file could not be uploaded (nothing was sent to the API)."""

    kind = "upload"


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


# The one place where HTTP statuses become exception classes and hints. A hint may depend
# on what was asked: a 404 to a submit is about the model, to a GET about the job id.
_STATUS_TABLE: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthRejected,
    402: InsufficientCredits,
    404: NotFound,
    429: RateLimited,
}
_HINTS: dict[tuple[int, str], str] = {
    (400, "submit"): "Check the flags against `lumen submit --help`.",
    (401, "any"): AUTH_HINT,
    (402, "any"): "Top up credits in the Lumen console; failed jobs are refunded.",
    (404, "submit"): (
        "No such model (or duration) for this key: check --model "
        "(e.g. seedance-2, seedance-2-fast, veo-3-1) and --duration."
    ),
    (404, "job"): "No job with this id here: check it with `lumen list` (ids are case-sensitive).",
    (429, "any"): "The API is rate limiting; wait a little, or lower batch concurrency.",
    (500, "any"): "The service had an error; try again later.",
}
_SAFETY_HINT = "The prompt was refused by the content policy: rephrase it."


def error_for_status(status: int, message: str, *, asked: str = "job") -> APIError:
    """The typed error for an HTTP error *status* carrying the server's *message*.

    *asked* is what the request was: ``"submit"`` (the job POST) or ``"job"`` (a GET).
    """
    cls = _STATUS_TABLE.get(status) or (ServerError if status >= 500 else BadRequest)
    if status < 400:
        cls = APIError
    row = min(status, 500)
    hint = _HINTS.get((row, asked)) or _HINTS.get((row, "any"))
    if status == 400 and any(word in message.lower() for word in ("safety", "blocked", "policy")):
        hint = _SAFETY_HINT
    return cls(message, status=status, hint=hint)


# What a Ctrl-C leaves behind, by command: how to carry on.
_INTERRUPT_HINTS = {
    "download": "Run the same `lumen download …` again: it resumes from the .part files kept.",
    "wait": "Every job stays in the history: `lumen wait --all` follows them again.",
    "submit": "Every job stays in the history: `lumen wait --all` follows them again.",
}
