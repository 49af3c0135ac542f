"""Follow jobs to their end (``wait``, ``submit --wait``): poll, record, save, report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lumen_cli.errors import ExitCode, exit_code_for_job, worst_exit_code
from lumen_cli.services.fetch import download_job
from lumen_cli.services.jobs import check_trackable

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.api.polling import WaitOutcome
    from lumen_cli.services import Runtime


@dataclass
class Followed:
    """Where the followed jobs ended, and what was saved of them."""

    ids: list[str]
    outcome: WaitOutcome
    saved: dict[str, list[str]] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        """The worst of the jobs' endings (failed, cancelled, still running, not found)."""
        codes = {exit_code_for_job(job.status) for job in self.outcome.jobs.values()}
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

        report_followed(
            rt.output,
            self.documents(rt),
            self.outcome.missing,
            timed_out=self.outcome.timed_out,
            single=single,
        )
        return self.exit_code


def follow(
    rt: Runtime,
    ids: list[str],
    *,
    timeout: float | None,
    interval: float | None,
    download: bool,
    output: str | None,
) -> Followed:
    """Poll *ids* until each has ended (or *timeout*), recording every change in the history
    and, with *download*, saving each job as soon as it succeeds."""
    from lumen_cli.api.polling import Poller, PollPolicy

    for job_id in ids:
        check_trackable(rt, job_id)
    history = rt.history
    client = rt.client
    saved: dict[str, list[str]] = {}

    prompts = {}
    for job_id in ids:
        record = history.get(job_id)
        prompts[job_id] = record.prompt if record else None
    with rt.output.wait_display(ids, prompts) as display:

        def on_update(job: Job, previous: str | None) -> None:
            history.update_from_api(job, profile=rt.settings.profile, base_url=client.base_url)
            display.update(job, previous)
            if download and job.status == "succeeded":
                files = download_job(rt, job, template=output, progress=False)
                saved[job.id] = [str(item.path) for item in files]
                for item in files:
                    verb = "already saved" if item.skipped else "saved"
                    display.note(job.id, f"{verb} {item.path} ({item.bytes} bytes)")

        poller = Poller(client, clock=rt.clock, policy=PollPolicy(fixed=interval))
        outcome = poller.wait(ids, timeout=timeout, on_update=on_update)
    return Followed(ids, outcome, saved)
