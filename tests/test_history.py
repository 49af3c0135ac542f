"""The local job history: the submit life cycle, filters, bad files, parallel writers."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from lumen_cli.api.models import Job
from lumen_cli.errors import HistoryError
from lumen_cli.history import SUBMITTING, UNKNOWN, History
from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import fork_lumen


def _job(job_id: str, status: str = "queued", **raw: object) -> Job:
    return Job.from_api({"id": job_id, "status": status, **raw})


def test_submit_lifecycle(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
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


def test_unknown_and_forget(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    kept = history.record_submitting(profile="p", base_url="u", request={}, mode="m")
    dropped = history.record_submitting(profile="p", base_url="u", request={}, mode="m")
    history.mark_unknown(kept, "connection dropped")
    history.forget(dropped)
    history.forget(kept)  # forget never drops a job whose outcome is unknown
    assert [r.id for r in history.list()] == [kept]
    assert history.list()[0].status == UNKNOWN


def test_unknown_job_from_api_is_added(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    history.update_from_api(
        _job("v9", "processing", prompt="from elsewhere"), profile="p", base_url="u"
    )
    record = history.get("v9")
    assert record is not None
    assert record.prompt == "from elsewhere"


def test_list_filters_newest_first(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
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
