"""How a job reads, in every command: one JSON shape, one plain line, one terminal view.

The JSON shape (README, "Output for scripts") is the API's own fields, ``id``, ``status``,
``created``, ``data`` and ``error``, plus lumen's: ``model``, ``prompt``, ``mode``,
``request``, ``paths``, ``profile``, ``base_url``, ``updated``, and ``host`` and ``user``
(who sent it, when lumen did). ``submit``, ``status``,
``wait``, ``list``, ``download`` and ``webhook listen`` all print it (``download`` adds
``files``).

The plain line, when stdout is not a terminal, is tab-separated: id, status, model, mode,
created (UTC, ISO 8601), prompt, then the result: the saved paths, else the result URLs,
else the error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import REQUEST_FIELDS, detect_mode, strip_secrets
from lumen_cli.text import iso_time

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.errors import LumenError
    from lumen_cli.history import JobRecord
    from lumen_cli.output import Output

PLAIN_FIELDS = ("id", "status", "model", "mode", "created", "prompt", "result…")
TABLE_HEADERS = ["ID", "STATUS", "MODEL", "MODE", "CREATED", "PROMPT", "RESULT"]


def job_document(job: Job | None, record: JobRecord | None) -> dict[str, Any]:
    """The one shape of a job: what the API said (*job*) with what the history knows."""
    raw = job.raw if job is not None else {}
    request = strip_secrets(record.request) if record is not None and record.request else {}
    if not request:
        request = {name: raw[name] for name in ("model", "prompt", *REQUEST_FIELDS) if name in raw}
    created: int | None = None
    if job is not None and job.created is not None:
        created = job.created
    elif record is not None and record.created_at:
        created = int(record.created_at)
    urls = list(job.urls) if job is not None else (record.urls if record is not None else [])
    error = job.error if job is not None else (record.error if record is not None else None)
    prompt = record.prompt if record is not None and record.prompt else raw.get("prompt")
    mode = record.mode if record is not None and record.mode else raw.get("mode")
    return {
        "id": job.id if job is not None else record.id if record is not None else None,
        "status": job.status if job is not None else record.status if record is not None else None,
        "created": created,
        "data": [{"url": url} for url in urls],
        "error": {"message": error} if error else None,
        "model": (job.model if job is not None else None) or (record.model if record else None),
        "prompt": prompt if isinstance(prompt, str) else None,
        "mode": mode if isinstance(mode, str) else (detect_mode(request) if request else None),
        "request": request,
        "paths": list(record.paths) if record is not None else [],
        "profile": record.profile if record is not None else None,
        "base_url": record.base_url if record is not None else None,
        "updated": int(record.updated_at) if record is not None and record.updated_at else None,
        "host": record.host if record is not None else None,
        "user": record.user if record is not None else None,
    }


def result_of(document: Mapping[str, Any]) -> list[str]:
    """What a job came to: its saved paths, else its result URLs, else its error."""
    if document.get("paths"):
        return [str(path) for path in document["paths"]]
    if document.get("data"):
        return [str(item["url"]) for item in document["data"]]
    error = document.get("error")
    return [str(error["message"])] if error else []


def plain_line(document: Mapping[str, Any]) -> list[str]:
    """The tab-separated fields of a job (see the module docstring)."""
    created = document.get("created")
    return [
        str(document.get("id") or ""),
        str(document.get("status") or ""),
        str(document.get("model") or ""),
        str(document.get("mode") or ""),
        iso_time(created) if created else "",
        str(document.get("prompt") or ""),
        *result_of(document),
    ]


def show_job(out: Output, document: Mapping[str, Any]) -> None:
    """One job: its JSON, its plain line, or aligned fields on a terminal."""
    if out.json_mode:
        out.json(document)
    elif not out.stdout_tty:
        out.record(plain_line(document))
    else:
        created = document.get("created")
        out.fields(
            [
                ("id", document.get("id")),
                ("status", document.get("status")),
                ("model", document.get("model")),
                ("mode", document.get("mode")),
                ("created", format_time(created) if created else None),
                ("prompt", document.get("prompt")),
                ("error", (document.get("error") or {}).get("message")),
                ("video", [item["url"] for item in document.get("data") or []]),
                ("saved", [out.short_path(path) for path in document.get("paths") or []]),
            ]
        )


def show_jobs(out: Output, documents: Sequence[Mapping[str, Any]]) -> None:
    """Several jobs: a JSON array, plain lines, or a table on a terminal."""
    if out.json_mode:
        out.json(list(documents))
    elif not out.stdout_tty:
        for document in documents:
            out.record(plain_line(document))
    else:
        out.table(TABLE_HEADERS, [_table_row(out, document) for document in documents])


def _table_row(out: Output, document: Mapping[str, Any]) -> list[str]:
    created = document.get("created")
    result = [out.short_path(path) for path in document.get("paths") or []]
    return [
        str(document.get("id") or ""),
        str(document.get("status") or ""),
        str(document.get("model") or ""),
        str(document.get("mode") or ""),
        format_time(created) if created else "",
        str(document.get("prompt") or ""),
        " ".join(result or result_of(document)),
    ]


def report_followed(
    out: Output,
    documents: Sequence[Mapping[str, Any]],
    missing: Mapping[str, LumenError],
    *,
    timed_out: bool,
    single: bool,
) -> None:
    """The end of ``wait`` / ``submit --wait``: warnings on stderr, the jobs on stdout.

    Under ``--json``: the jobs (one object when *single*); with ``-q``: nothing, the exit
    code says how it ended.
    """
    for job_id, error in missing.items():
        out.warn(f"{job_id}: {error.message}")
    for document in documents:
        if document["status"] in ("failed", "cancelled"):
            reason = (document.get("error") or {}).get("message") or "no reason given"
            out.warn(f"{document['id']} {document['status']}: {reason}")
    if timed_out:
        pending = sum(1 for doc in documents if doc["status"] in ("queued", "processing"))
        out.warn(
            f"timed out with {pending} job(s) still running; `lumen wait --all` picks them up again"
        )
    if out.quiet:
        return
    if single and len(documents) == 1:
        show_job(out, documents[0])
    else:
        show_jobs(out, documents)


def format_time(timestamp: float) -> str:
    """Local time, to the second: ``2026-11-25 18:40:19``."""
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
