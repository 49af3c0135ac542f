"""What the CLI does with each accepted webhook event: history, ``--download``, a line on
stdout, ``--forward-to``, ``--exec``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lumen_cli.errors import LumenError

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.history import JobRecord
    from lumen_cli.services import Runtime
    from lumen_cli.services.shell import Shell
    from lumen_cli.webhook.listener import Event
    from lumen_cli.webhook.sender import Sender

DEFAULT_EXEC_TIMEOUT = 300.0
EXEC_OUTPUT_KEPT = 1 << 20  # bytes of --exec's output shown when stderr is no file


class StepFailed(Exception):
    """A step of event processing went wrong in a way its message explains in full."""


@dataclass
class EventProcessor:
    """The CLI's handler: history, ``--download``, a line on stdout, ``--forward-to``, ``--exec``.

    Steps run in that order, so that the line appears (and ``--exec`` runs) once the video is
    saved; each step's failure is reported on stderr and does not skip the others.
    """

    rt: Runtime
    exec_command: str | None = None
    exec_timeout: float = DEFAULT_EXEC_TIMEOUT
    forward_to: str | None = None
    download: bool = False
    output_template: str | None = None
    json_output: bool = False
    _sender: Sender | None = field(default=None, init=False, repr=False)
    _running: Shell | None = field(default=None, init=False, repr=False)

    def handle(self, event: Event) -> None:
        from lumen_cli.output.jobs import job_document, plain_line

        job = event.job
        test = job.raw.get("test") is True  # `lumen webhook send`: signed, but no real job
        if test:
            self.rt.output.info(f"{job.id}: a test delivery (not recorded, not downloaded)")
        else:
            self._step("updating the history", job, lambda: self._record(job))
            if self.download and job.status == "succeeded":
                self._step("downloading", job, lambda: self._download(job))
        record = None if test else self._stored(job.id)
        document = job_document(job, record)
        if self.json_output:
            self.rt.output.json_line(document)
        else:
            self.rt.output.record(plain_line(document))
        if self.forward_to:
            self._step("forwarding", job, lambda: self._forward(event))
        if self.exec_command:
            self._step("running --exec", job, lambda: self._exec(event))

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def abort(self) -> None:
        running = self._running
        if running is not None:
            running.kill()

    # -- steps --------------------------------------------------------------------------------

    def _step(self, what: str, job: Job, action: Callable[[], None]) -> None:
        try:
            action()
        except LumenError as exc:
            self.rt.output.warn(f"{job.id}: {what} failed: {exc.message}")
        except StepFailed as exc:
            self.rt.output.warn(f"{job.id}: {what} failed: {exc}")
        except Exception as exc:  # a bug or an OS error: say what it was, keep serving
            self.rt.output.warn(f"{job.id}: {what} failed: {type(exc).__name__}: {exc}")

    def _record(self, job: Job) -> None:
        self.rt.history.update_from_api(
            job, profile=self.rt.settings.profile, base_url=self.rt.history_base_url
        )

    def _stored(self, job_id: str) -> JobRecord | None:
        try:
            return self.rt.history.get(job_id)
        except LumenError:
            return None  # already reported by the step that failed

    def _download(self, job: Job) -> None:
        from lumen_cli.services.fetch import download_job

        for saved in download_job(self.rt, job, template=self.output_template):
            self.rt.output.info(f"{job.id}: saved {saved.path}")

    def _forward(self, event: Event) -> None:
        from lumen_cli.webhook.sender import Sender

        assert self.forward_to is not None
        if self._sender is None:
            self._sender = Sender()
        answer = self._sender.post(self.forward_to, event.body, event.headers)
        if not answer.ok:
            self.rt.output.warn(
                f"{event.job.id}: {self.forward_to} answered {answer.status} "
                f"{answer.reason} (not retried)"
            )

    def _exec(self, event: Event) -> None:
        """Run the command through the shell (``services.shell``: no secrets in its
        environment, a session of its own): raw body on stdin, job id and status in env.

        Its stdout goes to our stderr, so that our stdout stays data only (``--json``).
        """
        from lumen_cli.services.shell import Shell

        assert self.exec_command is not None
        env = {"LUMEN_JOB_ID": event.job.id, "LUMEN_JOB_STATUS": event.job.status}
        shell = Shell(self.exec_command, env=env)
        self._running = shell
        try:
            finished = shell.run(
                timeout=self.exec_timeout,
                stdin=event.body,
                output=_stderr_fd(),
                keep=EXEC_OUTPUT_KEPT,
            )
        finally:
            self._running = None
        for text in (finished.stdout, finished.stderr):
            if text:
                sys.stderr.write(text.decode("utf-8", "replace"))
                sys.stderr.flush()
        if finished.timed_out:
            raise StepFailed(f"killed after {self.exec_timeout:g} s (--exec-timeout)")
        code = finished.code
        if code < 0:
            raise StepFailed(f"the command was killed by signal {-code}")
        if code != 0:
            raise StepFailed(f"the command exited {code}")


def _stderr_fd() -> int | None:
    """Our stderr's file descriptor, when it has one (test runners swap in string buffers)."""
    try:
        sys.stderr.flush()
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        return None
