"""Rendering: data to stdout, everything else to stderr; rich only on terminals.

* ``--json``: exactly one JSON document on stdout, whatever happens.
* Terminals get rich tables and colour (``NO_COLOR`` is honoured); pipes get plain,
  tab-separated text. Ids are never truncated.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

    from lumen_cli.api.models import Job
    from lumen_cli.errors import LumenError
    from lumen_cli.history import JobRecord


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """One per run. ``json_mode`` is switched on by commands given ``--json``."""

    def __init__(self) -> None:
        self.json_mode = False
        self.quiet = False
        self._json_written = False

    # Streams are looked up on each use: test runners swap sys.stdout under us.
    @property
    def stdout_tty(self) -> bool:
        return _is_tty(sys.stdout)

    @property
    def stderr_tty(self) -> bool:
        return _is_tty(sys.stderr)

    @property
    def color(self) -> bool:
        return self.stderr_tty and not os.environ.get("NO_COLOR")

    def console(self, *, stderr: bool = True) -> Console:
        """A rich console on stderr (or stdout) for live views and tables."""
        from rich.console import Console

        return Console(
            file=sys.stderr if stderr else sys.stdout,
            no_color=bool(os.environ.get("NO_COLOR")),
            highlight=False,
            soft_wrap=not stderr,
        )

    # -- stdout: data -------------------------------------------------------------

    def data(self, text: str) -> None:
        """A line of data on stdout."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def json(self, document: Any) -> None:
        """The one JSON document of this run, on stdout."""
        self._json_written = True
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def json_line(self, document: Any) -> None:
        """One JSON Lines record on stdout (for streams such as ``batch``)."""
        self._json_written = True
        sys.stdout.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def fields(self, pairs: Sequence[tuple[str, object]]) -> None:
        """Aligned ``name  value`` lines on stdout, skipping empty values."""
        shown = [(name, value) for name, value in pairs if value not in (None, "", [], ())]
        width = max((len(name) for name, _ in shown), default=0)
        for name, value in shown:
            if isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    self.data(f"{(name if index == 0 else ''):<{width}}  {item}")
            else:
                self.data(f"{name:<{width}}  {value}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A rich table on a terminal; tab-separated lines without a header otherwise."""
        if not self.stdout_tty:
            for row in rows:
                self.data("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row))
            return
        from rich.table import Table

        console = self.console(stderr=False)
        shown = _columns_that_fit(headers, rows, console.width)
        table = Table(box=None, pad_edge=False, header_style="bold")
        for index in shown:
            # Short fields (ids first: never truncated) stay whole; free text folds.
            header = headers[index]
            table.add_column(header, overflow="fold", no_wrap=header not in _FOLDING_COLUMNS)
        for row in rows:
            table.add_row(*(row[index] for index in shown))
        console.print(table)
        if len(shown) < len(headers):
            hidden = ", ".join(h for i, h in enumerate(headers) if i not in shown)
            self.hint(f"(hidden to fit the terminal: {hidden}; --json shows everything)")

    # -- stderr: people -----------------------------------------------------------

    def info(self, text: str) -> None:
        """Progress and confirmations for people; silent with ``-q``."""
        if not self.quiet:
            self._stderr(text, style="")

    def hint(self, text: str) -> None:
        if not self.quiet:
            self._stderr(text, style="dim")

    def warn(self, text: str) -> None:
        self._stderr(f"warning: {text}", style="yellow")

    def error(self, error: LumenError) -> None:
        """Report *error*: a message and a hint on stderr, and JSON on stdout in JSON mode."""
        if self.json_mode and not self._json_written:
            self.json(error.to_json())
        self._stderr(f"error: {error.message}", style="red")
        if error.hint:
            self._stderr(f"hint: {error.hint}", style="dim")

    def _stderr(self, text: str, *, style: str) -> None:
        if style and self.color:
            from rich.markup import escape

            self.console().print(f"[{style}]{escape(text)}[/]")
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


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


class WaitDisplay:
    """What people see while ``wait`` runs, on stderr.

    On a terminal: a calm live table (four refreshes a second, the busiest rows first,
    a one-line tally) that ends with a summary. Elsewhere: one line per state change.
    """

    MAX_ROWS = 15

    def __init__(self, output: Output) -> None:
        self.output = output
        self.jobs: dict[str, Job] = {}
        self.ended_at: dict[str, float] = {}  # elapsed stops counting when a job ends
        self._live: Any = None

    def __enter__(self) -> WaitDisplay:
        if self.output.stderr_tty and not self.output.quiet:
            from rich.live import Live

            self._live = Live(
                get_renderable=self._render,
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
        import time

        self.jobs[job.id] = job
        if job.terminal:
            self.ended_at.setdefault(job.id, time.time())
        if self._live is None:
            change = f"{previous} -> {job.status}" if previous else job.status
            detail = f": {job.error}" if job.error else ""
            self.output.info(f"{job.id}  {change}{detail}")

    def note(self, job_id: str, text: str) -> None:
        """A line about one job (e.g. where it was saved)."""
        if self._live is not None:
            self._live.console.print(f"{job_id}  {text}", highlight=False, markup=False)
        else:
            self.output.info(f"{job_id}  {text}")

    def tally(self) -> str:
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            counts[job.status] = counts.get(job.status, 0) + 1
        return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))

    def _render(self) -> Any:
        import time

        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("", width=1)
        table.add_column("ID", no_wrap=True)
        table.add_column("STATUS", no_wrap=True)
        table.add_column("ELAPSED", justify="right", no_wrap=True)
        running = [job for job in self.jobs.values() if not job.terminal]
        finished = [job for job in self.jobs.values() if job.terminal]
        now = time.time()
        for job in (running + finished)[: self.MAX_ROWS]:
            marker: Any = Spinner("dots") if not job.terminal else Text(_STATUS_MARK[job.status])
            end = self.ended_at.get(job.id, now)
            elapsed = _duration(end - job.created) if job.created else ""
            table.add_row(
                marker, job.id, Text(job.status, style=_STATUS_STYLE.get(job.status, "")), elapsed
            )
        hidden = len(self.jobs) - self.MAX_ROWS
        footer = Text(self.tally() + (f"  (+{hidden} more)" if hidden > 0 else ""), style="dim")
        return Group(table, footer)


_FOLDING_COLUMNS = frozenset({"PROMPT", "SAVED", "VALUE"})
_FOLDED_MIN_WIDTH = 12


def _columns_that_fit(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> list[int]:
    """Indexes of the columns to show: from the left, as many as fit in *width*.

    Short fields need their longest value; free text can fold down to a dozen
    characters. The first column (the id) is always shown.
    """
    shown: list[int] = []
    used = 0
    for index, header in enumerate(headers):
        longest = max([len(header), *(len(row[index]) for row in rows)])
        need = min(longest, _FOLDED_MIN_WIDTH) if header in _FOLDING_COLUMNS else longest
        gap = 2 if shown else 0  # rich pads each cell by one space a side
        if shown and used + gap + need > width:
            break
        shown.append(index)
        used += gap + need
    return shown


_STATUS_MARK = {"succeeded": "✓", "failed": "✗", "cancelled": "-"}
_STATUS_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
