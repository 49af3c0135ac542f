"""The live view of jobs being followed (``wait``, ``submit --wait``), on stderr."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lumen_cli.text import escape

if TYPE_CHECKING:
    from rich.spinner import Spinner

    from lumen_cli.api.models import Job
    from lumen_cli.output import Output

STATUS_MARK = {"succeeded": "✓", "failed": "✗", "cancelled": "-"}
STATUS_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}


class WaitDisplay:
    """What people see while jobs are followed.

    On a terminal: a calm live table (four refreshes a second, a one-line tally) whose rows
    keep their order (the order the jobs were given) and show a short prompt, so a person
    can tell jobs apart; past ``MAX_ROWS`` jobs, unfinished ones come first. Elsewhere: one
    line per state change.
    """

    MAX_ROWS = 15
    PROMPT_CHARS = 32

    def __init__(
        self,
        output: Output,
        order: Sequence[str] = (),
        prompts: Mapping[str, str | None] | None = None,
    ) -> None:
        self.output = output
        self.order = list(order)
        self.prompts = dict(prompts or {})
        self.jobs: dict[str, Job] = {}
        self.ended_at: dict[str, float] = {}  # a job's run time stops counting when it ends
        self.ended_before = set[str]()  # ended before we first saw it: run time unknown
        # One spinner per job, kept: a spinner's frame follows the time since its first
        # render, so a new one on every refresh would never turn.
        self._spinners: dict[str, Spinner] = {}
        self._live: Any = None

    def __enter__(self) -> WaitDisplay:
        if self.output.live:
            from rich.live import Live

            self._live = Live(
                get_renderable=self.render,
                console=self.output.console(),
                refresh_per_second=4,
                transient=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, job: Job, previous: str | None) -> None:
        self.jobs[job.id] = job
        if job.id not in self.order:
            self.order.append(job.id)
        if job.terminal:
            self.ended_at.setdefault(job.id, time.time())
            if previous is None:
                self.ended_before.add(job.id)
        if self._live is None:
            change = f"{previous} -> {job.status}" if previous else job.status
            detail = f": {job.error}" if job.error else ""
            self.output.info(f"{job.id}  {change}{detail}")

    def note(self, job_id: str, text: str) -> None:
        """A line about one job (e.g. where it was saved)."""
        if self._live is not None:
            line = escape(f"{job_id}  {text}")
            self._live.console.print(line, highlight=False, markup=False)
        else:
            self.output.info(f"{job_id}  {text}")

    def _rows(self) -> list[Job]:
        """The jobs to show, in the order given; past MAX_ROWS, unfinished ones first."""
        jobs = [self.jobs[job_id] for job_id in self.order if job_id in self.jobs]
        if len(jobs) > self.MAX_ROWS:
            jobs = [job for job in jobs if not job.terminal] + [j for j in jobs if j.terminal]
        return jobs[: self.MAX_ROWS]

    def tally(self) -> str:
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            counts[job.status] = counts.get(job.status, 0) + 1
        return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))

    def render(self) -> Any:
        """The table as it stands now (what the live view redraws)."""
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("", width=1)
        table.add_column("ID", no_wrap=True)
        table.add_column("STATUS", no_wrap=True)
        table.add_column("ELAPSED", justify="right", no_wrap=True)
        table.add_column("PROMPT", no_wrap=True, overflow="ellipsis")
        now = time.time()
        for job in self._rows():
            marker: Any
            if job.terminal:
                marker = Text(STATUS_MARK[job.status])
            else:
                marker = self._spinners.setdefault(job.id, Spinner("dots"))
            elapsed = ""
            if job.created and job.id not in self.ended_before:
                elapsed = format_duration(self.ended_at.get(job.id, now) - job.created)
            status = Text(job.status, style=STATUS_STYLE.get(job.status, ""))
            prompt = escape(" ".join((self.prompts.get(job.id) or "").split()))
            if len(prompt) > self.PROMPT_CHARS:
                prompt = prompt[: self.PROMPT_CHARS - 1] + "…"
            table.add_row(marker, escape(job.id), status, elapsed, prompt)
        hidden = len(self.jobs) - self.MAX_ROWS
        footer = Text(self.tally() + (f"  (+{hidden} more)" if hidden > 0 else ""), style="dim")
        return Group(table, footer)


def format_duration(seconds: float) -> str:
    """``42s``, ``3m07s``."""
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
