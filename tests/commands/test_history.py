"""``lumen history migrate``: a local history copied into a shared one, once, whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lumen_cli.api.models import Job
from lumen_cli.history import History
from tests.conftest import CLI
from tests.support import POSTGRES_PASSWORD


def test_migrate_copies_jobs_batches_and_paths_once(
    cli: CLI, home: Path, work: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "shots.txt").write_text("a cat\na dog\n")
    assert cli("batch", "shots.txt").code == 0
    single = cli("submit", "a fox", "-q").stdout.strip()
    local = History(home / "data" / "history.sqlite3")
    local.add_paths(single, ["/clips/fox.mp4"])
    before = {record.id: record for record in local.list()}
    # The shared history knows one of these jobs already (a webhook on the server saw it),
    # without the path it was saved to.
    shared = History(postgres_url, host="server")
    shared.update_from_api(
        Job.from_api({"id": single, "status": "succeeded"}), profile="default", base_url="u"
    )

    run = cli("history", "migrate", "--to", postgres_url, "--json")
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["jobs"] == {"copied": 2, "present": 1}
    assert report["batches"] == {"copied": 1, "present": 0}
    assert report["lines"] == {"copied": 2, "present": 0}
    assert POSTGRES_PASSWORD not in run.stdout + run.stderr
    after = {record.id: record for record in shared.list()}
    assert set(after) == set(before)
    for job_id, record in before.items():
        copied = after[job_id]
        assert (copied.prompt, copied.local_id, copied.request) == (
            record.prompt, record.local_id, record.request,
        )  # fmt: skip
        if job_id != single:
            assert (copied.created_at, copied.status) == (record.created_at, record.status)
    assert after[single].paths == ["/clips/fox.mp4"]  # merged into what the server had
    assert after[single].status == "succeeded"  # the server's news stays
    assert {record.host for record in after.values()} != {None}
    assert [line.status for line in shared.batch_lines("default", "shots")] == ["queued"] * 2

    again = cli("history", "migrate", "--to", postgres_url)
    assert again.code == 0
    assert "copied 0 jobs (3 already there), 0 batches (1 already there)" in again.stderr
    assert len(shared.list()) == 3
    monkeypatch.setenv("LUMEN_HISTORY_URL", postgres_url)  # and every command sees them
    listed = json.loads(cli("list", "--json").stdout)
    assert sorted(job["id"] for job in listed) == sorted(before)


def test_migrate_needs_a_shared_history_and_a_local_one(cli: CLI, home: Path) -> None:
    nowhere = cli("history", "migrate")
    assert nowhere.code == 2
    assert "--to" in nowhere.stderr
    wrong = cli("history", "migrate", "--to", "mysql://db.example/lumen")
    assert wrong.code == 2
    assert "postgresql://" in wrong.stderr
    missing = cli("history", "migrate", "--to", "postgresql://db.example/lumen")
    assert missing.code == 2
    assert "no local history" in missing.stderr
