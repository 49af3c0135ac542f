"""Follow jobs to their end (``wait``, ``submit --wait``, ``batch --wait``): poll, record, save,
report.

Polling runs in the calling thread; with ``download``, each job that succeeds is saved by a
small pool of download workers beside it, so a slow file never delays noticing the other
jobs' ends. A file that cannot be saved is that job's outcome (reported at the end, and in
the exit code); every other job is still followed and saved.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lumen_cli.download import DOWNLOAD_WORKERS
from lumen_cli.errors import (
    DownloadError,
    ExitCode,
    LumenError,
    exit_code_for_job,
    worst_exit_code,
)
from lumen_cli.services.jobs import check_trackable

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.api.polling import JobFeed, WaitOutcome
    from lumen_cli.services import Runtime


class FollowView(Protocol):
    """What people see while jobs are followed (``output.live.WaitDisplay`` is one)."""

    def __enter__(self) -> FollowView: ...

    def __exit__(self, *exc: object) -> None: ...

    def update(self, job: Job, previous: str | None) -> None: ...

    def note(self, job_id: str, text: str) -> None: ...


@dataclass(frozen=True)
class Ended:
    """A followed job whose outcome is complete: terminal, and saved if it was to be.

    *error* is why its files could not be saved (the job itself may have succeeded).
    """

    job: Job
    paths: list[str] = field(default_factory=list)
    error: LumenError | None = None


@dataclass
class Followed:
    """Where the followed jobs ended, and what was saved of them."""

    ids: list[str]
    outcome: WaitOutcome
    saved: dict[str, list[str]] = field(default_factory=dict)
    failed_downloads: dict[str, LumenError] = field(default_factory=dict)
    sandbox: bool = False  # hints then say `lumen --sandbox`

    @property
    def exit_code(self) -> ExitCode:
        """The worst of the jobs' endings (failed, cancelled, still running, a file that
        could not be saved, not found)."""
        codes = {exit_code_for_job(job.status) for job in self.outcome.jobs.values()}
        codes |= {error.exit_code for error in self.failed_downloads.values()}
        if self.outcome.timed_out:
            codes.add(ExitCode.TIMEOUT)
        if self.outcome.missing:
            codes.add(ExitCode.NOT_FOUND)
        return worst_exit_code(codes)

    def documents(self, rt: Runtime) -> list[dict[str, Any]]:
        """The followed jobs in the one job shape, in the order they were asked for."""
        from lumen_cli.output.jobs import job_document

        jobs = self.outcome.jobs
        return [job_document(jobs[i], rt.history.get(i)) for i in self.ids if i in jobs]

    def report(self, rt: Runtime, *, single: bool) -> ExitCode:
        """What people and scripts read at the end; returns the run's exit code.

        *single*: ``--json`` prints the one job as an object rather than a list.
        """
        from lumen_cli.output.jobs import report_followed

        out = rt.output
        for job_id, error in self.failed_downloads.items():
            out.warn(f"{job_id}: {error.message}")
        report_followed(
            rt.output,
            self.documents(rt),
            self.outcome.missing,
            timed_out=self.outcome.timed_out,
            single=single,
        )
        if self.failed_downloads:
            prefix = "lumen --sandbox" if self.sandbox else "lumen"
            ids = " ".join(self.failed_downloads)
            out.hint(f"Save them once the cause is fixed: {prefix} download {ids}")
        return self.exit_code


def follow(
    rt: Runtime,
    ids: list[str],
    *,
    timeout: float | None,
    interval: float | None,
    download: bool,
    output: str | None,
    download_workers: int = DOWNLOAD_WORKERS,
    view: FollowView | None = None,
    feed: JobFeed | None = None,
    on_end: Callable[[Ended], None] | None = None,
    placeholders: Callable[[str], Mapping[str, str]] | None = None,
) -> Followed:
    """Poll *ids* (and any that arrive through *feed*) until each has ended (or *timeout*),
    recording every change in the history and, with *download*, saving each job in the
    download pool as soon as it succeeds.

    *view* defaults to the wait display. *on_end* hears about each job once its outcome is
    complete, from the polling thread or a download worker. *placeholders* gives a job's
    extra ``-o`` template values (``batch``: ``custom_id``, ``line``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from lumen_cli.api.polling import Poller, PollPolicy
    from lumen_cli.services.fetch import download_job

    for job_id in ids:
        check_trackable(rt, job_id)
    history = rt.history
    client = rt.client
    saved: dict[str, list[str]] = {}
    failed: dict[str, LumenError] = {}
    lock = threading.Lock()  # the view and the results are shared with the download pool

    prompts = {}
    for job_id in ids:
        record = history.get(job_id)
        prompts[job_id] = record.prompt if record else None

    def end(ended: Ended) -> None:
        if on_end is not None:
            on_end(ended)

    with (
        view or rt.output.wait_display(ids, prompts) as display,
        ThreadPoolExecutor(
            max_workers=max(1, download_workers), thread_name_prefix="lumen-download"
        ) as pool,
    ):

        def save(job: Job) -> None:
            problem: LumenError | None = None
            try:
                extra = placeholders(job.id) if placeholders is not None else None
                files = download_job(rt, job, template=output, progress=False, placeholders=extra)
            except LumenError as error:
                problem = error
            except Exception as exc:  # an OS error or a bug: this job's outcome, not the run's
                problem = DownloadError(f"could not save {job.id}: {type(exc).__name__}: {exc}")
            if problem is not None:
                with lock:
                    failed[job.id] = problem
                    display.note(job.id, f"not saved: {problem.message}")
                end(Ended(job, [], problem))
                return
            paths = [str(item.path) for item in files]
            with lock:
                saved[job.id] = paths
                for item in files:
                    verb = "already saved" if item.skipped else "saved"
                    display.note(job.id, f"{verb} {item.path} ({item.bytes} bytes)")
            end(Ended(job, paths))

        def on_update(job: Job, previous: str | None) -> None:
            history.update_from_api(job, profile=rt.settings.profile, base_url=client.base_url)
            with lock:
                display.update(job, previous)
            if not job.terminal:
                return
            if download and job.status == "succeeded":
                pool.submit(save, job)
            else:
                end(Ended(job))

        poller = Poller(client, clock=rt.clock, policy=PollPolicy(fixed=interval))
        try:
            outcome = poller.wait(ids, timeout=timeout, on_update=on_update, feed=feed)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # files being saved finish
            raise
    followed_ids = list(dict.fromkeys([*ids, *outcome.jobs, *outcome.missing]))
    return Followed(followed_ids, outcome, saved, failed, sandbox=rt.sandbox)
