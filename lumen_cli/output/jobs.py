"""How a job reads for people: its fields, its times, and the report at the end of a follow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.errors import LumenError
    from lumen_cli.history import JobRecord
    from lumen_cli.output import Output


def job_fields(job: Job, record: JobRecord | None = None) -> list[tuple[str, object]]:
    """The lines people see for one job: what the API said, plus what the history knows."""
    created = job.created if job.created is not None else (record.created_at if record else None)
    return [
        ("id", job.id),
        ("status", job.status),
        ("model", job.model or (record.model if record else None)),
        ("mode", record.mode if record else None),
        ("created", format_time(created) if created is not None else None),
        ("prompt", record.prompt if record else job.raw.get("prompt")),
        ("error", job.error),
        ("video", list(job.urls)),
        ("saved", record.paths if record else None),
    ]


def format_time(timestamp: float) -> str:
    """Local time, to the second: ``2026-11-25 18:40:19``."""
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def report_followed(
    out: Output,
    ids: Sequence[str],
    jobs: Mapping[str, Job],
    missing: Mapping[str, LumenError],
    saved: Mapping[str, list[str]],
    *,
    timed_out: bool,
    single: bool,
) -> None:
    """The end of ``wait`` / ``submit --wait``: warnings on stderr, one line a job on stdout.

    Under ``--json``: the jobs (one object when *single*); with ``-q``: nothing, the exit
    code says how it ended.
    """
    for job_id, error in missing.items():
        out.warn(f"{job_id}: {error.message}")
    for job in jobs.values():
        if job.status in ("failed", "cancelled"):
            out.warn(f"{job.id} {job.status}: {job.error or 'no reason given'}")
    if timed_out:
        pending = sum(1 for job in jobs.values() if not job.terminal)
        out.warn(
            f"timed out with {pending} job(s) still running; `lumen wait --all` picks them up again"
        )
    if out.quiet:
        return
    if out.json_mode:
        documents = [jobs[i].raw for i in ids if i in jobs]
        out.json(documents[0] if single and documents else documents)
        return
    for job_id in ids:
        found = jobs.get(job_id)
        if found is None:
            out.record([job_id, "not found"])
            continue
        detail = saved.get(job_id) or list(found.urls) or ([found.error] if found.error else [])
        out.record([found.id, found.status, *detail])
