"""Submit-and-record: a job POST that the history never loses.

A submit is recorded before its request leaves, so that whatever happens next (a dropped
connection, a 5xx, Ctrl-C) the history still holds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import detect_mode, strip_secrets
from lumen_cli.errors import LumenError, OutcomeUnknown

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.api.pacing import Pacer
    from lumen_cli.services import Runtime


def submit_job(rt: Runtime, body: dict[str, Any]) -> Job:
    """POST *body* once, keeping the history true to what is known of the job."""
    client = rt.client  # raises NoKey before anything is recorded
    history = rt.history
    local_id = history.record_submitting(
        profile=rt.settings.profile,
        base_url=client.base_url,
        request=strip_secrets(body),
        mode=detect_mode(body),
    )
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
        history.mark_unknown(local_id, error.message)
        error.local_id = local_id
        error.message = f"{error.message}; kept in the history as {local_id}"
        raise
    except LumenError:
        history.forget(local_id)  # refused before it was sent or by the API: no job, no bill
        raise
    except BaseException:
        # Ctrl-C while the request was in flight: the job may exist.
        history.mark_unknown(local_id, "interrupted while the submit was in flight")
        raise
    history.resolve_submitted(local_id, job)
    return job
