"""The history's database: the local SQLite file, or a PostgreSQL server a team shares.

``history.py`` writes every query once, in the SQL both databases speak (``ON CONFLICT``
upserts, ``?`` placeholders, a ``rowid`` to break ties); a :class:`Database` runs it on its
own engine and turns the engine's errors into lumen's. What differs lives here and nowhere
else:

- **placeholders**: ``?`` becomes ``%s`` for psycopg (and a literal ``%`` becomes ``%%``);
- **transactions**: SQLite's ``BEGIN IMMEDIATE`` takes the whole file; PostgreSQL's
  ``BEGIN`` takes nothing, so a query that reads rows it is about to change goes through
  :meth:`Database.locking`, and :meth:`Database.lock` serialises work on a name (the
  schema, one batch) for the rest of the transaction; a transaction whose statements need
  no answer from each other goes to the server in one round trip (``pipeline``);
- **schema**: PostgreSQL tables get a ``rowid`` column (SQLite's own, made explicit) and
  PostgreSQL's types (:func:`postgres_ddl`);
- **runners**: a process that sends a batch on PostgreSQL holds a session lock on its runner
  number for as long as its connection lives, so another machine can tell a claim that is
  in flight from one whose process died (:meth:`Database.runner_alive`);
- **errors**: busy (try again), unusable (a file or schema that is not a lumen history),
  unreachable (the server is down or refused us: exit 6, nothing was sent).

psycopg (version 3) is imported only when a ``postgresql://`` URL is used; without it the
error names the extra to install. The password of a URL is never shown: every message
names the server through :func:`lumen_cli.net.hide_password`.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lumen_cli.errors import HistoryBusy, HistoryError, HistoryUnreachable
from lumen_cli.net import hide_password, is_postgres_url

if TYPE_CHECKING:
    import sqlite3

    import psycopg

BUSY_TIMEOUT_SECONDS = 30.0
BATCH_CHECKPOINT_PAGES = 10_000  # see History.expect_many_writes
SQLITE_FILES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside the database
POSTGRES_EXTRA = "pip install 'lumen-cli[postgres]'"
CONNECT_TIMEOUT_SECONDS = 10
# Advisory lock keys are 64-bit: lumen's names hash below this number, runners take random
# numbers above it (runner_key); nothing else on a shared server is likely to pick them.
_LOCK_SPACE = 1 << 62


class Cursor(Protocol):
    """What a query gives back, on either engine."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database:
    """One connection to the history's database, opened on first use.

    Not thread-safe by itself: ``History`` serialises its threads around every use.
    """

    shared = False  # several machines may use it at once
    _for_update = ""

    def __init__(self, where: str) -> None:
        self.where = where  # for messages: a path, or a URL without its password

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self, *, pipeline: bool = False) -> Iterator[None]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        *pipeline*: the block reads no result before it ends, so a server may be sent all
        its statements at once (one round trip instead of one per statement); results are
        there once the block has ended.
        """
        try:
            with self._pipeline() if pipeline else contextlib.nullcontext():
                self.execute(self._begin)
                yield
                self.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                self.execute("ROLLBACK")  # (none may be open any more: harmless)
            raise

    _begin = "BEGIN"

    def _pipeline(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def locking(self, select: str) -> str:
        """*select*, made to lock the rows it reads until the transaction ends (on SQLite
        the transaction already holds the whole file)."""
        return select + self._for_update

    def lock(self, name: str) -> None:
        """Hold the lock called *name* until the transaction ends (other holders wait)."""

    def tables(self) -> set[str]:
        raise NotImplementedError

    def ddl(self, sql: str) -> str:
        """*sql*, written for SQLite, as this engine creates it."""
        return sql

    def runner_alive(self, runner: str) -> bool:
        """Whether the process that recorded claims as *runner* may still be sending them.

        A local file has one process per batch (``History.lock_batch``): whoever opens a
        batch finds every other runner of it gone.
        """
        return False

    def hold_runner(self, runner: str) -> None:
        """Show this process as alive under *runner* for as long as the connection lasts."""

    def release_runner(self, runner: str) -> None:
        """This process no longer sends under *runner*."""

    def expect_many_writes(self) -> None:
        """A batch is about to write often (a hint; see ``History.expect_many_writes``)."""

    def close(self) -> None:
        raise NotImplementedError

    def translate(self, exc: BaseException) -> HistoryError | None:
        """The lumen error for an engine's exception, or None when it is not the engine's."""
        raise NotImplementedError

    def unusable(self, reason: str) -> HistoryError:
        raise NotImplementedError


def open_database(location: Path | str) -> Database:
    """The database at *location*: a ``postgresql://`` URL, or the path of a SQLite file."""
    if isinstance(location, str) and is_postgres_url(location):
        return PostgresDatabase(location)
    return SQLiteDatabase(Path(location))


# -- SQLite ------------------------------------------------------------------------------------


class SQLiteDatabase(Database):
    """The local file: WAL mode and a busy timeout let parallel processes share it."""

    _begin = "BEGIN IMMEDIATE"  # the write lock at once: no upgrade dead-lock

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection:
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
            raise self.unusable(f"{exc.filename} is a symlink") from None
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,  # History serialises its threads
        )
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.connection().execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.connection().executemany(sql, rows)

    def tables(self) -> set[str]:
        rows = self.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        return {str(row[0]) for row in rows}

    def expect_many_writes(self) -> None:
        self.execute(f"PRAGMA wal_autocheckpoint={BATCH_CHECKPOINT_PAGES}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def translate(self, exc: BaseException) -> HistoryError | None:
        import sqlite3

        if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)
        ):
            return HistoryBusy(
                f"the history file {self.where} is busy ({exc}): another lumen "
                "process held it too long",
                hint="Try again; if it stays busy, look for a stuck lumen process.",
            )
        if isinstance(exc, sqlite3.DatabaseError):
            return self.unusable(str(exc))
        return None

    def unusable(self, reason: str) -> HistoryError:
        return HistoryError(
            f"the history file {self.where} is unusable ({reason})",
            hint="Move it aside (lumen starts a new one) or restore it from a backup.",
        )


# -- PostgreSQL --------------------------------------------------------------------------------

# SQLSTATE classes and codes that mean "someone else held what we needed: try again".
_BUSY_STATES = ("40", "55P03", "57014")  # rollback (dead-lock, serialisation), lock, timeout


def postgres_ddl(sql: str) -> str:
    """SQLite DDL as PostgreSQL creates it: floating point and 64-bit integer columns, and
    each new table's ``rowid`` (which SQLite has without asking) as an identity column, so
    that queries ordering on ``rowid`` read the same on both."""
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    return re.sub(
        r"(CREATE TABLE (?:IF NOT EXISTS )?\w+ \()",
        r"\1\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY,",
        sql,
    )


@functools.lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """*sql* with psycopg's placeholders: ``?`` outside quotes becomes ``%s``, ``%`` ``%%``."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        if char == "%":
            out.append("%%")
            continue
        out.append(char)
    return "".join(out)


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key of a lumen lock called *name*."""
    import hashlib

    digest = hashlib.sha256(f"lumen:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _LOCK_SPACE


def runner_key() -> str:
    """A new runner number (see :meth:`Database.hold_runner`), as text."""
    import secrets

    return str(_LOCK_SPACE + secrets.randbelow(_LOCK_SPACE))


class _Row(tuple[Any, ...]):
    """A row readable by position and by column name, as ``sqlite3.Row`` is."""

    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


@functools.lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> type[_Row]:
    return type("Row", (_Row,), {"names": {name: i for i, name in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    """psycopg's rows as :class:`_Row`."""
    return _row_type(tuple(column.name for column in cursor.description or ()))


class PostgresDatabase(Database):
    """A PostgreSQL database shared by a team's machines, through psycopg 3.

    Autocommit, with explicit ``BEGIN``/``COMMIT`` as on SQLite. Credentials come from the
    URL, ``~/.pgpass`` or the ``PG*`` variables, as libpq finds them.
    """

    shared = True
    _for_update = " FOR UPDATE"

    def __init__(self, url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        super().__init__(hide_password(url))
        self.url = url
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._runner: str | None = None

    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        psycopg = import_psycopg()
        from psycopg.conninfo import conninfo_to_dict

        try:
            given = conninfo_to_dict(self.url)
        except psycopg.ProgrammingError as exc:
            raise self.unusable(f"the URL is not one libpq reads: {self._clean(exc)}") from None
        # Locks held too long give "busy" (as SQLite's busy timeout does); a server that
        # vanishes is noticed within a minute (TCP keepalives), not at the next request.
        options = f"{given.get('options', '')} -c lock_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}"
        settings: dict[str, Any] = {
            "connect_timeout": int(self.connect_timeout),
            "application_name": "lumen",
            "keepalives": 1,
            "keepalives_idle": 20,
            "keepalives_interval": 5,
            "keepalives_count": 4,
        }
        settings = {**settings, **given, "options": options.strip()}
        try:
            conn = psycopg.connect(autocommit=True, row_factory=_row_factory, **settings)
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None
        self._conn = conn
        if self._runner is not None:
            self._take_runner(self._runner)
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor: Cursor = self.connection().execute(postgres_sql(sql), tuple(params))
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.connection().cursor() as cursor:
            cursor.executemany(postgres_sql(sql), [tuple(row) for row in rows])

    def _pipeline(self) -> contextlib.AbstractContextManager[object]:
        return self.connection().pipeline()

    def lock(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(name),))

    def tables(self) -> set[str]:
        rows = self.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        return {str(row[0]) for row in rows}

    def ddl(self, sql: str) -> str:
        return postgres_ddl(sql)

    def hold_runner(self, runner: str) -> None:
        if self._runner != runner:
            self._runner = runner
            self._take_runner(runner)

    def release_runner(self, runner: str) -> None:
        if self._runner == runner:
            self._runner = None
            if self._conn is not None and not self._conn.closed:
                self.execute("SELECT pg_advisory_unlock(?)", (int(runner),))

    def _take_runner(self, runner: str) -> None:
        # Waits while another process is looking at whether this runner is dead (briefly).
        self.execute("SELECT pg_advisory_lock(?)", (int(runner),))

    def runner_alive(self, runner: str) -> bool:
        if runner == self._runner:
            return True
        try:
            key = int(runner)
        except ValueError:
            return False
        taken = self.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()
        if taken is None or not taken[0]:
            return True  # its process holds it: alive
        self.execute("SELECT pg_advisory_unlock(?)", (key,))
        return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def translate(self, exc: BaseException) -> HistoryError | None:
        psycopg = import_psycopg()
        if not isinstance(exc, psycopg.Error):
            return None
        state = exc.sqlstate or ""
        if state and (state[:2] in _BUSY_STATES or state in _BUSY_STATES):
            return HistoryBusy(
                f"the shared history at {self.where} is busy ({self._clean(exc)})",
                hint="Try again; if it stays busy, look for a stuck lumen process "
                "(pg_stat_activity shows them as application 'lumen').",
            )
        broken = self._conn is None or self._conn.closed or self._conn.broken
        if isinstance(exc, psycopg.OperationalError) and (broken or not state):
            self.close()  # the next use connects again
            return self._unreachable(exc)
        return self.unusable(self._clean(exc))

    def unusable(self, reason: str) -> HistoryError:
        return HistoryError(
            f"the shared history at {self.where} is unusable ({reason})",
            hint="Check history_url: it must name a database (or a schema, with "
            "?options=-csearch_path%3DNAME) that holds lumen's tables or none.",
        )

    def _unreachable(self, exc: BaseException) -> HistoryUnreachable:
        return HistoryUnreachable(
            f"cannot reach the shared history at {self.where}: {self._clean(exc)}",
            hint="Check that the server is up and history_url is right (user and password "
            "come from the URL, ~/.pgpass or PGPASSWORD); `lumen config unset history_url` "
            "goes back to the local file.",
        )

    def _clean(self, exc: BaseException) -> str:
        """The engine's message on one line, without the password should it quote it."""
        text = " ".join(str(exc).split())
        password = _password_of(self.url)
        if password:
            text = text.replace(password, "***")
        return text.removeprefix("connection failed: ")


def _password_of(url: str) -> str | None:
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return None
    if password:
        return unquote(password)
    values = parse_qs(parts.query).get("password")
    return values[0] if values else None


def import_psycopg() -> Any:
    """psycopg 3, or ``HistoryError`` naming the extra that installs it."""
    try:
        import psycopg
    except ImportError:
        raise HistoryError(
            "history_url names a PostgreSQL server, but psycopg (version 3) is not installed",
            hint=f"Install it with `{POSTGRES_EXTRA}` (or `pip install 'psycopg[binary]'` "
            "in lumen's environment), or unset history_url to use the local file.",
        ) from None
    return psycopg
