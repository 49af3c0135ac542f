"""The job history: one SQLite file that parallel ``lumen`` processes share safely, or a
PostgreSQL database that a team's machines share (``history_url``), with one interface.

Every query is written once; ``lumen_cli.database`` runs it on either engine. Every write
is one short transaction, so twenty processes submitting at once lose and tear nothing. A
submit is recorded *before* its request is sent, under a local id, so a job whose outcome
is unknown is never lost.

Uploads (schema 3) remember where each local input file went: its sha256 and the host
(which ``upload_command``) give the URL and when it was made, so a file is uploaded once
while its URL is young enough (``services/uploads.py``).

Batches (schema 2) add two tables. ``batches`` names each batch of a profile;
``batch_lines`` holds one row per line, keyed by the line's key (its ``custom_id`` or a
hash of its request), pointing at the line's latest submit through ``jobs.local_id``, which
a job keeps for life. A line's status is its job's status; a line with no job is
``pending``, or ``refused`` when the API turned it down. :meth:`History.claim_line` is the
one atomic step that decides whether a line may be sent and records the submit.

Schema 4 records who sent each job (``host``, ``user_name``) and, for a batch line's
submit, the ``runner`` (one process) that claimed it: on a shared database several
machines send one batch at once, and a claim still ``submitting`` is in flight only while
its runner is alive (:meth:`History.open_batch`).

Schema 5 indexes what ``list`` and ``wait --all`` filter on (profile, status, model), each
ending with the creation time, so a filtered list reads only the rows it shows, newest first.
"""

from __future__ import annotations

import contextlib
import functools
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
    from collections.abc import Callable, Iterable, Iterator

    from lumen_cli.api.models import Job
    from lumen_cli.database import Cursor, Database

T = TypeVar("T")
SCHEMA_VERSION = 5  # what this lumen writes; _SCHEMA is version 1, _MIGRATIONS lead on
SUBMITTING = "submitting"  # recorded, request not answered yet
UNKNOWN = "unknown"  # request sent, answer lost: the job may exist
# A submit still "submitting" after this long belongs to a process that died mid-request
# (no submit, retries included, lasts this long): its outcome is unknown.
STALE_SUBMIT_SECONDS = 300.0
STALE_SUBMIT_ERROR = "the submitting process ended before the API answered: the job may exist"
LOCAL_ID_PREFIX = "local-"
IN_FLIGHT_ERROR = "the run ended while this submit was in flight"

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

# Each step takes the database from the version before it to its own, in order, inside the
# one transaction that opens it (on PostgreSQL as database.postgres_ddl turns the SQL, or
# from _POSTGRES_MIGRATIONS). Steps only add: an older lumen still reads its tables.
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
    3: """
CREATE TABLE uploads (
    sha256 TEXT NOT NULL,
    host TEXT NOT NULL,
    url TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded_at REAL NOT NULL,
    PRIMARY KEY (sha256, host)
);
""",
    4: """
ALTER TABLE jobs ADD COLUMN host TEXT;
ALTER TABLE jobs ADD COLUMN user_name TEXT;
ALTER TABLE jobs ADD COLUMN runner TEXT;
""",
    # What `list` and `wait --all` filter on, then the order they read in (see job_query);
    # jobs_status also finds the rare "submitting" job that each opening checks for.
    5: """
CREATE INDEX jobs_profile_created ON jobs (profile, created_at);
CREATE INDEX jobs_status ON jobs (status, profile, created_at);
CREATE INDEX jobs_model ON jobs (model, profile, created_at);
""",
}
# A step whose SQLite DDL PostgreSQL cannot take as database.postgres_ddl turns it: its own.
_POSTGRES_MIGRATIONS: dict[int, str] = {}
# What lumen's history holds (a shared database may hold other tables beside them).
_TABLES = frozenset({"meta", "jobs", "batches", "batch_lines", "uploads"})

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
    host: str | None = None  # who sent it (None: a job learnt of from the API)
    user: str | None = None

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
            "host": self.host,
            "user": self.user,
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
    host: str | None = None  # the machine that sent its latest submit
    user: str | None = None


@dataclass(frozen=True)
class Upload:
    """A local file uploaded once: its sha256, the host it went to, its URL and when."""

    sha256: str
    host: str
    url: str
    size: int
    uploaded_at: float


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


@dataclass
class Copied:
    """What :meth:`History.copy_to` did, table by table: rows copied, and rows the target
    already held (left as they were, but for saved paths, which are merged)."""

    jobs: tuple[int, int] = (0, 0)
    batches: tuple[int, int] = (0, 0)
    lines: tuple[int, int] = (0, 0)
    uploads: tuple[int, int] = (0, 0)

    def to_json(self) -> dict[str, dict[str, int]]:
        return {
            name: {"copied": copied, "present": present}
            for name, (copied, present) in (
                ("jobs", self.jobs),
                ("batches", self.batches),
                ("lines", self.lines),
                ("uploads", self.uploads),
            )
        }


def new_local_id() -> str:
    return f"{LOCAL_ID_PREFIX}{uuid.uuid4().hex[:16]}"


def _host_name() -> str:
    import socket

    return socket.gethostname() or "localhost"


def _user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


class History:
    """Read and write job records in the history at *location*: the path of the local SQLite
    file, or a ``postgresql://`` URL (see ``lumen_cli.database``).

    *host* and *user* name who sends the jobs recorded here (default: this machine's host
    name and this user's login name).
    """

    def __init__(
        self, location: Path | str, *, host: str | None = None, user: str | None = None
    ) -> None:
        from lumen_cli.database import open_database, runner_key

        self._db = open_database(location)
        self.where = self._db.where  # the file, or the server without its password
        self.shared = self._db.shared  # on a server other machines use too
        self.path = None if self.shared else Path(location)  # the local file
        self.host = host or _host_name()
        self.user = user or _user_name()
        # This process, as the claims it records name it (see lock_batch and open_batch).
        self.runner = runner_key()
        self._ready = False
        # One connection, usable from any thread one at a time (the webhook listener
        # writes from its worker and closes from the main thread).
        self._lock = threading.RLock()

    # -- connection --------------------------------------------------------------------

    def _open(self, db: Database) -> None:
        """Check that the database is a lumen history of this version, creating it or
        migrating it when it is not (under a lock, then a second look)."""
        version = self._version(db)
        if version != SCHEMA_VERSION:
            with db.transaction():
                db.lock("schema")  # two machines at once: one creates, the other waits
                for statement in db.ddl(_SCHEMA).split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('app', 'lumen'), ('schema', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (str(_BASE_VERSION),),
                )
                self._migrate(db)
        self._age_stale_submits(db)

    def _version(self, db: Database, *, again: bool = True) -> int | None:
        """The schema version of a lumen history; None for an empty database.

        Raises "unusable" for a database that holds something else.
        """
        try:  # one query when all is well (a round trip counts, to a server far away)
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except Exception as exc:
            error = db.translate(exc)
            if error is None or type(error) is not HistoryError:
                raise  # not the engine's, or busy, or unreachable: as it is
            tables = db.tables()
            if "meta" in tables:  # another machine created it since: look again, once
                if again:
                    return self._version(db, again=False)
                raise error from None
            # A server's database may hold other things; a file is lumen's alone.
            if tables & _TABLES if db.shared else tables:
                raise db.unusable("not a lumen history: it holds other tables") from None
            return None
        if rows.get("app") != "lumen":
            raise db.unusable("not a lumen history")
        try:
            return int(rows["schema"])
        except (KeyError, TypeError, ValueError):
            raise db.unusable(f"its schema version {rows.get('schema')!r} is unreadable") from None

    def _migrate(self, db: Database) -> None:
        """Bring the database to ``SCHEMA_VERSION``, step by step (inside the caller's
        transaction, holding the schema lock)."""
        version = self._version(db) or _BASE_VERSION
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"the history {self.where} was written by a newer lumen "
                f"(schema {version}; this one knows {SCHEMA_VERSION})",
                hint="Upgrade lumen, or point LUMEN_DATA_DIR (or history_url) elsewhere.",
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            sql = _POSTGRES_MIGRATIONS.get(step) if db.shared else None
            for statement in (sql or db.ddl(_MIGRATIONS[step])).split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(step),))

    @staticmethod
    def _age_stale_submits(db: Database) -> None:
        """Mark submits whose process died mid-request as ``unknown`` (shown, not lost)."""
        cutoff = time.time() - STALE_SUBMIT_SECONDS
        found = db.execute(
            "SELECT 1 FROM jobs WHERE status=? AND updated_at<? LIMIT 1", (SUBMITTING, cutoff)
        ).fetchone()
        if found:  # a read first: most runs find none and need no write lock
            try:
                db.execute(
                    "UPDATE jobs SET status=?, error=?, updated_at=?"
                    " WHERE status=? AND updated_at<?",
                    (UNKNOWN, STALE_SUBMIT_ERROR, time.time(), SUBMITTING, cutoff),
                )
            except Exception as exc:
                if not isinstance(db.translate(exc), HistoryBusy):
                    raise  # busy: the next run does it

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._run(lambda db: db.execute(sql, params).rowcount)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._run(lambda db: db.execute(sql, params).fetchall())

    def _run(self, work: Callable[[Database], T]) -> T:
        """Run *work* on the database, one thread at a time, opening it on first use.

        A database that is not a usable lumen history gives ``HistoryError`` "unusable"; a
        lock held too long by another process gives ``HistoryBusy``, which a caller may try
        again; a server that cannot be reached gives ``HistoryUnreachable``.
        """
        with self._lock:
            db = self._db
            try:
                if not self._ready:
                    self._open(db)
                    self._ready = True
                return work(db)
            except HistoryError:
                raise
            except Exception as exc:
                error = db.translate(exc)
                if error is None:
                    raise
                raise error from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._ready = False

    # -- writes ------------------------------------------------------------------

    def record_submitting(
        self,
        *,
        profile: str,
        base_url: str,
        request: dict[str, Any],
        mode: str,
    ) -> str:
        """Record a submit before it is sent; returns the local id it is kept under."""
        local_id = new_local_id()
        self._run(lambda db: self._insert_submit(db, local_id, profile, base_url, request, mode))
        return local_id

    def _insert_submit(
        self,
        db: Database,
        local_id: str,
        profile: str,
        base_url: str,
        request: dict[str, Any],
        mode: str,
        *,
        claimed: tuple[str, str, str] | None = None,
    ) -> Cursor:
        """Record a submit as ``submitting``; with *claimed* (profile, batch, key), only if
        that batch line points at it, under this process's runner (see :meth:`claim_line`)."""
        now = time.time()
        sql = (
            "INSERT INTO jobs (id, profile, base_url, created_at, updated_at, status, model,"
            " prompt, mode, request, local_id, host, user_name, runner)"
            " SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?"
        )
        params: tuple[Any, ...] = (
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
            self.host,
            self.user,
            self.runner if claimed else None,
        )
        if claimed is not None:
            sql += (
                " WHERE EXISTS (SELECT 1 FROM batch_lines"
                " WHERE profile=? AND batch=? AND key=? AND local_id=?)"
            )
            params += (*claimed, local_id)
        return db.execute(sql, params)

    def resolve_submitted(self, local_id: str, job: Job) -> None:
        """The submit was answered: the record takes the server's id and status.

        Should the server hand out an id the history already holds, the submit's record
        takes that row's place (it describes the job the id names now).
        """
        created = float(job.created) if job.created is not None else None

        def resolve(db: Database) -> None:
            with db.transaction(pipeline=True):
                if job.id != local_id:
                    db.execute("DELETE FROM jobs WHERE id=?", (job.id,))
                db.execute(
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

        def merge(db: Database) -> None:
            with db.transaction():
                row = db.execute(db.locking("SELECT paths FROM jobs WHERE id=?"), (job_id,))
                row = row.fetchone()
                if row is not None:
                    known = _json(row["paths"], list) or []
                    merged = known + [p for p in paths if p not in known]
                    db.execute(
                        "UPDATE jobs SET paths=?, updated_at=? WHERE id=?",
                        (json.dumps(merged), time.time(), job_id),
                    )

        self._run(merge)

    # -- batches -----------------------------------------------------------------

    @contextlib.contextmanager
    def lock_batch(self, profile: str, name: str) -> Iterator[None]:
        """Hold batch *name* for this process while it sends the batch's lines.

        On the local file one process sends a batch at a time: the lock is an advisory file
        lock beside the file, so the system drops it with the process, even after
        ``kill -9``; a second process gets ``BatchBusy`` at once. On a shared database any
        number of processes, on any machines, send one batch together (each line is
        claimed once, by one of them): each holds a session lock on its runner number on
        the server instead, which the server drops with the process's connection, so the
        others can tell its claims in flight from those of a process that died.
        """
        if self.path is None:
            self._run(lambda db: db.hold_runner(self.runner))
            try:
                yield
            finally:
                with contextlib.suppress(HistoryError):
                    self._run(lambda db: db.release_runner(self.runner))
            return
        import hashlib

        from lumen_cli.fsutil import lock_holder, try_lock

        digest = hashlib.sha256(f"{profile}\0{name}".encode()).hexdigest()[:32]
        path = self._locks() / f"batch-{digest}.lock"
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
        """Copy SQLite's write-ahead log back into the file less often on this connection.

        A batch commits twice per line; copying back every 1000 pages (SQLite's default)
        costs it more than once at the end, when the last connection closes. The log
        then grows to at most ``BATCH_CHECKPOINT_PAGES`` pages (about 40 MiB). A server
        needs no such hint.
        """
        self._run(lambda db: db.expect_many_writes())

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
        :meth:`lock_batch`: a submit of this batch still ``submitting`` whose runner is
        gone (on the local file: every one) was cut off by a crash or a kill while its
        request may have been sent, and it becomes ``unknown``. Those of runners still
        alive (other machines sending the batch now) stay in flight.
        """
        now = time.time()
        rows = [(profile, name, key, line, custom_id, now) for key, line, custom_id in lines]

        def record(db: Database) -> None:
            with db.transaction():
                db.lock(f"batch\0{profile}\0{name}")  # machines opening it at once: in turn
                db.execute(
                    "INSERT INTO batches (profile, name, source, base_url, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT(profile, name) DO UPDATE SET"
                    " source=excluded.source, base_url=excluded.base_url,"
                    " updated_at=excluded.updated_at",
                    (profile, name, source, base_url, now, now),
                )
                # Lines known as they are are left alone: no write, and no row lock that
                # the claims of other machines sending the batch already would wait for.
                known = {
                    row[0]: (row[1], row[2])
                    for row in db.execute(
                        "SELECT key, line, custom_id FROM batch_lines WHERE profile=? AND batch=?",
                        (profile, name),
                    ).fetchall()
                }
                changed = [row for row in rows if known.get(row[2]) != (row[3], row[4])]
                if changed:
                    db.executemany(
                        "INSERT INTO batch_lines (profile, batch, key, line, custom_id,"
                        " updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT(profile, batch, key)"
                        " DO UPDATE SET line=excluded.line, custom_id=excluded.custom_id",
                        changed,
                    )
                runners = db.execute(
                    "SELECT DISTINCT runner FROM jobs WHERE status=? AND local_id IN"
                    " (SELECT local_id FROM batch_lines WHERE profile=? AND batch=?)",
                    (SUBMITTING, profile, name),
                ).fetchall()
                for (runner,) in runners:
                    if runner and db.runner_alive(runner):
                        continue  # another machine is sending it now
                    db.execute(
                        "UPDATE jobs SET status=?, error=?, updated_at=? WHERE status=?"
                        " AND COALESCE(runner, '')=? AND local_id IN"
                        " (SELECT local_id FROM batch_lines WHERE profile=? AND batch=?)",
                        (UNKNOWN, IN_FLIGHT_ERROR, now, SUBMITTING, runner or "", profile, name),
                    )

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
        attempts: int | None = None,
    ) -> str | None:
        """Claim line *key* of *batch* for sending, atomically; the local id, or None.

        In one transaction, holding the line's row: if the line may be sent (it has no job,
        or its job ``failed`` and *retry_failed*, or is ``unknown`` and *retry_unknown*),
        and, when *attempts* is given, nobody claimed it since it was claimed that many
        times (another machine's run may have sent it since we looked), point it at a new
        submit and record that submit as ``submitting`` (see :meth:`record_submitting`),
        under this process's runner. The caller then sends it and settles the record with
        :meth:`resolve_submitted`, :meth:`mark_unknown` or :meth:`forget` and
        :meth:`release_line`. None: the line is not to be sent (accepted, in flight, its
        outcome unknown, or claimed since), or it is not in the batch.
        """
        line = (profile, batch, key)

        def claim(db: Database) -> str | None:
            local_id = new_local_id()
            # One round trip to a server: no statement needs the answer of the one before.
            with db.transaction(pipeline=True):
                # The row first: on a server, a claim of the same line by another machine
                # waits here, and what follows then reads what that claim wrote.
                db.execute(
                    db.locking("SELECT key FROM batch_lines WHERE profile=? AND batch=? AND key=?"),
                    line,
                )
                # Claimed only if the line's latest submit is gone (refused, never sent),
                # or ended failed / unknown and the matching flag says to send it again.
                db.execute(
                    "UPDATE batch_lines SET state=?, local_id=?, error=NULL,"
                    " attempts=attempts+1, updated_at=? WHERE profile=? AND batch=? AND key=?"
                    " AND attempts=COALESCE(?, attempts) AND NOT EXISTS"
                    " (SELECT 1 FROM jobs j WHERE j.local_id=batch_lines.local_id"
                    " AND NOT (j.status='failed' AND ?) AND NOT (j.status=? AND ?))",
                    (
                        LINE_SENT,
                        local_id,
                        time.time(),
                        *line,
                        attempts,
                        retry_failed,
                        UNKNOWN,
                        retry_unknown,
                    ),
                )
                # The submit, recorded if the line now points at it (if it was claimed).
                recorded = self._insert_submit(
                    db, local_id, profile, base_url, request, mode, claimed=line
                )
            return local_id if recorded.rowcount else None

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

    def line_attempts(self, profile: str, name: str) -> dict[str, int]:
        """How many times each line of batch *name* was claimed, by key (what tells a run
        which lines other runs claimed since it read them)."""
        rows = self._read(
            "SELECT key, attempts FROM batch_lines WHERE profile=? AND batch=?", (profile, name)
        )
        return {str(key): int(attempts) for key, attempts in rows}

    def batch_lines(self, profile: str, name: str) -> list[BatchLine]:
        """Every line of batch *name*, by line number, each with its latest job."""
        rows = self._read(
            "SELECT l.key, l.line, l.custom_id, l.state, l.error AS line_error, l.attempts,"
            " j.id AS job_id, j.status AS job_status, j.error AS job_error, j.urls, j.paths,"
            " j.host, j.user_name FROM batch_lines l LEFT JOIN jobs j ON j.local_id=l.local_id"
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

    # -- copying -------------------------------------------------------------------

    def copy_to(self, target: History, *, chunk: int = 1000) -> Copied:
        """Copy every job, batch, batch line and upload of this history into *target*, keeping ids,
        times, requests and saved paths. Idempotent: a row *target* already holds stays as
        it is, but a job takes the saved paths and the details (prompt, request, who sent
        it) it lacks. Jobs lumen sent, from a history older than the record of who sent
        them, are recorded as sent by this history's host and user.

        Copied *chunk* rows at a time, each chunk in one transaction of *target*: a copy
        cut off half way is finished by running it again.
        """
        copied = Copied()
        for table, columns in _COPIED.items():
            done = present = 0
            last = -1
            while True:
                rows = self._read(
                    f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid>?"  # noqa: S608
                    " ORDER BY rowid LIMIT ?",
                    (last, chunk),
                )
                if not rows:
                    break
                last = rows[-1][0]
                values = [self._copied_row(table, columns, row) for row in rows]
                insert = functools.partial(_insert_new, table=table, columns=columns, rows=values)
                added = target._run(insert)
                done, present = done + added, present + len(values) - added
            setattr(copied, _COPIED_NAMES[table], (done, present))
        return copied

    def _copied_row(self, table: str, columns: tuple[str, ...], row: Any) -> tuple[Any, ...]:
        values = dict(zip(columns, tuple(row)[1:], strict=True))
        if table == "jobs" and values["local_id"] and not values["host"]:
            values["host"], values["user_name"] = self.host, self.user
        return tuple(values[column] for column in columns)

    # -- uploads -----------------------------------------------------------------

    def find_upload(self, sha256: str, host: str, *, since: float) -> Upload | None:
        """The URL *host* gave the file *sha256* at or after *since* (a Unix time), if any."""
        rows = self._read(
            "SELECT url, size, uploaded_at FROM uploads WHERE sha256=? AND host=?"
            " AND uploaded_at>=?",
            (sha256, host, since),
        )
        if not rows or not isinstance(rows[0]["url"], str):
            return None
        row = rows[0]
        return Upload(sha256, host, row["url"], int(row["size"]), _time(row["uploaded_at"]))

    def record_upload(self, sha256: str, host: str, url: str, size: int) -> Upload:
        """Remember that *host* now serves the file *sha256* at *url*."""
        now = time.time()
        self._write(
            "INSERT INTO uploads (sha256, host, url, size, uploaded_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(sha256, host) DO UPDATE SET url=excluded.url, size=excluded.size,"
            " uploaded_at=excluded.uploaded_at",
            (sha256, host, url, size, now),
        )
        return Upload(sha256, host, url, size, now)

    @contextlib.contextmanager
    def lock_upload(self, sha256: str, host: str) -> Iterator[None]:
        """Hold the upload of file *sha256* to *host*, waiting for another process that holds
        it: two processes given the same file upload it once (the second finds the URL).

        On a shared history the lock is this machine's (two machines may each upload the
        file once, and either URL serves): an upload may take minutes, longer than a lock
        on the server should be held."""
        import hashlib

        from lumen_cli.fsutil import file_lock

        digest = hashlib.sha256(f"{sha256}\0{host}".encode()).hexdigest()[:32]
        with file_lock(self._locks() / f"upload-{digest}.lock"):
            yield

    def _locks(self) -> Path:
        """The folder of this history's file locks: beside the file, or for a shared
        history in this user's data folder."""
        from lumen_cli.fsutil import ensure_private_dir

        if self.path is None:
            from lumen_cli.config import data_dir

            return ensure_private_dir(data_dir() / "shared-history.locks")
        return ensure_private_dir(self.path.parent / f"{self.path.name}.locks")

    # -- reads -------------------------------------------------------------------

    def counts(self, *, profile: str | None = None) -> dict[str, int]:
        """How many jobs the history holds, by status."""
        sql = "SELECT status, COUNT(*) FROM jobs"
        params: tuple[Any, ...] = ()
        if profile is not None:
            sql, params = sql + " WHERE profile=?", (profile,)
        return {str(status): int(n) for status, n in self._read(sql + " GROUP BY status", params)}

    def job_batches(self, *, profile: str | None = None) -> dict[str, str]:
        """The batch of every job a batch line points at (each line's latest submit), by
        job id; a line sent again leaves its earlier jobs out."""
        sql = (
            "SELECT j.id, l.batch FROM batch_lines l"
            " JOIN jobs j ON j.local_id=l.local_id AND j.profile=l.profile"
        )
        params: tuple[Any, ...] = ()
        if profile is not None:
            sql, params = sql + " WHERE l.profile=?", (profile,)
        return {str(row[0]): str(row[1]) for row in self._read(sql, params)}

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
        host: str | None = None,
        user: str | None = None,
    ) -> list[JobRecord]:
        """Records, newest first, filtered on whatever is given (*batch*: the jobs of its
        lines, latest submit of each; *host*, *user*: who sent them)."""
        sql, params = job_query(
            status=status,
            model=model,
            since=since,
            profile=profile,
            limit=limit,
            statuses=statuses,
            batch=batch,
            host=host,
            user=user,
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
    host: str | None = None,
    user: str | None = None,
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
    for column, value in (
        ("status", status),
        ("model", model),
        ("profile", profile),
        ("host", host),
        ("user_name", user),
    ):
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


# What History.copy_to copies: every column but the rowid (the target numbers its rows).
_COPIED: dict[str, tuple[str, ...]] = {
    "jobs": (
        "id", "profile", "base_url", "created_at", "updated_at", "status", "model", "prompt",
        "mode", "request", "error", "urls", "paths", "local_id", "host", "user_name", "runner",
    ),
    "batches": ("profile", "name", "source", "base_url", "created_at", "updated_at"),
    "batch_lines": (
        "profile", "batch", "key", "line", "custom_id", "state", "local_id", "error",
        "attempts", "updated_at",
    ),
    "uploads": ("sha256", "host", "url", "size", "uploaded_at"),
}  # fmt: skip
_COPIED_NAMES = {"jobs": "jobs", "batches": "batches", "batch_lines": "lines", "uploads": "uploads"}
# A job the target holds already (learnt of from a webhook, say) takes what it lacks.
_ON_CONFLICT = {
    "jobs": "ON CONFLICT (id) DO UPDATE SET model=COALESCE(jobs.model, excluded.model),"
    " prompt=COALESCE(jobs.prompt, excluded.prompt), mode=COALESCE(jobs.mode, excluded.mode),"
    " local_id=COALESCE(jobs.local_id, excluded.local_id),"
    " host=COALESCE(jobs.host, excluded.host),"
    " user_name=COALESCE(jobs.user_name, excluded.user_name),"
    " request=CASE WHEN jobs.request='{}' THEN excluded.request ELSE jobs.request END",
    "batches": "ON CONFLICT DO NOTHING",
    "batch_lines": "ON CONFLICT DO NOTHING",
    "uploads": "ON CONFLICT DO NOTHING",
}


def _insert_new(
    db: Database, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> int:
    """Insert the *rows* of *table* that *db* does not hold yet, in one transaction; how
    many were new. A job already held takes the details and saved paths it lacked."""
    count = f"SELECT COUNT(*) FROM {table}"  # noqa: S608 - lumen's own table names
    with db.transaction():
        before = int(db.execute(count).fetchone()[0])
        db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608
            f" VALUES ({', '.join('?' * len(columns))}) {_ON_CONFLICT.get(table, '')}",
            rows,
        )
        added = int(db.execute(count).fetchone()[0]) - before
        if table == "jobs":
            _merge_paths(db, {row[0]: row[columns.index("paths")] for row in rows})
    return added


def _merge_paths(db: Database, paths: dict[str, str]) -> None:
    """Add to each job of *paths* (id -> JSON list) the saved paths it does not list yet."""
    wanted = {job_id: _json(text, list) or [] for job_id, text in paths.items()}
    wanted = {job_id: more for job_id, more in wanted.items() if more}
    if not wanted:
        return
    ids = list(wanted)
    rows = db.execute(
        db.locking(f"SELECT id, paths FROM jobs WHERE id IN ({','.join('?' * len(ids))})"),  # noqa: S608
        ids,
    ).fetchall()
    updates = []
    for job_id, text in rows:
        known = _json(text, list) or []
        merged = known + [path for path in wanted[job_id] if path not in known]
        if merged != known:
            updates.append((json.dumps(merged), job_id))
    if updates:
        db.executemany("UPDATE jobs SET paths=? WHERE id=?", updates)


def _record(row: Any) -> JobRecord:
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
        host=_text(row["host"]),
        user=_text(row["user_name"]),
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


def _batch_line(row: Any) -> BatchLine:
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
        host=_text(row["host"]),
        user=_text(row["user_name"]),
    )


class Glance:
    """The history read-only, for answers that must come at once and change nothing (shell
    completion): no schema work, no write, no wait for a lock; a file that is missing, busy
    or unreadable answers nothing. *path* None stands for a shared history, which answers
    nothing either: a shell waits on no network.
    """

    def __init__(self, path: Path | None, *, limit: int = 200) -> None:
        self.path = path
        self.limit = limit

    def jobs(
        self, prefix: str = "", *, first: tuple[str, ...] = (), only: tuple[str, ...] = ()
    ) -> list[tuple[str, str, str]]:
        """``(id, status, prompt)`` of jobs whose id starts with *prefix*: those in a status
        of *first* first, then newest first; only statuses in *only* when given. Submits
        that never got an id are left out."""
        # Read newest first along the creation index, stopping at the limit: the id is
        # compared, not ranged over, because a prefix such as "v" matches every job.
        base: list[Any] = [len(prefix), prefix, LOCAL_ID_PREFIX + "%"]
        queries = []
        for statuses in ([first] if first else []) + [only]:
            sql = "SELECT id, status, prompt FROM jobs WHERE substr(id, 1, ?) = ? AND id NOT LIKE ?"
            if statuses:
                sql += f" AND status IN ({','.join('?' * len(statuses))})"
            sql += " ORDER BY created_at DESC LIMIT ?"
            queries.append((sql, (*base, *statuses, self.limit)))
        found: dict[str, tuple[str, str, str]] = {}
        for row in self._rows(*queries):
            found.setdefault(str(row[0]), (str(row[0]), _text(row[1]) or "", _text(row[2]) or ""))
        return list(found.values())[: self.limit]

    def batches(self, prefix: str = "") -> list[str]:
        """Batch names starting with *prefix*, most recently run first."""
        rows = self._rows(
            (
                "SELECT name FROM batches WHERE name >= ? AND name < ?"
                " GROUP BY name ORDER BY MAX(updated_at) DESC LIMIT ?",
                (prefix, prefix + "\U0010ffff", self.limit),
            )
        )
        return [str(row[0]) for row in rows]

    def models(self) -> list[str]:
        """The models of the history's jobs, most recently used first."""
        rows = self._rows(
            (
                "SELECT model FROM jobs WHERE model IS NOT NULL"
                " GROUP BY model ORDER BY MAX(created_at) DESC LIMIT ?",
                (self.limit,),
            )
        )
        return [str(row[0]) for row in rows]

    def _rows(self, *queries: tuple[str, tuple[Any, ...]]) -> list[Any]:
        """The rows of every query, in order, on one read-only connection."""
        import sqlite3
        from urllib.parse import quote

        if self.path is None or not self.path.is_file():
            return []
        try:
            # Read-only, and no waiting: a shell is waiting for the answer.
            conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=0.1)
            try:
                return [row for sql, params in queries for row in conn.execute(sql, params)]
            finally:
                conn.close()
        except sqlite3.Error:
            return []
