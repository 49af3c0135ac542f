"""Rendering: data to stdout, everything else to stderr; rich only on terminals.

* ``--json``: exactly one JSON document on stdout, whatever happens.
* Terminals get rich tables, live views, progress bars and colour (``NO_COLOR`` is
  honoured); pipes get plain, tab-separated text. Ids are never truncated.
* Every human-readable line escapes control characters (``text.escape``): text from servers,
  the history or files can neither drive the terminal nor forge a line or a field.

``Output`` takes its streams and its TTY flag from the caller when given (tests render the
terminal view into a buffer, as gh's ``iostreams.Test()`` does); otherwise it looks up
``sys.stdout`` / ``sys.stderr`` on each use, since test runners swap them under us.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from lumen_cli.text import escape, json_text

if TYPE_CHECKING:
    from rich.console import Console

    from lumen_cli.errors import LumenError
    from lumen_cli.output.live import WaitDisplay
    from lumen_cli.output.progress import DownloadProgress


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """One per run. ``json_mode`` and ``quiet`` are switched on by commands given the flags.

    *tty* overrides what the streams say about being terminals, and *width* the terminal
    width rich would detect: both for tests of the terminal view.
    """

    def __init__(
        self,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        tty: bool | None = None,
        width: int | None = None,
    ) -> None:
        self.json_mode = False
        self.quiet = False
        self._json_written = False
        self._stdout = stdout
        self._stderr_stream = stderr
        self._tty = tty
        self._width = width

    # -- streams ---------------------------------------------------------------------

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr_stream or sys.stderr

    @property
    def stdout_tty(self) -> bool:
        return self._tty if self._tty is not None else _is_tty(self.stdout)

    @property
    def stderr_tty(self) -> bool:
        return self._tty if self._tty is not None else _is_tty(self.stderr)

    @property
    def no_color(self) -> bool:
        return bool(os.environ.get("NO_COLOR"))

    @property
    def color(self) -> bool:
        return self.stderr_tty and not self.no_color

    @property
    def live(self) -> bool:
        """Whether live views (tables that redraw, spinners, progress bars) are wanted."""
        return self.stderr_tty and not self.quiet

    def console(self, *, stderr: bool = True) -> Console:
        """A rich console on stderr (or stdout) for live views and tables."""
        from rich.console import Console

        tty = self.stderr_tty if stderr else self.stdout_tty
        return Console(
            file=self.stderr if stderr else self.stdout,
            force_terminal=tty if self._tty is not None else None,
            width=self._width,
            no_color=self.no_color,
            highlight=False,
            soft_wrap=not stderr,
        )

    # -- stdout: data -------------------------------------------------------------------

    def data(self, text: str) -> None:
        """A line of data on stdout (control characters escaped)."""
        self._write_out(escape(text))

    def record(self, values: Sequence[object]) -> None:
        """One tab-separated record on stdout: no value can add a field or a line."""
        self._write_out("\t".join(escape(value) for value in values))

    def lines(self, text: str) -> None:
        """A block of lines on stdout (a script, a command, a document), each line escaped."""
        self._write_out("\n".join(escape(line) for line in text.split("\n")))

    def json(self, document: Any) -> None:
        """The one JSON document of this run, on stdout."""
        self._json_written = True
        self._write_out(json_text(document, indent=2))

    def json_line(self, document: Any) -> None:
        """One JSON Lines record on stdout (for streams such as ``batch``)."""
        self._json_written = True
        self._write_out(json_text(document))

    def _write_out(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def fields(self, pairs: Sequence[tuple[str, object]]) -> None:
        """``name value`` pairs on stdout, skipping empty values: on a terminal aligned, long
        values wrapped under themselves; piped, one ``name<TAB>value`` record each."""
        shown = [(name, value) for name, value in pairs if value not in (None, "", [], ())]
        width = max((len(name) for name, _ in shown), default=0)
        columns = self.console(stderr=False).width if self.stdout_tty else 0
        for name, value in shown:
            values = value if isinstance(value, (list, tuple)) else [value]
            for index, item in enumerate(values):
                if not self.stdout_tty:
                    self.record([name, item])
                    continue
                label = name if index == 0 else ""
                lines = textwrap.wrap(escape(item), max(20, columns - width - 2)) or [""]
                self._write_out(f"{label:<{width}}  {lines[0]}")
                for line in lines[1:]:
                    self._write_out(f"{'':<{width}}  {line}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A rich table on a terminal; tab-separated lines without a header otherwise."""
        if not self.stdout_tty:
            for row in rows:
                self.record(row)
            return
        from lumen_cli.output.tables import print_table

        safe = [[escape(cell) for cell in row] for row in rows]
        same, hidden = print_table(self.console(stderr=False), headers, safe)
        if same:
            self.note(f"(the same on every row: {', '.join(same)})")
        if hidden:
            self.note(f"(hidden to fit the terminal: {', '.join(hidden)}; --json shows everything)")

    @staticmethod
    def short_path(path: str) -> str:
        """*path* relative to the current folder when that is shorter (for people)."""
        try:
            relative = os.path.relpath(path)
        except ValueError:  # another drive (Windows)
            return path
        return relative if len(relative) < len(path) else path

    # -- stderr: people -----------------------------------------------------------------

    def info(self, text: str) -> None:
        """Progress and confirmations for people; silent with ``-q``."""
        if not self.quiet:
            self._stderr(text, style="")

    def hint(self, text: str) -> None:
        """What to do next (``hint: …``), as after an error; silent with ``-q``."""
        if not self.quiet:
            self._stderr(f"hint: {text}", style="dim")

    def note(self, text: str) -> None:
        """A remark in passing, dimmed; silent with ``-q``."""
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
        text = escape(text)
        if style and self.color:
            from rich.markup import escape as escape_markup

            self.console().print(f"[{style}]{escape_markup(text)}[/]")
        else:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    # -- live views ---------------------------------------------------------------------

    def wait_display(
        self, order: Sequence[str] = (), prompts: Mapping[str, str | None] | None = None
    ) -> WaitDisplay:
        """The view of jobs being followed: a live table on a terminal, else a line a change.

        Rows keep *order*; *prompts* (by id) tell the jobs apart.
        """
        from lumen_cli.output.live import WaitDisplay

        return WaitDisplay(self, order, prompts)

    def download_progress(self) -> DownloadProgress | None:
        """Progress bars for downloads on a terminal (None elsewhere, or with ``-q``)."""
        if not self.live:
            return None
        from lumen_cli.output.progress import DownloadProgress

        return DownloadProgress(self.console())
