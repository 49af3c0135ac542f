"""Submit-and-record: a job POST that the history never loses.

A submit is recorded before its request leaves, so that whatever happens next (a dropped
connection, a 5xx, Ctrl-C) the history still holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import detect_mode, strip_secrets
from lumen_cli.errors import (
    HistoryBusy,
    HistoryError,
    HistoryUnreachable,
    LumenError,
    OutcomeUnknown,
)

INTERRUPTED = "interrupted while the submit was in flight: the job may exist"
RECORD_ATTEMPTS = 3
RECORD_PAUSE = 1.0  # seconds, growing with each attempt

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.api.pacing import Pacer
    from lumen_cli.services import Runtime


def submit_job(rt: Runtime, body: dict[str, Any]) -> Job:
    """POST *body* once, keeping the history true to what is known of the job."""
    client = rt.client  # raises NoKey before anything is recorded
    history = rt.history
    try:
        local_id = history.record_submitting(
            profile=rt.settings.profile,
            base_url=client.base_url,
            request=strip_secrets(body),
            mode=detect_mode(body),
        )
    except HistoryError as error:  # never a request the history could not keep
        error.message = f"{error.message}; nothing was sent"
        raise
    return send_recorded(rt, local_id, body)


def send_recorded(
    rt: Runtime, local_id: str, body: dict[str, Any], *, pacer: Pacer | None = None
) -> Job:
    """POST *body*, already recorded as submitting under *local_id*, and settle the record.

    ``batch`` records its lines' submits by claiming them, then sends them through here.
    """
    client = rt.client
    history = rt.history
    try:
        job = client.create_job(body, pacer=pacer)
    except OutcomeUnknown as error:
        reason = error.message
        _keep(rt, lambda: history.mark_unknown(local_id, reason))
        error.local_id = local_id
        error.message = f"{error.message}; kept in the history as {local_id}"
        raise
    except LumenError:
        # Refused before it was sent, or by the API: no job, no bill, nothing to keep.
        _keep(rt, lambda: history.forget(local_id))
        raise
    except BaseException:
        # Ctrl-C while the request was in flight: the job may exist.
        _keep(rt, lambda: history.mark_unknown(local_id, INTERRUPTED))
        raise
    _record_accepted(rt, local_id, job)
    return job


def _keep(rt: Runtime, write: Callable[[], None]) -> None:
    """A history write after the request: its failure is a warning, never the error shown
    (the API's own answer, or the unknown outcome, is what the user must read)."""
    try:
        write()
    except HistoryError as exc:
        rt.output.warn(f"the history could not be updated: {exc.message}")


def _record_accepted(rt: Runtime, local_id: str, job: Job) -> None:
    """Store the accepted job's id, trying again while the history is busy.

    The job exists and is billed whatever happens here, so a history that still fails is
    a warning, not the end of the run: the caller prints the id (and follows the job).
    """
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            rt.history.resolve_submitted(local_id, job)
            return
        except (HistoryBusy, HistoryUnreachable) as exc:  # a shared one: connect again
            if attempt == RECORD_ATTEMPTS:
                error: LumenError = exc
                break
            rt.clock.sleep(RECORD_PAUSE * attempt)
        except HistoryError as exc:
            error = exc
            break
    rt.output.warn(
        f"job {job.id} was created (and is billed), but the history could not record it: "
        f"{error.message}; keep its id (the history holds the submit as {local_id})"
    )
