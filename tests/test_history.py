"""The local job history: the submit life cycle, filters, bad files, parallel writers."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lumen_cli.api.models import Job
from lumen_cli.errors import BatchBusy, HistoryError, HistoryUnreachable
from lumen_cli.history import (
    LOCAL_ID_PREFIX,
    SCHEMA_VERSION,
    SUBMITTING,
    UNKNOWN,
    History,
    job_query,
)
from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import fork_lumen


def _job(job_id: str, status: str = "queued", **raw: object) -> Job:
    return Job.from_api({"id": job_id, "status": status, **raw})


def test_submit_lifecycle(history_at: Path | str) -> None:
    history = History(history_at)
    request = {"model": "seedance-2", "prompt": "a cat"}
    local = history.record_submitting(
        profile="p", base_url="u", request=request, mode="text-to-video"
    )
    record = history.get(local)
    assert record is not None
    assert record.status == SUBMITTING
    history.resolve_submitted(local, _job("v1", created=1_700_000_000))
    assert history.get(local) is None
    resolved = history.get("v1")
    assert resolved is not None
    assert resolved.prompt == "a cat"
    assert resolved.created_at == 1_700_000_000
    history.update_from_api(
        _job("v1", "succeeded", data=[{"url": "https://v/1.mp4"}]), profile="p", base_url="u"
    )
    history.add_paths("v1", ["/videos/a.mp4"])
    history.add_paths("v1", ["/videos/a.mp4", "/videos/b.mp4"])
    final = history.get("v1")
    assert final is not None
    assert final.status == "succeeded"
    assert final.urls == ["https://v/1.mp4"]
    assert final.paths == ["/videos/a.mp4", "/videos/b.mp4"]


def test_unknown_and_forget(history_at: Path | str) -> None:
    history = History(history_at)
    kept = history.record_submitting(profile="p", base_url="u", request={}, mode="m")
    dropped = history.record_submitting(profile="p", base_url="u", request={}, mode="m")
    history.mark_unknown(kept, "connection dropped")
    history.forget(dropped)
    history.forget(kept)  # forget never drops a job whose outcome is unknown
    assert [r.id for r in history.list()] == [kept]
    assert history.list()[0].status == UNKNOWN


def test_unknown_job_from_api_is_added(history_at: Path | str) -> None:
    history = History(history_at)
    history.update_from_api(
        _job("v9", "processing", prompt="from elsewhere"), profile="p", base_url="u"
    )
    record = history.get("v9")
    assert record is not None
    assert record.prompt == "from elsewhere"


def test_list_filters_newest_first(history_at: Path | str) -> None:
    history = History(history_at)
    for index in range(5):
        status = "succeeded" if index % 2 else "failed"
        job = _job(f"v{index}", status, model="m", created=1000 + index)
        history.update_from_api(job, profile="p", base_url="u")
    assert [r.id for r in history.list()] == ["v4", "v3", "v2", "v1", "v0"]
    assert [r.id for r in history.list(status="succeeded")] == ["v3", "v1"]
    assert [r.id for r in history.list(limit=2)] == ["v4", "v3"]
    assert [r.id for r in history.list(since=1003)] == ["v4", "v3"]
    assert history.list(profile="other") == []


def test_corrupt_file_is_a_clear_error(cli: CLI, home: Path) -> None:
    path = home / "data" / "history.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, it is a text file\n" * 100)
    run = cli("list")
    assert run.code == 1
    assert "unusable" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(HistoryError, match="not a lumen history"):
        History(path).list()


def test_twenty_parallel_processes_lose_nothing(
    home: Path, sandbox: SandboxServer, cli: CLI
) -> None:
    """Twenty ``lumen submit`` processes at once: every record whole, none lost."""
    children = [
        fork_lumen(["submit", f"parallel cat {n}", "-q"], dict(os.environ), home / "runs")
        for n in range(20)
    ]
    ids = []
    for child in children:
        code, out, err = child.wait()
        assert code == 0, err
        ids.append(out.strip())
    records = json.loads(cli("list", "--json", "--limit", "100").stdout)
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert len(set(ids)) == 20
    assert sorted(r["prompt"] for r in records) == sorted(f"parallel cat {n}" for n in range(20))
    assert all(r["status"] == "queued" for r in records)


# -- schema 2: batches ------------------------------------------------------------------------

# What lumen 0.1 (schema 1) created, verbatim: a file from before batches existed.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, profile TEXT NOT NULL, base_url TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, status TEXT NOT NULL,
    model TEXT, prompt TEXT, mode TEXT, request TEXT NOT NULL DEFAULT '{}', error TEXT,
    urls TEXT NOT NULL DEFAULT '[]', paths TEXT NOT NULL DEFAULT '[]', local_id TEXT
);
CREATE INDEX jobs_created ON jobs (created_at);
INSERT INTO meta VALUES ('app', 'lumen'), ('schema', '1');
INSERT INTO jobs (id, profile, base_url, created_at, updated_at, status, prompt)
    VALUES ('vold', 'default', 'u', 1000, 1000, 'succeeded', 'from schema 1');
"""
LINES = [("k1", 1, None), ("k2", 2, "shot-2"), ("k3", 3, None)]


def _execute(history_at: Path | str, sql: str) -> list[tuple[object, ...]]:
    """Run *sql* on the history's database behind lumen's back."""
    if isinstance(history_at, Path):
        with sqlite3.connect(history_at) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(history_at, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _batch_history(history_at: Path | str) -> History:
    history = History(history_at)
    history.open_batch("p", "b", source="b.txt", base_url="u", lines=LINES)
    return history


def _claim(history: History, key: str, **flags: bool) -> str | None:
    request = {"model": "m", "prompt": key}
    return history.claim_line("p", "b", key, base_url="u", request=request, mode="t", **flags)


def test_a_schema_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    history = History(path)
    old = history.get("vold")
    assert old is not None
    assert old.prompt == "from schema 1"
    history.open_batch("p", "b", source=None, base_url="u", lines=LINES)
    assert [line.key for line in history.batch_lines("p", "b")] == ["k1", "k2", "k3"]
    history.close()
    with sqlite3.connect(path) as conn:
        schema = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert schema == (str(SCHEMA_VERSION),)
    assert {"batches", "batch_lines", "batch_lines_line", "jobs_local_id", "uploads"} <= tables
    assert {"jobs_profile_created", "jobs_status", "jobs_model"} <= tables
    again = History(path)  # opening a migrated file changes nothing
    assert len(again.batch_lines("p", "b")) == 3
    assert again.get("vold") is not None


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "jobs_profile_created"),
        ({"status": "succeeded"}, "jobs_status"),
        ({"status": "failed", "since": 0.0}, "jobs_status"),
        ({"model": "veo-3-1"}, "jobs_model"),
        ({"since": 0.0}, "jobs_profile_created"),
        ({"statuses": ("queued", "processing"), "limit": None}, "jobs_status"),  # wait --all
    ],
)
def test_list_reads_an_old_history_through_the_indexes_it_gained(
    tmp_path: Path, filters: dict[str, object], index: str
) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    History(path).counts()  # opened, so migrated
    arguments: dict[str, Any] = {"profile": "default", "limit": 20, **filters}
    sql, params = job_query(**arguments)
    with sqlite3.connect(path) as conn:
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert conn.execute(sql, params).fetchall() or filters  # the one old job, unfiltered
    assert f"USING INDEX {index} " in plan
    assert "SCAN" not in plan  # no walk through the whole history
    if "statuses" not in filters:
        assert "TEMP B-TREE" not in plan  # read in order: the first rows are the newest


def test_opening_a_big_history_reads_no_whole_table(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    History(path).counts()
    with sqlite3.connect(path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM jobs WHERE status=? AND updated_at<? LIMIT 1",
            (SUBMITTING, 0.0),
        ).fetchall()
    assert "USING INDEX jobs_status" in plan[0][3]  # the stale-submit check of every opening


def test_a_history_from_a_newer_lumen_is_refused(history_at: Path | str) -> None:
    History(history_at).list()
    _execute(history_at, "UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(HistoryError, match="newer lumen"):
        History(history_at).list()


def test_a_line_is_claimed_once_and_only_what_may_be_sent(history_at: Path | str) -> None:
    history = _batch_history(history_at)
    first = _claim(history, "k1")
    assert first is not None
    assert first.startswith(LOCAL_ID_PREFIX)
    assert _claim(history, "k1") is None  # in flight: nobody else sends it
    assert _claim(history, "missing") is None  # not a line of the batch
    history.resolve_submitted(first, _job("v1"))
    assert _claim(history, "k1", retry_failed=True, retry_unknown=True) is None  # accepted
    lines = {line.key: line for line in history.batch_lines("p", "b")}
    assert (lines["k1"].status, lines["k1"].job_id, lines["k1"].attempts) == ("queued", "v1", 1)
    assert lines["k2"].status == "pending"
    assert lines["k2"].custom_id == "shot-2"

    # Refused by the API: no job, no bill; it may be sent again.
    refused = _claim(history, "k2")
    assert refused is not None
    history.forget(refused)
    history.release_line("p", "b", "k2", error="content blocked", refused=True)
    line = history.batch_lines("p", "b")[1]
    assert (line.status, line.error, line.job_id) == ("refused", "content blocked", None)
    assert _claim(history, "k2") is not None


def test_failed_and_unknown_lines_are_sent_again_only_when_asked(history_at: Path | str) -> None:
    history = _batch_history(history_at)
    failed, unknown = _claim(history, "k1"), _claim(history, "k2")
    assert failed is not None
    assert unknown is not None
    history.resolve_submitted(failed, _job("v1"))
    history.update_from_api(_job("v1", "failed"), profile="p", base_url="u")
    history.mark_unknown(unknown, "connection dropped")
    assert _claim(history, "k1") is None
    assert _claim(history, "k2", retry_failed=True) is None
    again = _claim(history, "k1", retry_failed=True)
    assert again is not None
    assert again != failed
    assert _claim(history, "k2", retry_unknown=True) is not None
    lines = history.batch_lines("p", "b")
    assert [line.attempts for line in lines] == [2, 2, 0]
    assert history.get("v1") is not None  # the failed job stays in the history


def test_opening_a_batch_makes_submits_cut_off_by_a_crash_unknown(history_at: Path | str) -> None:
    history = _batch_history(history_at)
    in_flight = _claim(history, "k1")  # then the process is killed: it stays submitting
    assert in_flight is not None
    elsewhere = history.record_submitting(profile="p", base_url="u", request={}, mode="t")
    history.open_batch("p", "b", source="b.txt", base_url="u", lines=LINES)
    record = history.get(in_flight)
    assert record is not None
    assert record.status == UNKNOWN
    assert "in flight" in (record.error or "")
    assert history.batch_lines("p", "b")[0].status == UNKNOWN
    other = history.get(elsewhere)
    assert other is not None
    assert other.status == SUBMITTING  # another command's submit is not this batch's


def test_lines_keep_their_jobs_and_take_new_numbers_when_the_file_changes(
    history_at: Path | str,
) -> None:
    history = _batch_history(history_at)
    local = _claim(history, "k3")
    assert local is not None
    history.resolve_submitted(local, _job("v3"))
    history.open_batch(
        "p", "b", source="b.txt", base_url="u", lines=[("k3", 1, None), ("k4", 2, None)]
    )
    lines = {line.key: line for line in history.batch_lines("p", "b")}
    assert (lines["k3"].line, lines["k3"].job_id) == (1, "v3")
    assert lines["k4"].status == "pending"
    assert [r.id for r in history.list(batch="b")] == ["v3"]
    assert history.list(batch="other") == []


def test_jobs_are_known_by_their_batch(history_at: Path | str) -> None:
    history = _batch_history(history_at)
    first = _claim(history, "k1")
    assert first is not None
    history.resolve_submitted(first, _job("v1", "failed"))
    again = _claim(history, "k1", retry_failed=True)  # the line's latest submit wins
    assert again is not None
    history.resolve_submitted(again, _job("v2"))
    history.update_from_api(_job("v-alone"), profile="p", base_url="u")
    assert history.job_batches(profile="p") == {"v2": "b"}
    assert history.job_batches(profile="other") == {}


def test_batches_are_listed_with_counts_by_status(history_at: Path | str) -> None:
    history = _batch_history(history_at)
    local = _claim(history, "k1")
    assert local is not None
    history.resolve_submitted(local, _job("v1", "succeeded"))
    history.open_batch("p", "later", source=None, base_url="u", lines=[("x", 1, None)])
    history.open_batch("q", "other profile", source=None, base_url="u", lines=[("y", 1, None)])
    summaries = history.batches("p")
    assert [s.name for s in summaries] == ["later", "b"]
    assert summaries[1].counts == {"succeeded": 1, "pending": 2}
    assert summaries[1].lines == 3
    assert summaries[1].to_json()["source"] == "b.txt"


def test_a_batch_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    history = _batch_history(tmp_path / "h.sqlite3")
    with history.lock_batch("p", "b"):
        # A second open file description conflicts like another process would.
        with pytest.raises(BatchBusy, match=f"another lumen process \\(pid {os.getpid()}\\)"):
            with History(tmp_path / "h.sqlite3").lock_batch("p", "b"):
                pass
        with history.lock_batch("p", "another batch"):
            pass
    with History(tmp_path / "h.sqlite3").lock_batch("p", "b"):
        pass  # released with the block


# -- schema 3: who sent what; one history on PostgreSQL --------------------------------------


def test_records_say_which_machine_and_user_sent_them(history_at: Path | str) -> None:
    laptop = History(history_at, host="laptop", user="ana")
    render = History(history_at, host="render-1", user="ci")
    mine = laptop.record_submitting(profile="p", base_url="u", request={}, mode="t")
    theirs = render.record_submitting(profile="p", base_url="u", request={}, mode="t")
    laptop.update_from_api(_job("v-elsewhere"), profile="p", base_url="u")  # not sent by us
    record = render.get(mine)
    assert record is not None
    assert (record.host, record.user) == ("laptop", "ana")
    assert [r.id for r in render.list(user="ana")] == [mine]
    assert [r.id for r in laptop.list(host="render-1")] == [theirs]
    assert laptop.list(host="nowhere") == []
    elsewhere = laptop.get("v-elsewhere")
    assert elsewhere is not None
    assert (elsewhere.host, elsewhere.user) == (None, None)


def test_a_claim_loses_to_any_claim_made_since_the_line_was_read(history_at: Path | str) -> None:
    history = _batch_history(history_at)
    seen = {line.key: line.attempts for line in history.batch_lines("p", "b")}
    first = _claim(history, "k1")
    assert first is not None
    history.mark_unknown(first, "connection dropped")
    # Another machine's run read the line before that claim: it must not send it again,
    # even with --retry-unknown (what it read is no longer what the line is).
    request = {"model": "m", "prompt": "k1"}
    late = history.claim_line(
        "p",
        "b",
        "k1",
        base_url="u",
        request=request,
        mode="t",
        retry_unknown=True,
        attempts=seen["k1"],
    )
    assert late is None
    assert (
        history.claim_line(
            "p",
            "b",
            "k1",
            base_url="u",
            request=request,
            mode="t",
            retry_unknown=True,
            attempts=seen["k1"] + 1,
        )
        is not None
    )


def test_machines_claiming_the_same_lines_at_once_claim_each_once(history_at: Path | str) -> None:
    """Three histories (three machines' connections), four threads each, all claiming the
    same 60 lines in the same order: every line is claimed exactly once (by its row lock
    alone: no attempts to compare)."""
    import threading

    keys = [f"k{n}" for n in range(60)]
    opener = History(history_at)
    opener.open_batch(
        "p", "b", source=None, base_url="u", lines=[(k, n, None) for n, k in enumerate(keys)]
    )
    machines = [History(history_at, host=f"m{n}") for n in range(3)]
    claimed: list[tuple[str, str]] = []
    start = threading.Barrier(12)

    def sender(history: History) -> None:
        start.wait()
        for key in keys:
            local = history.claim_line(
                "p", "b", key, base_url="u", request={"prompt": key}, mode="t"
            )
            if local is not None:
                claimed.append((key, local))

    threads = [
        threading.Thread(target=sender, args=(machine,)) for machine in machines for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(key for key, _ in claimed) == sorted(keys)
    lines = opener.batch_lines("p", "b")
    assert {line.attempts for line in lines} == {1}
    assert len(opener.list(status=SUBMITTING)) == 60
    assert {line.host for line in lines} <= {"m0", "m1", "m2"}


def test_a_shared_batch_keeps_the_claims_of_runners_still_alive(postgres_url: str) -> None:
    """On PostgreSQL, opening a batch turns only the claims of dead runners unknown: those
    of another machine sending the batch now stay in flight."""
    history = _batch_history(postgres_url)
    alive, dead = History(postgres_url, host="alive"), History(postgres_url, host="dead")
    with alive.lock_batch("p", "b"):
        in_flight = _claim(alive, "k1")
        with dead.lock_batch("p", "b"):
            cut_off = _claim(dead, "k2")
        dead.close()  # its process ended (or its connection: the server drops its lock)
        with history.lock_batch("p", "b"):  # a third machine joins: nothing is busy
            history.open_batch("p", "b", source="b.txt", base_url="u", lines=LINES)
            statuses = {line.key: line.status for line in history.batch_lines("p", "b")}
    assert in_flight is not None
    assert cut_off is not None
    assert statuses == {"k1": SUBMITTING, "k2": UNKNOWN, "k3": "pending"}
    record = history.get(cut_off)
    assert record is not None
    assert record.error is not None
    assert "in flight" in record.error
    alive.close()  # now the first one's process ends too
    history.open_batch("p", "b", source="b.txt", base_url="u", lines=LINES)
    assert history.batch_lines("p", "b")[0].status == UNKNOWN


def test_two_machines_creating_the_shared_history_at_once(postgres_url: str) -> None:
    import threading

    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        start.wait()
        try:
            History(postgres_url).list()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _execute(postgres_url, "SELECT value FROM meta WHERE key='schema'") == [
        (str(SCHEMA_VERSION),)
    ]


def test_a_shared_history_at_an_older_schema_is_migrated(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps run on PostgreSQL with the numbers they have on SQLite."""
    monkeypatch.setattr("lumen_cli.history.SCHEMA_VERSION", 2)
    old = History(postgres_url)
    old.update_from_api(_job("v-old", "succeeded"), profile="p", base_url="u")
    old.close()
    monkeypatch.undo()
    columns = _execute(
        postgres_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name='jobs'"
        " AND table_schema=current_schema()",
    )
    assert ("host",) not in columns
    history = History(postgres_url, host="h")
    assert history.get("v-old") is not None
    local = history.record_submitting(profile="p", base_url="u", request={}, mode="t")
    record = history.get(local)
    assert record is not None
    assert record.host == "h"
    assert _execute(postgres_url, "SELECT value FROM meta WHERE key='schema'") == [
        (str(SCHEMA_VERSION),)
    ]


def test_a_database_holding_other_things_is_refused(postgres_url: str) -> None:
    _execute(postgres_url, "CREATE TABLE jobs (name TEXT)")
    with pytest.raises(HistoryError, match="not a lumen history"):
        History(postgres_url).list()


def test_a_server_that_cannot_be_reached_is_exit_6_and_never_shows_the_password(
    postgres: object,
) -> None:
    from tests.support import POSTGRES_PASSWORD, free_port

    url = f"postgresql://lumen:{POSTGRES_PASSWORD}@127.0.0.1:{free_port()}/team"
    with pytest.raises(HistoryUnreachable) as caught:
        History(url).list()
    assert caught.value.exit_code == 6
    assert POSTGRES_PASSWORD not in caught.value.message + (caught.value.hint or "")
    assert "postgresql://lumen:***@127.0.0.1" in caught.value.message


def test_without_psycopg_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(HistoryError, match="psycopg") as caught:
        History("postgresql://db.example/lumen").list()
    assert "lumen-cli[postgres]" in (caught.value.hint or "")


def test_a_history_created_elsewhere_while_this_one_looks_is_found(
    history_at: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between finding no version and looking for tables, another machine created it."""
    from lumen_cli.database import Database, PostgresDatabase, SQLiteDatabase

    engine: type[Database] = SQLiteDatabase if isinstance(history_at, Path) else PostgresDatabase
    original = engine.tables

    def tables(db: Database) -> set[str]:
        monkeypatch.setattr(engine, "tables", original)
        History(history_at).list()  # the other machine, just now
        return original(db)

    monkeypatch.setattr(engine, "tables", tables)
    assert History(history_at).list() == []
