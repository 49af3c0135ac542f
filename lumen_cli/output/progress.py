"""Download progress bars on a terminal: one bar per file, notes above them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lumen_cli.text import escape

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class DownloadProgress:
    """A rich progress display that the downloader reports to (see ``download.Progress``).

    The bars are transient: once a file is saved the command prints one line for it instead.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None

    def track(self, name: str, total: int | None, completed: int) -> TaskID:
        """The bar of file *name* (a new one, or the unfinished one of an earlier attempt)."""
        progress = self._display()
        name = escape(name)
        for task in progress.tasks:
            if task.description == name and not task.finished:
                progress.update(task.id, total=total, completed=completed)
                return task.id
        return progress.add_task(name, total=total, completed=completed)

    def advance(self, task: TaskID, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(task, completed=completed)

    def note(self, text: str) -> None:
        """A line above the bars (a retry, say)."""
        self.console.print(escape(text), markup=False, highlight=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _display(self) -> Progress:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                refresh_per_second=4,
                transient=True,
            )
            self._progress.start()
        return self._progress
