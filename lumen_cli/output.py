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

        table = Table(box=None, pad_edge=False, header_style="bold")
        for header in headers:
            # Ids and paths never truncate; only the prompt column may fold.
            table.add_column(header, overflow="fold", no_wrap=header in ("ID", "CREATED"))
        for row in rows:
            table.add_row(*row)
        self.console(stderr=False).print(table)

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
