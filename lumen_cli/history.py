"""The local job history: one SQLite file that parallel ``lumen`` processes share safely.

WAL mode and a busy timeout let readers and writers overlap; every write is one short
transaction, so twenty processes submitting at once lose and tear nothing. A submit is
recorded *before* its request is sent, under a local id, so a job whose outcome is
unknown is never lost.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lumen_cli.errors import HistoryBusy, HistoryError

LAST_PLAUSIBLE_TIME = 4_102_444_800  # 2100-01-01, as api.models checks it

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

    from lumen_cli.api.models import Job

T = TypeVar("T")
SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 30.0
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
                (str(SCHEMA_VERSION),),
            )
            app = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if app is None or app[0] != "lumen":
            raise self._unusable("not a lumen history")

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
    ) -> list[JobRecord]:
        """Records, newest first, filtered on whatever is given."""
        clauses: list[str] = []
        params: list[Any] = []
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
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_record(row) for row in self._read(sql, tuple(params))]


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
