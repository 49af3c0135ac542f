"""Download a job: name its result files, save each, write sidecars, record the paths."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import strip_secrets
from lumen_cli.download.fetch import Downloader, Saved
from lumen_cli.download.names import output_paths, url_extension
from lumen_cli.download.part import file_sha256
from lumen_cli.download.sidecar import write_sidecar
from lumen_cli.errors import BadInput, DownloadError
from lumen_cli.net import public_url
from lumen_cli.text import iso_time

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.history import JobRecord
    from lumen_cli.services import Runtime


def download_job(
    rt: Runtime,
    job: Job,
    *,
    template: str | None = None,
    force: bool = False,
    sidecar: bool = False,
    progress: bool | None = None,
    placeholders: Mapping[str, str] | None = None,
) -> list[Saved]:
    """Save every result of the succeeded *job* and record the paths in the history.

    *template* defaults to the ``output`` setting. Progress bars show on a terminal unless
    *progress* is False. The downloader holds no API key: result URLs live on another host.
    *placeholders* adds template values (``batch``'s ``custom_id`` and ``line``).
    """
    record = rt.history.get(job.id)
    template = template or rt.settings.value("output")
    display = rt.output.download_progress() if progress is not False else None
    # A checksum costs time on fast links: compute it only where it is shown.
    checksum = sidecar or rt.output.json_mode
    max_bytes = int(rt.settings.value("max_download_size"))
    with Downloader(
        clock=rt.clock, progress=display, checksum=checksum, max_bytes=max_bytes
    ) as downloader:
        saved = save_job_files(
            downloader,
            job,
            record,
            template=template,
            force=force,
            sidecar=sidecar,
            placeholders=placeholders,
        )
    rt.history.add_paths(job.id, [str(item.path) for item in saved])
    return saved


def save_job_files(
    downloader: Downloader,
    job: Job,
    record: JobRecord | None,
    *,
    template: str | None,
    force: bool = False,
    sidecar: bool = False,
    base_dir: Path | None = None,
    placeholders: Mapping[str, str] | None = None,
) -> list[Saved]:
    """Save every result file of the succeeded *job*; see ``output_paths`` for names.

    *record* (the history's view of the job) supplies the prompt, model and request for
    templates and sidecars. Raises ``DownloadError`` (or ``BadInput``) on the first file
    that cannot be saved; the files saved before it stay.
    """
    if job.status != "succeeded":
        raise BadInput(f"job {job.id} has not succeeded (it is {job.status})")
    if not job.urls:
        raise DownloadError(f"job {job.id} succeeded but lists no result files")
    paths = output_paths(
        template,
        job_id=job.id,
        count=len(job.urls),
        model=_model(job, record),
        prompt=_prompt(job, record),
        created=_created(job, record),
        base_dir=base_dir or Path.cwd(),
        extensions=[url_extension(url) for url in job.urls],
        extra=placeholders,
    )
    saved = []
    for url, path in zip(job.urls, paths, strict=True):
        item = downloader.fetch(url, path, job_id=job.id, force=force)
        if sidecar:
            write_sidecar(item.path, sidecar_document(item, job, record))
        saved.append(item)
    return saved


def sidecar_document(saved: Saved, job: Job, record: JobRecord | None) -> dict[str, Any]:
    """What ``NAME.mp4.json`` says: what made this video, where it came from, its checksum."""
    finished = next(
        (
            job.raw[key]
            for key in ("finished_at", "completed_at", "finished")
            if isinstance(job.raw.get(key), (int, float))
        ),
        None,
    )
    return {
        "id": job.id,
        "model": _model(job, record),
        "prompt": _prompt(job, record),
        "request": strip_secrets(record.request) if record else {},
        "created": _iso(_created(job, record)),
        "finished": _iso(finished),
        "downloaded": iso_time(time.time()),
        "url": public_url(saved.url),  # a signed query must not sit in a 0644 file
        "file": saved.path.name,
        "bytes": saved.bytes,
        "sha256": saved.sha256 or file_sha256(saved.path),
    }


def _iso(timestamp: float | None) -> str | None:
    return iso_time(timestamp) if timestamp is not None else None


def _model(job: Job, record: JobRecord | None) -> str | None:
    return job.model or (record.model if record else None)


def _prompt(job: Job, record: JobRecord | None) -> str | None:
    prompt = record.prompt if record and record.prompt else job.raw.get("prompt")
    return prompt if isinstance(prompt, str) else None


def _created(job: Job, record: JobRecord | None) -> float | None:
    if job.created is not None:
        return float(job.created)
    return record.created_at if record else None
