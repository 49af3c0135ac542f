"""Job workflows that span the API and the history: submit-and-record, refresh.

A submit is recorded before its request leaves, so that whatever happens next (a dropped
connection, a 5xx, Ctrl-C) the history still holds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import detect_mode, strip_secrets
from lumen_cli.errors import LumenError, OutcomeUnknown

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.context import AppContext
    from lumen_cli.download import Saved


def submit_job(state: AppContext, body: dict[str, Any]) -> Job:
    """POST *body* once, keeping the history true to what is known of the job."""
    client = state.client  # raises NoKey before anything is recorded
    history = state.history
    local_id = history.record_submitting(
        profile=state.profile,
        base_url=client.base_url,
        request=strip_secrets(body),
        mode=detect_mode(body),
    )
    try:
        job = client.create_job(body)
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


def refresh_job(state: AppContext, job_id: str) -> Job:
    """GET *job_id* once and store what the API says of it."""
    job = state.client.get_job(job_id)
    state.history.update_from_api(job, profile=state.profile, base_url=state.client.base_url)
    return job


def check_trackable(state: AppContext, job_id: str) -> None:
    """Refuse ids that have no server side: submits whose outcome is unknown."""
    from lumen_cli.errors import BadInput
    from lumen_cli.history import LOCAL_ID_PREFIX

    if job_id.startswith(LOCAL_ID_PREFIX):
        record = state.history.get(job_id)
        detail = f" ({record.error})" if record and record.error else ""
        raise BadInput(
            f"{job_id} is a local record of a submit whose outcome is unknown{detail}",
            hint="It has no server id to ask about; look for the job in the Lumen console.",
        )


def download_job(
    state: AppContext,
    job: Job,
    *,
    template: str | None = None,
    force: bool = False,
    sidecar: bool = False,
    progress: bool | None = None,
) -> list[Saved]:
    """Save every result of the succeeded *job* and record the paths in the history.

    The downloader has no API key: result URLs live on another host.
    """
    from lumen_cli.download import Downloader

    record = state.history.get(job.id)
    template = template or state.settings.value("output")
    if progress is None:
        progress = state.output.stderr_tty and not state.output.quiet
    # A checksum costs time on fast links: compute it only where it is shown.
    checksum = sidecar or state.output.json_mode
    with Downloader(clock=state.clock, progress=progress, checksum=checksum) as downloader:
        saved = downloader.fetch_job(
            job, record=record, template=template, force=force, sidecar=sidecar
        )
    state.history.add_paths(job.id, [str(item.path) for item in saved])
    return saved
