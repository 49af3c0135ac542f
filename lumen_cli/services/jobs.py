"""Asking about one job: refresh it from the API, and refuse what cannot be asked about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lumen_cli.errors import BadInput, JobCancelled, JobFailed, JobNotFinished
from lumen_cli.history import LOCAL_ID_PREFIX

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.services import Runtime


def refresh_job(rt: Runtime, job_id: str) -> Job:
    """GET *job_id* once and store what the API says of it."""
    job = rt.client.get_job(job_id)
    rt.history.update_from_api(job, profile=rt.settings.profile, base_url=rt.client.base_url)
    return job


def check_trackable(rt: Runtime, job_id: str) -> None:
    """Refuse ids that have no server side: submits whose outcome is unknown."""
    if job_id.startswith(LOCAL_ID_PREFIX):
        record = rt.history.get(job_id)
        detail = f" ({record.error})" if record and record.error else ""
        raise BadInput(
            f"{job_id} is a local record of a submit whose outcome is unknown{detail}",
            hint="It has no server id to ask about; look for the job in the Lumen console.",
        )


def require_success(rt: Runtime, job: Job) -> None:
    """Raise the error that says why a job that did not succeed has nothing to download."""
    reason = job.error or "no reason given"
    if job.status == "failed":
        raise JobFailed(f"job {job.id} failed: {reason}")
    if job.status == "cancelled":
        raise JobCancelled(f"job {job.id} was cancelled: {reason}")
    if job.status != "succeeded":
        prefix = "lumen --sandbox" if rt.sandbox else "lumen"
        raise JobNotFinished(
            f"job {job.id} is still {job.status}: there is nothing to download yet",
            hint=f"Wait for it and download it in one go: {prefix} wait {job.id} --download",
        )
