"""The local job history: one SQLite file that parallel ``lumen`` processes share safely.

WAL mode and a busy timeout let readers and writers overlap; every write is one short
transaction, so twenty processes submitting at once lose and tear nothing. A submit is
recorded *before* its request is sent, under a local id, so a job whose outcome is
unknown is never lost.

Batches (schema 2) add two tables. ``batches`` names each batch of a profile;
``batch_lines`` holds one row per line, keyed by the line's key (its ``custom_id`` or a
hash of its request), pointing at the line's latest submit through ``jobs.local_id``, which
a job keeps for life. A line's status is its job's status; a line with no job is
``pending``, or ``refused`` when the API turned it down. :meth:`History.claim_line` is the
one atomic step that decides whether a line may be sent and records the submit.

Schema 3 indexes what ``list`` and ``wait --all`` filter on (profile, status, model), each
ending with the creation time, so a filtered list reads only the rows it shows, newest first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lumen_cli.errors import BatchBusy, HistoryBusy, HistoryError

LAST_PLAUSIBLE_TIME = 4_102_444_800  # 2100-01-01, as api.models checks it

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable, Iterator

    from lumen_cli.api.models import Job

T = TypeVar("T")
SCHEMA_VERSION = 3  # what this lumen writes; _SCHEMA is version 1, _MIGRATIONS lead on
BUSY_TIMEOUT_SECONDS = 30.0
BATCH_CHECKPOINT_PAGES = 10_000  # see History.expect_many_writes
SUBMITTING = "submitting"  # recorded, request not answered yet
UNKNOWN = "unknown"  # request sent, answer lost: the job may exist
# A submit still "submitting" after this long belongs to a process that died mid-request
# (no submit, retries included, lasts this long): its outcome is unknown.
STALE_SUBMIT_SECONDS = 300.0
STALE_SUBMIT_ERROR = "the submitting process ended before the API answered: the job may exist"
LOCAL_ID_PREFIX = "local-"
SQLITE_FILES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside the database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    base_url TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    model TEXT,
    prompt TEXT,
    mode TEXT,
    request TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    urls TEXT NOT NULL DEFAULT '[]',
    paths TEXT NOT NULL DEFAULT '[]',
    local_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
"""
_BASE_VERSION = 1  # the version _SCHEMA creates

# Each step takes the file from the version before it to its own, in order, inside the one
# transaction that opens the file. Steps only add: an older lumen still reads its tables.
_MIGRATIONS: dict[int, str] = {
    2: """
CREATE TABLE batches (
    profile TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT,
    base_url TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (profile, name)
);
CREATE TABLE batch_lines (
    profile TEXT NOT NULL,
    batch TEXT NOT NULL,
    key TEXT NOT NULL,
    line INTEGER NOT NULL,
    custom_id TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    local_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (profile, batch, key)
);
CREATE INDEX batch_lines_line ON batch_lines (profile, batch, line);
CREATE INDEX jobs_local_id ON jobs (local_id);
""",
    # What `list` and `wait --all` filter on, then the order they read in (see job_query);
    # jobs_status also finds the rare "submitting" job that each opening checks for.
    3: """
CREATE INDEX jobs_profile_created ON jobs (profile, created_at);
CREATE INDEX jobs_status ON jobs (status, profile, created_at);
CREATE INDEX jobs_model ON jobs (model, profile, created_at);
""",
}

# A batch line's own state; once sent, its job's status says the rest.
LINE_PENDING = "pending"  # never sent, or sent and definitely not created (safe to send)
LINE_REFUSED = "refused"  # the API turned it down (400, 404): no job, no bill
LINE_SENT = "sent"  # claimed for sending: jobs.local_id = local_id holds the submit


@dataclass
class JobRecord:
    """One job as the history keeps it (the request has its secrets stripped)."""

    id: str
    profile: str
    base_url: str
    created_at: float
    updated_at: float
    status: str
    model: str | None = None
    prompt: str | None = None
    mode: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    urls: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    local_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "model": self.model,
            "prompt": self.prompt,
            "mode": self.mode,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "profile": self.profile,
            "base_url": self.base_url,
            "request": self.request,
            "error": self.error,
            "urls": self.urls,
            "paths": self.paths,
        }


@dataclass
class BatchLine:
    """One line of a batch as the history knows it: its key and its latest job, if any.

    ``status`` is the job's status, or ``pending`` / ``refused`` for a line with no job.
    """

    key: str
    line: int
    custom_id: str | None
    status: str
    job_id: str | None = None
    error: str | None = None
    urls: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    attempts: int = 0


@dataclass
class BatchSummary:
    """A batch and how many of its lines are in each status."""

    name: str
    source: str | None
    created_at: float
    updated_at: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "lines": self.lines,
            "counts": self.counts,
        }


def new_local_id() -> str:
    return f"{LOCAL_ID_PREFIX}{uuid.uuid4().hex[:16]}"


class History:
    """Read and write job records in the SQLite file at *path*."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        # One connection, usable from any thread one at a time (the webhook listener
        # writes from its worker and closes from the main thread).
        self._lock = threading.RLock()

    # -- connection --------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """The connection, opened on first use; call it with ``self._lock`` held."""
        if self._conn is not None:
            return self._conn
        import sqlite3

        from lumen_cli.fsutil import ensure_private_dir, refuse_symlinks

        ensure_private_dir(self.path.parent)
        # SQLite opens these itself, following links: refuse one planted in their place.
        companions = [self.path.with_name(self.path.name + end) for end in SQLITE_FILES]
        try:
            refuse_symlinks(self.path, *companions)
        except OSError as exc:
            raise self._unusable(f"{exc.filename} is a symlink") from None
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,  # serialised by self._lock instead
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._check_or_create(conn)
            self._age_stale_submits(conn)
        except sqlite3.DatabaseError as exc:
            raise self._unusable(str(exc)) from None
        self._conn = conn
        return conn

    def _unusable(self, reason: str) -> HistoryError:
        return HistoryError(
            f"the history file {self.path} is unusable ({reason})",
            hint="Move it aside (lumen starts a new one) or restore it from a backup.",
        )

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables and "meta" not in tables:
            raise self._unusable("not a lumen history: it holds other tables")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('app', 'lumen'), ('schema', ?)",
                (str(_BASE_VERSION),),
            )
            app = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
            if app is not None and app[0] == "lumen":
                self._migrate(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if app is None or app[0] != "lumen":
            raise self._unusable("not a lumen history")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to ``SCHEMA_VERSION``, step by step (inside the caller's transaction)."""
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise self._unusable(f"its schema version {row and row[0]!r} is unreadable") from None
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"the history file {self.path} was written by a newer lumen "
                f"(schema {version}; this one knows {SCHEMA_VERSION})",
                hint="Upgrade lumen, or point LUMEN_DATA_DIR at another folder.",
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value=? WHERE key='schema'", (str(step),))

    @staticmethod
    def _age_stale_submits(conn: sqlite3.Connection) -> None:
        """Mark submits whose process died mid-request as ``unknown`` (shown, not lost)."""
        import sqlite3

        cutoff = time.time() - STALE_SUBMIT_SECONDS
        try:
            found = conn.execute(
                "SELECT 1 FROM jobs WHERE status=? AND updated_at<? LIMIT 1", (SUBMITTING, cutoff)
            ).fetchone()
            if found:  # a read first: most runs find none and need no write lock
                conn.execute(
                    "UPDATE jobs SET status=?, error=?, updated_at=?"
                    " WHERE status=? AND updated_at<?",
                    (UNKNOWN, STALE_SUBMIT_ERROR, time.time(), SUBMITTING, cutoff),
                )
        except sqlite3.OperationalError:
            pass  # busy: the next run does it

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._run(lambda conn: conn.execute(sql, params).rowcount)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run *work* on the connection, one thread at a time.

        A file that is not a usable database gives ``HistoryError`` "unusable"; a lock held
        too long by another process gives ``HistoryBusy``, which a caller may try again.
        """
        import sqlite3

        with self._lock:
            conn = self._connect()
            try:
                return work(conn)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise HistoryBusy(
                        f"the history file {self.path} is busy ({exc}): another lumen "
                        "process held it too long",
                        hint="Try again; if it stays busy, look for a stuck lumen process.",
                    ) from None
                raise self._unusable(str(exc)) from None
            except sqlite3.DatabaseError as exc:
                raise self._unusable(str(exc)) from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- writes ------------------------------------------------------------------

    def record_submitting(
        self,
        *,
        profile: str,
        base_url: str,
        request: dict[str, Any],
        mode: str,
        local_id: str | None = None,
    ) -> str:
        """Record a submit before it is sent; returns the local id it is kept under."""
        local_id = local_id or new_local_id()
        now = time.time()
        self._write(
            "INSERT INTO jobs (id, profile, base_url, created_at, updated_at, status, model,"
            " prompt, mode, request, local_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                local_id,
                profile,
                base_url,
                now,
                now,
                SUBMITTING,
                request.get("model"),
                request.get("prompt"),
                mode,
                json.dumps(request, ensure_ascii=False),
                local_id,
            ),
        )
        return local_id

    def resolve_submitted(self, local_id: str, job: Job) -> None:
        """The submit was answered: the record takes the server's id and status.

        Should the server hand out an id the history already holds, the submit's record
        takes that row's place (it describes the job the id names now).
        """
        created = float(job.created) if job.created is not None else None

        def resolve(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if job.id != local_id:
                    conn.execute("DELETE FROM jobs WHERE id=?", (job.id,))
                conn.execute(
                    "UPDATE jobs SET id=?, status=?, updated_at=?,"
                    " created_at=COALESCE(?, created_at), urls=?, error=? WHERE id=?",
                    (
                        job.id,
                        job.status,
                        time.time(),
                        created,
                        json.dumps(list(job.urls)),
                        job.error,
                        local_id,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._run(resolve)

    def mark_unknown(self, local_id: str, reason: str) -> None:
        self._write(
            "UPDATE jobs SET status=?, error=?, updated_at=? WHERE id=?",
            (UNKNOWN, reason, time.time(), local_id),
        )

    def forget(self, local_id: str) -> None:
        """Drop a submit the API definitely refused: it is no job and was not billed."""
        self._write("DELETE FROM jobs WHERE id=? AND status=?", (local_id, SUBMITTING))

    def update_from_api(self, job: Job, *, profile: str, base_url: str) -> None:
        """Store what the API said of *job*; a job the history does not know is added."""
        now = time.time()
        created = float(job.created) if job.created is not None else now
        prompt = job.raw.get("prompt") if isinstance(job.raw.get("prompt"), str) else None
        self._write(
            "INSERT INTO jobs (id, profile, base_url, created_at, updated_at, status, model,"
            " prompt, urls, error) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET status=excluded.status,"
            " updated_at=excluded.updated_at, error=excluded.error,"
            " urls=CASE WHEN excluded.urls='[]' THEN jobs.urls ELSE excluded.urls END,"
            " model=COALESCE(jobs.model, excluded.model),"
            " prompt=COALESCE(jobs.prompt, excluded.prompt)",
            (
                job.id,
                profile,
                base_url,
                created,
                now,
                job.status,
                job.model,
                prompt,
                json.dumps(list(job.urls)),
                job.error,
            ),
        )

    def add_paths(self, job_id: str, paths: list[str]) -> None:
        """Remember where a job's videos were saved (kept unique, in order)."""

        def merge(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT paths FROM jobs WHERE id=?", (job_id,)).fetchone()
                if row is not None:
                    known: list[str] = json.loads(row["paths"])
                    merged = known + [p for p in paths if p not in known]
                    conn.execute(
                        "UPDATE jobs SET paths=?, updated_at=? WHERE id=?",
                        (json.dumps(merged), time.time(), job_id),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._run(merge)

    # -- batches -----------------------------------------------------------------

    @contextlib.contextmanager
    def lock_batch(self, profile: str, name: str) -> Iterator[None]:
        """Hold batch *name* for this process, or raise ``BatchBusy`` at once.

        One process sends a batch at a time. The lock is an advisory file lock beside the
        history file, so the system drops it with the process, even after ``kill -9``.
        """
        from lumen_cli.fsutil import ensure_private_dir, lock_holder, try_lock

        digest = hashlib.sha256(f"{profile}\0{name}".encode()).hexdigest()[:32]
        folder = ensure_private_dir(self.path.parent / f"{self.path.name}.locks")
        path = folder / f"batch-{digest}.lock"
        fd = try_lock(path, f"pid {os.getpid()}")
        if fd is None:
            holder = lock_holder(path)
            raise BatchBusy(
                f"batch {name!r} is being sent by another lumen process"
                + (f" ({holder})" if holder else ""),
                hint="Wait for it to end (or stop it), then run the same command again; "
                "--name runs the file as another batch.",
            )
        try:
            yield
        finally:
            os.close(fd)

    def expect_many_writes(self) -> None:
        """Copy the write-ahead log back into the file less often on this connection.

        A batch commits twice per line; copying back every 1000 pages (SQLite's default)
        costs it more than once at the end, when the last connection closes. The log
        then grows to at most ``BATCH_CHECKPOINT_PAGES`` pages (about 40 MiB).
        """
        self._run(lambda conn: conn.execute(f"PRAGMA wal_autocheckpoint={BATCH_CHECKPOINT_PAGES}"))

    def open_batch(
        self,
        profile: str,
        name: str,
        *,
        source: str | None,
        base_url: str,
        lines: Iterable[tuple[str, int, str | None]],
    ) -> None:
        """Record batch *name* and its *lines* (key, line number, custom_id) before sending.

        Known lines keep their jobs and take their new line numbers. Call it holding
        :meth:`lock_batch`: a submit of this batch still ``submitting`` was then cut off by
        a crash or a kill while its request may have been sent, and it becomes ``unknown``.
        """
        now = time.time()
        rows = [(profile, name, key, line, custom_id, now) for key, line, custom_id in lines]

        def record(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO batches (profile, name, source, base_url, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT(profile, name) DO UPDATE SET"
                    " source=excluded.source, base_url=excluded.base_url,"
                    " updated_at=excluded.updated_at",
                    (profile, name, source, base_url, now, now),
                )
                conn.executemany(
                    "INSERT INTO batch_lines (profile, batch, key, line, custom_id, updated_at)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT(profile, batch, key) DO UPDATE SET"
                    " line=excluded.line, custom_id=excluded.custom_id",
                    rows,
                )
                conn.execute(
                    "UPDATE jobs SET status=?, error=?, updated_at=? WHERE status=? AND local_id IN"
                    " (SELECT local_id FROM batch_lines WHERE profile=? AND batch=?)",
                    (
                        UNKNOWN,
                        "the run ended while this submit was in flight",
                        now,
                        SUBMITTING,
                        profile,
                        name,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._run(record)

    def claim_line(
        self,
        profile: str,
        batch: str,
        key: str,
        *,
        base_url: str,
        request: dict[str, Any],
        mode: str,
        retry_failed: bool = False,
        retry_unknown: bool = False,
    ) -> str | None:
        """Claim line *key* of *batch* for sending, atomically; the local id, or None.

        In one transaction: if the line may be sent (it has no job, or its job ``failed``
        and *retry_failed*, or is ``unknown`` and *retry_unknown*), point it at a new submit
        and record that submit as ``submitting`` (see :meth:`record_submitting`). The
        caller then sends it and settles the record with
        :meth:`resolve_submitted`, :meth:`mark_unknown` or :meth:`forget` and
        :meth:`release_line`. None: the line is not to be sent (accepted, in flight, or its
        outcome unknown), or it is not in the batch. A server-side backend does the same
        with ``SELECT … FOR UPDATE SKIP LOCKED`` on the line.
        """

        def claim(conn: sqlite3.Connection) -> str | None:
            local_id = new_local_id()
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Claimed only if the line's latest submit is gone (refused, never sent),
                # or ended failed / unknown and the matching flag says to send it again.
                claimed = conn.execute(
                    "UPDATE batch_lines SET state=?, local_id=?, error=NULL,"
                    " attempts=attempts+1, updated_at=? WHERE profile=? AND batch=? AND key=?"
                    " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.local_id=batch_lines.local_id"
                    " AND NOT (j.status='failed' AND ?) AND NOT (j.status=? AND ?))",
                    (
                        LINE_SENT,
                        local_id,
                        time.time(),
                        profile,
                        batch,
                        key,
                        retry_failed,
                        UNKNOWN,
                        retry_unknown,
                    ),
                ).rowcount
                if claimed:
                    self.record_submitting(
                        profile=profile,
                        base_url=base_url,
                        request=request,
                        mode=mode,
                        local_id=local_id,
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return local_id if claimed else None

        return self._run(claim)

    def release_line(
        self, profile: str, batch: str, key: str, *, error: str, refused: bool
    ) -> None:
        """A claimed line created no job: *refused* by the API, or never sent; it may be
        sent again. Call it after :meth:`forget` has dropped the submit."""
        self._write(
            "UPDATE batch_lines SET state=?, error=?, updated_at=?"
            " WHERE profile=? AND batch=? AND key=?",
            (
                LINE_REFUSED if refused else LINE_PENDING,
                error,
                time.time(),
                profile,
                batch,
                key,
            ),
        )

    def batch_lines(self, profile: str, name: str) -> list[BatchLine]:
        """Every line of batch *name*, by line number, each with its latest job."""
        rows = self._read(
            "SELECT l.key, l.line, l.custom_id, l.state, l.error AS line_error, l.attempts,"
            " j.id AS job_id, j.status AS job_status, j.error AS job_error, j.urls, j.paths"
            " FROM batch_lines l LEFT JOIN jobs j ON j.local_id=l.local_id"
            " WHERE l.profile=? AND l.batch=? ORDER BY l.line, l.rowid",
            (profile, name),
        )
        return [_batch_line(row) for row in rows]

    def batches(self, profile: str) -> list[BatchSummary]:
        """The batches of *profile*, most recently run first, with their lines' counts."""
        summaries = {
            row["name"]: BatchSummary(
                row["name"], row["source"], row["created_at"], row["updated_at"]
            )
            for row in self._read(
                "SELECT * FROM batches WHERE profile=? ORDER BY updated_at DESC, rowid DESC",
                (profile,),
            )
        }
        for row in self._read(
            "SELECT l.batch, COALESCE(j.status, CASE l.state WHEN ? THEN ? ELSE ? END) AS s,"
            " COUNT(*) AS n FROM batch_lines l LEFT JOIN jobs j ON j.local_id=l.local_id"
            " WHERE l.profile=? GROUP BY l.batch, s",
            (LINE_REFUSED, LINE_REFUSED, LINE_PENDING, profile),
        ):
            if row["batch"] in summaries:
                summaries[row["batch"]].counts[row["s"]] = row["n"]
        return list(summaries.values())

    # -- reads -------------------------------------------------------------------

    def counts(self, *, profile: str | None = None) -> dict[str, int]:
        """How many jobs the history holds, by status."""
        sql = "SELECT status, COUNT(*) FROM jobs"
        params: tuple[Any, ...] = ()
        if profile is not None:
            sql, params = sql + " WHERE profile=?", (profile,)
        return {str(status): int(n) for status, n in self._read(sql + " GROUP BY status", params)}

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._read("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _record(rows[0]) if rows else None

    def list(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        since: float | None = None,
        profile: str | None = None,
        limit: int | None = None,
        statuses: tuple[str, ...] | None = None,
        batch: str | None = None,
    ) -> list[JobRecord]:
        """Records, newest first, filtered on whatever is given (*batch*: the jobs of its
        lines, latest submit of each)."""
        sql, params = job_query(
            status=status,
            model=model,
            since=since,
            profile=profile,
            limit=limit,
            statuses=statuses,
            batch=batch,
        )
        return [_record(row) for row in self._read(sql, params)]


def job_query(
    *,
    status: str | None = None,
    model: str | None = None,
    since: float | None = None,
    profile: str | None = None,
    limit: int | None = None,
    statuses: tuple[str, ...] | None = None,
    batch: str | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """The SQL of :meth:`History.list` and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if batch is not None:
        clauses.append(
            "local_id IN (SELECT l.local_id FROM batch_lines l"
            " WHERE l.batch=? AND l.profile=jobs.profile)"
        )
        params.append(batch)
    for column, value in (("status", status), ("model", model), ("profile", profile)):
        if value is not None:
            clauses.append(f"{column}=?")
            params.append(value)
    if statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(statuses)
    if since is not None:
        clauses.append("created_at>=?")
        params.append(since)
    sql = "SELECT * FROM jobs"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    # Several statuses (the unfinished ones, for `wait --all`) are few jobs: found through
    # jobs_status, then sorted. Ordered by the plain column, SQLite would rather walk the
    # whole history in date order than sort them.
    newest = "+created_at" if statuses and len(statuses) > 1 else "created_at"
    sql += f" ORDER BY {newest} DESC, rowid DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, tuple(params)


def _record(row: sqlite3.Row) -> JobRecord:
    """A row as a record; a value another program (or a bad disk) mangled reads as empty."""
    return JobRecord(
        id=str(row["id"]),
        profile=_text(row["profile"]) or "",
        base_url=_text(row["base_url"]) or "",
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        status=_text(row["status"]) or UNKNOWN,
        model=_text(row["model"]),
        prompt=_text(row["prompt"]),
        mode=_text(row["mode"]),
        request=_json(row["request"], dict) or {},
        error=_text(row["error"]),
        urls=[url for url in _json(row["urls"], list) or [] if isinstance(url, str)],
        paths=[path for path in _json(row["paths"], list) or [] if isinstance(path, str)],
        local_id=_text(row["local_id"]),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: object) -> float:
    """A stored Unix time, or 0 for anything that is not one (1970 sorts it last)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if 0 <= value <= LAST_PLAUSIBLE_TIME else 0.0


def _json(value: object, kind: type[T]) -> T | None:
    if not isinstance(value, str):
        return None
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, kind) else None


def _batch_line(row: sqlite3.Row) -> BatchLine:
    status = row["job_status"]
    if status is None:
        status = LINE_REFUSED if row["state"] == LINE_REFUSED else LINE_PENDING
    return BatchLine(
        key=row["key"],
        line=row["line"],
        custom_id=row["custom_id"],
        status=status,
        job_id=row["job_id"],
        error=row["job_error"] if row["job_status"] is not None else row["line_error"],
        urls=_json(row["urls"], list) or [],
        paths=_json(row["paths"], list) or [],
        attempts=row["attempts"],
    )
