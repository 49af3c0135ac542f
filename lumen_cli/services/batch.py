"""``lumen batch``: send every line of a file, each exactly once, re-runnable after anything.

The run, in order:

1. **Plan** (``plan_batch``): read the file, check every line with the same checks as
   ``submit`` (and the ``-o`` template; local input files too), and give each line its key
   (``batchfile``). Nothing is sent when a line is bad, unless ``skip_invalid``.
2. **Open** the batch under its lock (on the local file one process per batch: a second
   one gets ``BatchBusy``; on a shared history any number, on any machines): record the
   batch and its lines, and turn this batch's submits still ``submitting`` whose process
   is gone (a run that died with a request in flight) into ``unknown``.
3. **Upload** the local files of the lines to send (``services.uploads``), each distinct
   file once, before the first POST; a failed upload stops the run with nothing sent.
   **Send** what may be sent, ``concurrency`` lines at a time over the client's one
   connection pool. Each line is claimed (``History.claim_line``: the submit is recorded
   before its POST, and only if no other run claimed the line since we read it) and sent
   through ``services.submit.send_recorded``, so a crash at any moment leaves either a
   line never sent, or one whose outcome is ``unknown``, which is never sent again unless
   ``retry_unknown``. A line another run (another machine) claimed first is reported at
   the end as that run left it, and named with the machine that sent it. All senders
   share one ``Pacer``: a 429 slows the whole batch and fails no line. After
   ``TROUBLE_LIMIT`` lines in a row fail for service reasons (5xx, network, outcome
   unknown) no new line is sent.
4. **Follow** (``wait``): each accepted line's job joins the one follow service as soon as
   it is accepted, while other lines are still being sent; lines of earlier runs that are
   still running are re-attached. With ``download`` each job is saved as it succeeds.

Every input line gets exactly one result (``output.batch.LineResult``) as soon as its
outcome is known; the run's exit code is the worst of them.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import strip_secrets
from lumen_cli.download import DOWNLOAD_WORKERS
from lumen_cli.errors import (
    AuthRejected,
    BadInput,
    ExitCode,
    HistoryError,
    InsufficientCredits,
    LumenError,
    NoKey,
    OutcomeUnknown,
    Unavailable,
    exit_code_for_job,
    worst_exit_code,
)
from lumen_cli.history import LOCAL_ID_PREFIX, SUBMITTING, UNKNOWN
from lumen_cli.output.batch import INVALID, PENDING, REFUSED, LineResult
from lumen_cli.output.usage import cost_note
from lumen_cli.pricing import PRICES_HINT, Prices, credits_value, format_credits, load_prices
from lumen_cli.services.batchfile import (
    BadLine,
    PlannedLine,
    detect_format,
    plan_lines,
    read_lines,
)
from lumen_cli.services.uploads import with_urls
from lumen_cli.text import plural
from lumen_cli.values import API_DEFAULT_DURATION, BATCH_PLACEHOLDERS, check_template

if TYPE_CHECKING:
    from lumen_cli.api.pacing import Pacer
    from lumen_cli.api.polling import JobFeed
    from lumen_cli.api.request import JobSpec
    from lumen_cli.history import BatchLine
    from lumen_cli.output.batch import BatchDisplay
    from lumen_cli.services import Runtime
    from lumen_cli.services.follow import Ended
    from lumen_cli.services.uploads import LocalInput, Resolved, Uploads

DEFAULT_CONCURRENCY = 4
TROUBLE_LIMIT = 5  # lines in a row failing for service reasons before sending stops
SPREAD_SECONDS = 0.05  # how often a run asks which lines other runs took (see _spread)
RUNNING = ("queued", "processing")
# Errors after which no line can go through: stop sending at once.
_FATAL = (AuthRejected, InsufficientCredits, NoKey)


@dataclass
class BatchPlan:
    """A checked batch file: its good lines (to send) and its bad ones."""

    name: str
    source: str
    lines: list[PlannedLine]
    invalid: list[BadLine]

    @property
    def total(self) -> int:
        return len(self.lines) + len(self.invalid)

    def by_model(self, lines: list[PlannedLine] | None = None) -> dict[str, tuple[int, int]]:
        """Model -> (lines, seconds of video asked for), over *lines* (default: all)."""
        tally: dict[str, tuple[int, int]] = {}
        for line in self.lines if lines is None else lines:
            count, seconds = tally.get(line.body["model"], (0, 0))
            tally[line.body["model"]] = (count + 1, seconds + line.seconds)
        return tally


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch (the flags of ``lumen batch`` past the submit defaults)."""

    concurrency: int = DEFAULT_CONCURRENCY
    retry_failed: bool = False
    retry_unknown: bool = False
    skip_invalid: bool = False
    wait: bool = False
    download: bool = False
    output: str | None = None
    timeout: float | None = None
    interval: float | None = None
    download_workers: int = DOWNLOAD_WORKERS
    resume_command: str = ""  # how to run this batch again, for hints
    max_credits: float | None = None  # refuse to start when the estimate is higher


def plan_batch(
    data: bytes,
    *,
    source: str,
    name: str,
    fmt: str | None,
    defaults: JobSpec,
    output: str | None = None,
    uploads: Uploads | None = None,
) -> BatchPlan:
    """Read and check the whole batch file (*data*, read from *source*) before anything is
    sent. *defaults* holds the submit flags and settings under every line. With *uploads*,
    inputs may name local files (a line's relative paths from the file's folder)."""
    from pathlib import Path

    if output is not None:
        check_template(output, extra=BATCH_PLACEHOLDERS)
    lines, invalid = plan_lines(
        read_lines(data, detect_format(source, fmt)),
        defaults,
        files=uploads.files if uploads is not None else None,
        folder=Path(source).parent if source != "-" else None,
    )
    if not lines and not invalid:
        raise BadInput(f"{source} holds no lines to send", hint="Blank lines and # comments skip.")
    return BatchPlan(name, source, lines, invalid)


def sendable(status: str, options: BatchOptions) -> bool:
    """Whether a line in *status* (its job's, or pending/refused) is to be sent now."""
    return (
        status in (PENDING, REFUSED)
        or (status == "failed" and options.retry_failed)
        or (status == UNKNOWN and options.retry_unknown)
    )


def known_lines(rt: Runtime, plan: BatchPlan) -> dict[str, BatchLine]:
    """What the history knows of the plan's batch, by line key (empty for a new batch)."""
    return {line.key: line for line in rt.history.batch_lines(rt.settings.profile, plan.name)}


@dataclass
class _Line:
    """A planned line during the run: its job and whether its result is out."""

    plan: PlannedLine
    job_id: str | None = None
    status: str = PENDING
    error: str | None = None
    paths: list[str] = field(default_factory=list)
    reported: bool = False
    code: ExitCode = ExitCode.OK
    attempts: int = 0  # how many times it had been claimed when we read it
    taken: bool = False  # handed to a sender of this run
    host: str | None = None  # who sent its latest submit
    elsewhere: bool = False  # another run claimed it first: its outcome is that run's


class BatchRun:
    """One run of a planned batch; see the module docstring for the steps."""

    def __init__(
        self,
        rt: Runtime,
        plan: BatchPlan,
        options: BatchOptions,
        display: BatchDisplay,
        uploads: Uploads | None = None,
    ) -> None:
        self.rt = rt
        self.uploads = uploads
        self.plan = plan
        self.options = options
        self.display = display
        self.profile = rt.settings.profile
        self._lines = {line.key: _Line(line) for line in plan.lines}
        self._by_job: dict[str, _Line] = {}
        self._lock = threading.Lock()
        self._feed: JobFeed | None = None
        self._senders = 0
        self._sent_all = threading.Event()  # every sender thread has ended
        self._queue: list[_Line] = []
        self._next = 0  # where _take looks first
        self._spread_at = float("-inf")
        self._stop = threading.Event()
        self._trouble = 0
        self.stopped: str | None = None  # why sending stopped early, for the summary
        self.fatal: LumenError | None = None  # an error no line can get past
        self.pacer: Pacer | None = None
        self.codes: set[ExitCode] = set()
        self.started = False  # the batch was opened: there is something to sum up

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> ExitCode:
        """Open, send, follow, report; returns the exit code (or raises a fatal error)."""
        rt = self.rt
        client = rt.client  # NoKey before anything is recorded
        with rt.history.lock_batch(self.profile, self.plan.name):
            self.display.start_results()
            rt.history.expect_many_writes()
            for bad in self.plan.invalid:
                self._result(LineResult(bad.line, bad.custom_id, INVALID, error=bad.error))
                self.codes.add(ExitCode.BAD_INPUT)
            rt.history.open_batch(
                self.profile,
                self.plan.name,
                source=self.plan.source,
                base_url=client.base_url,
                lines=[(line.key, line.line, line.custom_id) for line in self.plan.lines],
            )
            self.started = True
            follow_ids = self._settle_known(known_lines(rt, self.plan))
            self.display.begin(self.plan.total, len(self._queue))
            self._warn_retries()
            try:
                if self._upload_inputs():
                    self._send_and_follow(follow_ids)
            finally:
                self._report_rest()
        if self.fatal is not None:
            raise self.fatal
        return worst_exit_code(self.codes | {line.code for line in self._lines.values()})

    def summary_hint(self) -> str | None:
        """What to do next, when there is something to do."""
        statuses = [line.status for line in self._lines.values()]
        unsent, refused, unknown = (statuses.count(s) for s in (PENDING, REFUSED, UNKNOWN))
        hints = []
        if self.stopped:
            hints.append(f"Sending stopped: {self.stopped}.")
        if unsent:
            hints.append(
                f"{plural(unsent, 'line was', 'lines were')} not sent; run "
                f"`{self.options.resume_command}` again to send them (lines already "
                "accepted are not sent again)."
            )
        if refused:
            hints.append(
                f"{plural(refused, 'line was', 'lines were')} refused by the API: "
                "fix them and run again."
            )
        if unknown:
            hints.append(
                f"{plural(unknown, 'line has', 'lines have')} an unknown outcome (their jobs may "
                "exist and be "
                "billed): see `lumen batch status "
                f"{self.plan.name}`; --retry-unknown sends them again and may bill twice."
            )
        elsewhere = self._sent_elsewhere()
        if elsewhere:
            machines = ", ".join(f"{host}: {count}" for host, count in sorted(elsewhere.items()))
            hints.append(
                f"{plural(sum(elsewhere.values()), 'line was', 'lines were')} sent by other runs "
                f"of this batch ({machines}); `lumen batch status {self.plan.name}` shows "
                "every line."
            )
        failed = statuses.count("failed")
        if failed and not self.options.retry_failed:
            hints.append(
                f"{plural(failed, 'line', 'lines')} failed: `{self.options.resume_command} "
                "--retry-failed` sends only those again (failed jobs are refunded)."
            )
        return " ".join(hints) or None

    def _settle_known(self, known: dict[str, BatchLine]) -> list[str]:
        """Sort the lines: to send, to follow (returns their job ids), or already done."""
        follow_ids = []
        for key, line in self._lines.items():
            record = known.get(key)
            status = record.status if record is not None else PENDING
            if record is not None:
                line.job_id, line.error, line.paths = record.job_id, record.error, record.paths
                line.attempts, line.host = record.attempts, record.host
            line.status = status
            if sendable(status, self.options):
                self._queue.append(line)
            elif status == SUBMITTING:  # in flight in another run, alive (a shared history)
                line.elsewhere = True
            elif self._to_follow(status, line):
                follow_ids.append(self._track(line))
            else:
                self._finish(line, status, error=line.error, paths=line.paths)
        return follow_ids

    def _to_follow(self, status: str, line: _Line) -> bool:
        """Lines of earlier runs that ``wait`` re-attaches to: running, or succeeded and not
        saved yet (with ``download``)."""
        if not self.options.wait:
            return False
        return status in RUNNING or (
            status == "succeeded" and self.options.download and not line.paths
        )

    def _warn_retries(self) -> None:
        unknown = [line for line in self._queue if line.status == UNKNOWN]
        if unknown:
            self.display.warn(
                f"--retry-unknown: sending {plural(len(unknown), 'line')} whose outcome is unknown "
                "again; any of them the API did create is billed twice"
            )
        failed = [line for line in self._queue if line.status == "failed"]
        if failed:
            self.display.warn(f"--retry-failed: sending {plural(len(failed), 'failed line')} again")

    def _upload_inputs(self) -> bool:
        """Upload the local files of the lines to send, each once, and put their URLs in the
        lines' bodies; False (the error kept as fatal) when one cannot be uploaded."""
        lines = [line for line in self._queue if line.plan.inputs]
        if self.uploads is None or not lines:
            return True
        inputs = [item for line in lines for item in line.plan.inputs]
        try:
            urls = self.uploads.resolve(inputs, workers=self.options.concurrency)
        except LumenError as error:
            self._halt(error)
            return False
        for line in lines:
            body = with_urls(line.plan.body, line.plan.inputs, urls)
            line.plan = dataclasses.replace(line.plan, body=body)
        return True

    def _send_and_follow(self, follow_ids: list[str]) -> None:
        from lumen_cli.api.pacing import Pacer

        options = self.options
        self.pacer = Pacer(options.concurrency, clock=self.rt.clock)
        if options.wait:
            from lumen_cli.api.polling import JobFeed

            self._feed = JobFeed()
        threads = [
            threading.Thread(target=self._sender, name=f"lumen-batch-{n}")
            for n in range(min(options.concurrency, len(self._queue)))
        ]
        self._senders = len(threads)
        if not threads:
            self._sent_all.set()
            if self._feed is not None:
                self._feed.close()
        for thread in threads:
            thread.start()
        # An Event rather than Thread.join: a join that Ctrl-C interrupts can leave the
        # thread marked as stopped while it still runs (CPython 3.11), and the line it
        # is sending must be recorded before we report and leave.
        try:
            if options.wait:
                self._follow(follow_ids, self._feed)
            self._sent_all.wait()
        except BaseException:
            self._stop.set()  # no new line; those in flight are recorded before we leave
            self._sent_all.wait()
            raise

    # -- sending ------------------------------------------------------------------------------

    def _take(self) -> _Line | None:
        """The next line to send: in file order from ``_next``, past those handed out or
        claimed by other runs (then around to the start, on a shared history)."""
        with self._lock:
            queue = self._queue
            for step in range(len(queue)):
                index = (self._next + step) % len(queue)
                line = queue[index]
                if not line.taken and not line.elsewhere:
                    if self._stop.is_set():
                        return None
                    line.taken = True
                    self._next = index + 1
                    return line
            return None

    def _spread(self, line: _Line) -> None:
        """Another run claimed *line* since we read it: on a shared history, other machines
        send this batch too. Learn which lines they took (at most every ``SPREAD_SECONDS``)
        and go on from the middle of the longest stretch of lines nobody took yet, so that
        the machines work apart instead of racing each other for the same lines."""
        with self._lock:
            line.elsewhere = True
            now = self.rt.clock.monotonic()
            if now - self._spread_at < SPREAD_SECONDS:
                return
            self._spread_at = now
        attempts = self.rt.history.line_attempts(self.profile, self.plan.name)
        with self._lock:
            for queued in self._queue:
                seen = attempts.get(queued.plan.key, queued.attempts)
                if not queued.taken and seen != queued.attempts:
                    queued.elsewhere = True
            self._next = _middle_of_longest_free_run(self._queue)

    def _sender(self) -> None:
        try:
            while (line := self._take()) is not None:
                try:
                    self._send(line, self._feed)
                except LumenError as error:  # the history failed us: stop, nothing is lost
                    self._halt(error)
                except Exception as exc:  # a bug: stop cleanly; the line's record is safe
                    self._halt(LumenError(f"line {line.plan.line}: {type(exc).__name__}: {exc}"))
        finally:
            with self._lock:
                self._senders -= 1
                last = self._senders == 0
            if last:
                if self._feed is not None:
                    self._feed.close()
                self._sent_all.set()

    def _send(self, line: _Line, feed: JobFeed | None) -> None:
        from lumen_cli.services.submit import send_recorded

        rt, plan = self.rt, line.plan
        local_id = rt.history.claim_line(
            self.profile,
            self.plan.name,
            plan.key,
            base_url=rt.client.base_url,
            request=strip_secrets(plan.body),
            mode=plan.mode,
            retry_failed=self.options.retry_failed,
            retry_unknown=self.options.retry_unknown,
            attempts=line.attempts,
        )
        if local_id is None:  # another run claimed it since we read it: reported at the end
            line.taken = False
            self._spread(line)
            return
        line.job_id, line.host = local_id, rt.history.host
        try:
            job = send_recorded(rt, local_id, plan.body, pacer=self.pacer)
        except OutcomeUnknown as error:
            self.display.sent_line()
            self._trouble_with(error)
            self._finish(line, UNKNOWN, error=error.message, code=error.exit_code)
            return
        except HistoryError as error:  # the job may exist, unrecorded: never send it again
            self._finish(line, UNKNOWN, error=error.message, code=error.exit_code)
            self._halt(error)
            return
        except _FATAL as error:
            self._not_sent(line, error, refused=False)
            self._halt(error)
            return
        except Unavailable as error:  # never sent (or rate limited past patience): no job
            self._not_sent(line, error, refused=False)
            self._trouble_with(error)
            return
        except LumenError as error:  # the API turned this line down: 400, 404
            self.display.sent_line()
            self._not_sent(line, error, refused=True)
            with self._lock:
                self._trouble = 0
            return
        with self._lock:
            self._trouble = 0
            line.job_id, line.status = job.id, job.status
            self._by_job[job.id] = line
        self.display.sent_line(job)
        if feed is not None:
            feed.put(job.id)
        else:
            self._finish(line, job.status)

    def _not_sent(self, line: _Line, error: LumenError, *, refused: bool) -> None:
        line.job_id = None
        if not refused:
            line.host = None
        self.rt.history.release_line(
            self.profile, self.plan.name, line.plan.key, error=error.message, refused=refused
        )
        self._finish(
            line, REFUSED if refused else PENDING, error=error.message, code=error.exit_code
        )

    def _trouble_with(self, error: LumenError) -> None:
        with self._lock:
            self._trouble += 1
            if self._trouble < TROUBLE_LIMIT or self._stop.is_set():
                return
        self.stopped = (
            f"{TROUBLE_LIMIT} lines in a row failed for service reasons (last: {error.message})"
        )
        self.display.warn(f"stopping: {self.stopped}; no more lines are sent")
        self._stop.set()

    def _halt(self, error: LumenError) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = error
        self.stopped = error.message
        self._stop.set()

    # -- following ----------------------------------------------------------------------------

    def _track(self, line: _Line) -> str:
        assert line.job_id is not None
        self._by_job[line.job_id] = line
        return line.job_id

    def _follow(self, ids: list[str], feed: JobFeed | None) -> None:
        from lumen_cli.services.follow import follow

        options = self.options
        try:
            followed = follow(
                self.rt,
                ids,
                timeout=options.timeout,
                interval=options.interval,
                download=options.download,
                output=options.output,
                download_workers=options.download_workers,
                view=self.display,
                feed=feed,
                on_end=self._ended,
                placeholders=self._placeholders,
            )
        except LumenError as error:  # polling gave up (the service is down): stop sending
            self._stop.set()
            self.stopped = f"following the jobs failed: {error.message}"
            self.codes.add(error.exit_code)
            return
        with self._lock:
            for job in followed.outcome.jobs.values():
                line = self._by_job.get(job.id)
                if line is not None and not line.reported:
                    line.status = job.status
        if followed.outcome.timed_out:
            self.codes.add(ExitCode.TIMEOUT)
        for job_id, missing in followed.outcome.missing.items():
            line = self._by_job.get(job_id)
            if line is not None:
                self._finish(line, "not_found", error=missing.message, code=missing.exit_code)

    def _ended(self, ended: Ended) -> None:
        job = ended.job
        line = self._by_job.get(job.id)
        if line is None:
            return
        if ended.error is not None:
            problem = ended.error
            self._finish(line, job.status, error=problem.message, code=problem.exit_code)
        else:
            self._finish(line, job.status, error=job.error, paths=ended.paths)

    def _placeholders(self, job_id: str) -> dict[str, str]:
        line = self._by_job.get(job_id)
        if line is None:
            return {}
        number = str(line.plan.line)
        return {"custom_id": line.plan.custom_id or number, "line": number}

    # -- results ------------------------------------------------------------------------------

    def _finish(
        self,
        line: _Line,
        status: str,
        *,
        error: str | None = None,
        paths: list[str] | None = None,
        code: ExitCode | None = None,
        warn: bool = True,
    ) -> None:
        with self._lock:
            if line.reported:
                return
            line.reported = True
            line.status = status
            line.error = error
            line.paths = list(paths or [])
            line.code = line_exit_code(status, wait=self.options.wait) if code is None else code
        self._result(
            LineResult(
                line.plan.line,
                line.plan.custom_id,
                status,
                id=line.job_id,
                error=error,
                paths=line.paths,
                host=line.host,
            ),
            warn=warn,
        )

    def _result(self, result: LineResult, *, warn: bool = True) -> None:
        self.display.result(result, warn=warn)

    def _report_elsewhere(self) -> None:
        """Lines that another run claimed first (another machine sending the same batch):
        each as the history has it now, sent by that machine. Their outcome is that run's
        to report: they count as done here."""
        lines = [line for line in self._lines.values() if line.elsewhere and not line.reported]
        if not lines:
            return
        try:
            now = known_lines(self.rt, self.plan)
        except LumenError:  # the history is gone too: say what we knew
            now = {}
        for line in lines:
            record = now.get(line.plan.key)
            if record is not None:
                line.job_id, line.host = record.job_id, record.host
                status, error, paths = record.status, record.error, record.paths
            else:
                status, error, paths = line.status, line.error, line.paths
            self._finish(line, status, error=error, paths=paths, code=ExitCode.OK, warn=False)

    def _sent_elsewhere(self) -> dict[str, int]:
        """How many lines other runs sent, by the machine that sent them."""
        hosts: dict[str, int] = {}
        for line in self._lines.values():
            if line.elsewhere:
                host = line.host or "another run"
                hosts[host] = hosts.get(host, 0) + 1
        return hosts

    def _report_rest(self) -> None:
        """Every line still without a result gets one: what is known of it now."""
        self._report_elsewhere()
        reason = "interrupted" if not self.stopped else self.stopped
        for line in self._lines.values():
            if line.reported:
                continue
            if line.status in (PENDING, REFUSED) or line.job_id is None:
                # One hint in the summary says it for them all.
                error = f"not sent: {reason}"
                self._finish(line, PENDING, error=error, code=ExitCode.UNAVAILABLE, warn=False)
            elif line.job_id.startswith(LOCAL_ID_PREFIX):
                self._finish(line, UNKNOWN, error=line.error, code=ExitCode.UNAVAILABLE)
            else:
                code = ExitCode.TIMEOUT if self.options.wait else ExitCode.OK
                self._finish(line, line.status, error=line.error, code=code)


def _middle_of_longest_free_run(queue: list[_Line]) -> int:
    """The index in the middle of the longest run of lines in *queue* that no run took."""
    best_start, best_length, start = 0, 0, None
    for index, line in enumerate([*queue, None]):
        free = line is not None and not line.taken and not line.elsewhere
        if free and start is None:
            start = index
        elif not free and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None
    return best_start + best_length // 2


def line_exit_code(status: str, *, wait: bool) -> ExitCode:
    """The exit code a line in *status* gives the run: was it accepted (and, with *wait*,
    did its job succeed)?"""
    if status in (UNKNOWN, "submitting", PENDING):
        return ExitCode.UNAVAILABLE
    if status in (REFUSED, INVALID):
        return ExitCode.BAD_INPUT
    return exit_code_for_job(status) if wait else ExitCode.OK


def not_sent_results(plan: BatchPlan, reason: str) -> list[LineResult]:
    """Results for a plan that is not sent at all (invalid lines and no --skip-invalid)."""
    results = [
        LineResult(bad.line, bad.custom_id, INVALID, error=bad.error) for bad in plan.invalid
    ]
    results += [
        LineResult(line.line, line.custom_id, PENDING, error=f"not sent: {reason}")
        for line in plan.lines
    ]
    return sorted(results, key=lambda result: result.line)


def lines_to_send(
    plan: BatchPlan, known: dict[str, BatchLine], options: BatchOptions
) -> list[PlannedLine]:
    """The lines of *plan* a run would send now, given what the history *known* holds."""
    return [
        line
        for line in plan.lines
        if line.key not in known or sendable(known[line.key].status, options)
    ]


def dry_run_documents(
    lines: list[PlannedLine],
    urls: dict[str, Resolved] | None = None,
    prices: Prices | None = None,
) -> list[dict[str, Any]]:
    """What ``--dry-run`` prints: one document per line that would be sent, its local files
    (``files``) with the URL each would be sent as (``null``: to be uploaded), and with
    *prices* its estimated cost (``credits``; None when no price covers it)."""
    from lumen_cli.api.models import redact_secrets

    documents = []
    for line in lines:
        document: dict[str, Any] = {
            "line": line.line,
            "custom_id": line.custom_id,
            "key": line.key,
            "mode": line.mode,
            "request": redact_secrets(with_urls(line.body, line.inputs, urls or {})),
        }
        if line.inputs:
            document["files"] = [_file_document(item, urls or {}) for item in line.inputs]
        if prices is not None:
            cost = prices.of_request(line.body)
            document["credits"] = credits_value(cost.credits) if cost.complete else None
        documents.append(document)
    return documents


def _file_document(item: LocalInput, urls: dict[str, Resolved]) -> dict[str, Any]:
    resolved = urls.get(item.file.sha256)
    url = resolved.url if resolved is not None else None
    return {
        "field": item.field,
        "path": item.file.path,
        "sha256": item.file.sha256,
        "size": item.file.size,
        "url": url,
        "uploaded": bool(resolved is not None and resolved.fresh),
    }


def check_budget(rt: Runtime, lines: list[PlannedLine], max_credits: float) -> None:
    """Raise ``BadInput`` unless *lines* are estimated, in full, at *max_credits* or less
    (by the ``[prices]`` of the config file)."""
    config = rt.settings.file.path
    prices = load_prices(rt.settings.data, config)
    if prices is None:
        raise BadInput(
            f"--max-credits needs prices, and {config} has no [prices] table; nothing was sent",
            hint=PRICES_HINT,
        )
    estimate = prices.of_requests(line.body for line in lines)
    if not estimate.complete:
        missing = ", ".join(sorted(estimate.unpriced))
        raise BadInput(
            f"--max-credits cannot be checked: no price for {missing} in [prices] of {config}; "
            "nothing was sent",
            hint=PRICES_HINT,
        )
    if estimate.credits > max_credits:
        raise BadInput(
            f"the {plural(len(lines), 'line')} to send would cost about "
            f"{format_credits(estimate.credits)} credits, more than --max-credits "
            f"{format_credits(max_credits)}; nothing was sent",
            hint="Send fewer or shorter lines, pick a cheaper model, or raise --max-credits.",
        )


def run_batch(
    rt: Runtime,
    plan: BatchPlan,
    options: BatchOptions,
    *,
    results: str | None = None,
    uploads: Uploads | None = None,
) -> ExitCode:
    """Send *plan* as *options* say (its local files through *uploads*), showing and
    writing each line's result (``--results`` FILE too); returns the exit code. Nothing is
    sent if a line is invalid, unless ``skip_invalid``: then every line's result says so and
    ``BadInput`` is raised."""
    import os

    from lumen_cli.output.batch import BatchDisplay, open_results

    same = (
        results is not None
        and plan.source != "-"
        and os.path.exists(results)
        and os.path.samefile(results, plan.source)
    )
    if same:
        raise BadInput(f"--results {results} is the batch file itself: pick another file")
    if options.max_credits is not None and (options.skip_invalid or not plan.invalid):
        check_budget(rt, lines_to_send(plan, known_lines(rt, plan), options), options.max_credits)
    results_file = open_results(results) if results is not None else None
    try:
        with BatchDisplay(rt.output, name=plan.name, results=results_file) as display:
            if plan.invalid and not options.skip_invalid:
                reason = f"{plural(len(plan.invalid), 'line')} of the file invalid"
                display.start_results()
                for result in not_sent_results(plan, reason):
                    display.result(result, warn=result.status == INVALID)
                raise BadInput(
                    f"{len(plan.invalid)} of {plan.total} lines are invalid; nothing was sent",
                    hint="Fix them and run the same command again, or pass --skip-invalid "
                    "to send the others now.",
                )
            run = BatchRun(rt, plan, options, display, uploads)
            try:
                return run.run()
            finally:
                display.close()
                if run.started:
                    display.summary(hint=run.summary_hint())
    finally:
        if results_file is not None:
            results_file.close()


def preview(
    rt: Runtime,
    plan: BatchPlan,
    options: BatchOptions,
    *,
    uploads: Uploads | None = None,
    upload: bool = False,
) -> ExitCode:
    """Print what a run would send (one JSON line each, secrets redacted) and a summary:
    lines, what the history already holds, lines and seconds of video by model, local
    files (uploaded now with *upload*, else only looked up)."""
    out = rt.output
    prices = load_prices(rt.settings.data, rt.settings.file.path)
    lines = lines_to_send(plan, known_lines(rt, plan), options)
    inputs = [item for line in lines for item in line.inputs]
    urls: dict[str, Resolved] = {}
    if uploads is not None and inputs:
        urls = uploads.resolve(inputs, upload=upload, workers=options.concurrency)
    for document in dry_run_documents(lines, urls, prices):
        out.json_line(document)
    for bad in plan.invalid:
        out.warn(f"line {bad.line}: {bad.error}")
    done = len(plan.lines) - len(lines)
    out.info(
        f"dry run of batch {plan.name}: {plan.total} lines"
        + (f", {len(plan.invalid)} invalid" if plan.invalid else "")
        + f"; {len(lines)} to send"
        + (f", {done} already sent in earlier runs" if done else "")
    )
    by_model = plan.by_model(lines)
    for model, (count, seconds) in sorted(by_model.items()):
        out.info(f"  {model}: {plural(count, 'line')}, {seconds} s of video")
    total = sum(seconds for _, seconds in by_model.values())
    out.info(
        f"  in all: {total} s of video requested (a line without a duration counts the "
        f"API's default {API_DEFAULT_DURATION} s); nothing was sent"
    )
    if urls:
        to_upload = [sha for sha, resolved in urls.items() if resolved.url is None]
        uploaded = [sha for sha, resolved in urls.items() if resolved.fresh]
        reused = len(urls) - len(to_upload) - len(uploaded)
        out.info(
            f"  local files: {plural(len(urls), 'distinct file')}: {reused} with a URL to reuse"
            + (f", {len(uploaded)} uploaded now" if uploaded else "")
            + (f", {len(to_upload)} to upload (--upload uploads them now)" if to_upload else "")
        )
    estimate = prices.of_requests(line.body for line in lines) if prices is not None else None
    out.info(cost_note(estimate, total, rt.settings.file.path))
    if options.max_credits is not None:
        check_budget(rt, lines, options.max_credits)
    return ExitCode.BAD_INPUT if plan.invalid else ExitCode.OK
