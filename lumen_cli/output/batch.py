"""What ``lumen batch`` shows and writes: one result per input line, a progress display, a
summary.

Each line's result is written once, as soon as its outcome is known: a JSON line under
``--json`` (and always to ``--results FILE``), its job id under ``-q``, a tab-separated line
when stdout is not a terminal. On a terminal, stderr carries one live progress display
(lines done, sent, running, succeeded, failed, rate, ETA) and stdout a summary table at the
end; elsewhere problems are single lines on stderr and the summary is one line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from lumen_cli.text import escape, json_text

if TYPE_CHECKING:
    from lumen_cli.api.models import Job
    from lumen_cli.history import BatchLine
    from lumen_cli.output import Output

# Result statuses besides the API's job statuses.
INVALID = "invalid"  # the line cannot be sent as it is
PENDING = "pending"  # not sent (yet): a re-run sends it
REFUSED = "refused"  # the API turned it down (no job, no bill)
UNKNOWN = "unknown"  # sent, answer lost: the job may exist
RUNNING = frozenset({"submitting", "queued", "processing"})
PROBLEMS = frozenset({INVALID, PENDING, REFUSED, UNKNOWN, "failed", "cancelled"})
SUMMARY_ORDER = (
    "succeeded",
    "queued",
    "processing",
    "failed",
    "cancelled",
    UNKNOWN,
    REFUSED,
    PENDING,
    INVALID,
)
MAX_PROBLEM_ROWS = 20


@dataclass
class LineResult:
    """The outcome of one input line: the shape ``--json`` and ``--results`` write."""

    line: int
    custom_id: str | None
    status: str
    id: str | None = None
    error: str | None = None
    paths: list[str] = field(default_factory=list)
    host: str | None = None  # the machine that sent it

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "custom_id": self.custom_id,
            "id": self.id,
            "status": self.status,
            "error": self.error,
            "paths": self.paths,
            "host": self.host,
        }

    def to_row(self) -> list[str]:
        """The plain line: ``line custom_id id status``, then the saved paths (one field
        each) or the error, as a job line ends with its results."""
        results = self.paths or ([self.error] if self.error else [])
        return [str(self.line), self.custom_id or "", self.id or "", self.status, *results]


class BatchDisplay:
    """The one view of a batch run; thread-safe (senders, the poller and downloads report).

    Also the view ``services.follow`` reports job changes to (``update``, ``note``).
    """

    def __init__(self, output: Output, *, name: str, results: TextIO | None = None) -> None:
        self.output = output
        # Asked once: a result is written per line, and each question is a system call.
        self._rows = not output.json_mode and not output.quiet and not output.stdout_tty
        self.name = name
        self.results = results
        self.total = 0
        self.to_send = 0
        self.sent = 0
        self.counts: dict[str, int] = {}
        self.problems: list[LineResult] = []
        self._statuses: dict[str, str] = {}  # job id -> status, for the running count
        self._started = time.monotonic()
        self._lock = threading.RLock()
        self._live: Any = None
        self._depth = 0  # how many `with` blocks hold the display

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> BatchDisplay:
        # Entered by the run and again by the follow service it hands itself to: one live
        # display for both (a second would leave the first drawing over the summary).
        self._depth += 1
        if self._depth == 1 and self.output.live:
            from rich.live import Live

            self._live = Live(
                get_renderable=self.render,
                console=self.output.console(),
                refresh_per_second=4,
                transient=True,
                # Results stream to stdout while the display runs on stderr: a pipe or a
                # file must get them as written, never the display's console.
                redirect_stdout=self.output.stdout_tty,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()

    def close(self) -> None:
        """Stop the live display (the summary then prints below it)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def start_results(self) -> None:
        """Empty ``--results FILE`` for this run's results (once the run may write them: a
        second process turned away from a busy batch must not wipe the first one's)."""
        if self.results is not None:
            self.results.seek(0)
            self.results.truncate()

    def begin(self, total: int, to_send: int) -> None:
        """The run knows its lines: *total* in the file, *to_send* of them to POST now."""
        with self._lock:
            self.total = total
            self.to_send = to_send
            self._started = time.monotonic()

    # -- events -------------------------------------------------------------------------------

    def sent_line(self, job: Job | None = None) -> None:
        """A line's request went out (and was accepted as *job*, if given)."""
        with self._lock:
            self.sent += 1
            if job is not None:
                self._statuses[job.id] = job.status

    def update(self, job: Job, previous: str | None) -> None:
        """A followed job changed status."""
        with self._lock:
            self._statuses[job.id] = job.status

    def note(self, job_id: str, text: str) -> None:
        """A line for people about one job (where it was saved, why it was not)."""
        self._say(f"{job_id}  {text}", warn=text.startswith("not saved"))

    def warn(self, text: str) -> None:
        self._say(text, warn=True)

    def result(self, result: LineResult, *, warn: bool = True) -> None:
        """A line's outcome is known: write it everywhere it goes, once. *warn*: say so on
        stderr when it is a problem."""
        document = result.to_json()
        with self._lock:
            self.counts[result.status] = self.counts.get(result.status, 0) + 1
            if result.id is not None:
                self._statuses[result.id] = result.status
            out = self.output
            if out.json_mode:
                out.json_line(document)
            elif out.quiet:
                if result.id and not result.id.startswith("local-"):
                    out.data(result.id)
            elif self._rows:
                out.record(result.to_row())
            if self.results is not None:
                self.results.write(json_text(document) + "\n")
                self.results.flush()
            if warn and (
                result.status in PROBLEMS or (result.error and result.status == "succeeded")
            ):
                self.problems.append(result)
                label = f"line {result.line}" + (
                    f" ({result.custom_id})" if result.custom_id else ""
                )
                self._say(f"{label}: {result.status}: {result.error or 'no reason given'}", True)

    # -- what people see ----------------------------------------------------------------------

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def running(self) -> int:
        with self._lock:
            return sum(1 for status in self._statuses.values() if status in RUNNING)

    def progress_line(self) -> str:
        """``120/500 lines · sent 98/300 · running 45 · succeeded 70 · 8.1 lines/s · ETA 47s``."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-6)
            done = self.done
            parts = [f"{done}/{self.total} lines"]
            if self.to_send:
                parts.append(f"sent {self.sent}/{self.to_send}")
            running = self.running()
            if running:
                parts.append(f"running {running}")
            for status in ("succeeded", "failed", UNKNOWN, REFUSED):
                if self.counts.get(status):
                    parts.append(f"{status} {self.counts[status]}")
            rate = done / elapsed
            parts.append(f"{rate:.1f} lines/s")
            if 0 < done < self.total and rate > 0:
                parts.append(f"ETA {format_seconds((self.total - done) / rate)}")
            return " · ".join(parts)

    def render(self) -> Any:
        """The live display as it stands now."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            ProgressBar(total=max(self.total, 1), completed=self.done, width=30),
            Text(self.progress_line()),
        )
        return grid

    def summary(self, *, hint: str | None = None) -> None:
        """The end of the run: a table on a terminal, one line on stderr otherwise."""
        with self._lock:
            counts = dict(self.counts)
            elapsed = time.monotonic() - self._started
        ordered = [s for s in SUMMARY_ORDER if counts.get(s)]
        ordered += sorted(s for s in counts if s not in SUMMARY_ORDER)
        out = self.output
        if out.stdout_tty and not out.json_mode and not out.quiet:
            rows = [[status, str(counts[status])] for status in ordered]
            out.table(["STATUS", "LINES"], [*rows, ["total", str(sum(counts.values()))]])
            shown = self.problems[:MAX_PROBLEM_ROWS]
            if shown:
                out.table(
                    ["LINE", "CUSTOM_ID", "STATUS", "ERROR"],
                    [[str(r.line), r.custom_id or "", r.status, r.error or ""] for r in shown],
                )
            if len(self.problems) > len(shown):
                out.hint(
                    f"(+{len(self.problems) - len(shown)} more: lumen batch status {self.name})"
                )
        tally = ", ".join(f"{counts[status]} {status}" for status in ordered) or "no lines"
        sent = ""
        if self.sent:
            rate = self.sent / elapsed if elapsed > 0 else 0.0
            sent = f"; {self.sent} sent in {format_seconds(elapsed)} ({rate:.1f} lines/s)"
        out.info(f"batch {self.name}: {sum(counts.values())} lines: {tally}{sent}")
        if hint:
            out.hint(hint)

    def _say(self, text: str, warn: bool) -> None:
        if self._live is not None:
            line = escape(f"warning: {text}" if warn else text)
            self._live.console.print(line, highlight=False, markup=False)
        elif warn:
            self.output.warn(text)
        else:
            self.output.info(text)


def open_results(path: str) -> TextIO:
    """``--results FILE``, opened (so a path that cannot be written fails before anything is
    sent) but not emptied yet: see :meth:`BatchDisplay.start_results`.

    Written as results come, so a script can follow it; never through a symbolic link.
    """
    import os

    from lumen_cli.errors import BadInput

    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise BadInput(f"cannot write --results {path}: {exc.strerror or exc}") from None
    return os.fdopen(fd, "w", encoding="utf-8")


def line_result(line: BatchLine) -> LineResult:
    """A batch line of the history as a result (``batch status``)."""
    return LineResult(
        line.line,
        line.custom_id,
        line.status,
        line.job_id,
        line.error,
        list(line.paths),
        line.host,
    )


def line_document(line: BatchLine) -> dict[str, Any]:
    """A batch line as ``batch status --json`` shows it: a result, plus its key and tries,
    and who sent it."""
    return {
        **line_result(line).to_json(),
        "key": line.key,
        "attempts": line.attempts,
        "user": line.user,
    }


def show_lines(out: Output, lines: Sequence[BatchLine]) -> None:
    """``batch status``: one JSON document, plain lines as a run prints its results, or a
    table on a terminal."""
    if out.json_mode:
        out.json([line_document(line) for line in lines])
    elif not out.stdout_tty:
        for line in lines:
            out.record(line_result(line).to_row())
    else:
        rows = [
            [
                str(line.line),
                line.custom_id or "",
                line.job_id or "",
                line.status,
                "\n".join(out.short_path(path) for path in line.paths) or line.error or "",
                line.host or "",
            ]
            for line in lines
        ]
        out.table(["LINE", "CUSTOM_ID", "ID", "STATUS", "RESULT", "SENT BY"], rows)


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``42s``, ``3m07s``, ``1h02m``."""
    if seconds < 10:
        return f"{max(seconds, 0):.1f}s"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
