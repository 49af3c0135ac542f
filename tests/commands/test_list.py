"""``lumen list``: filters, plain output, --refresh."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import CLI


def test_list_command_filters_and_plain_output(cli: CLI) -> None:
    first = cli("submit", "a cat", "-q").stdout.strip()
    cli("submit", "a dog", "-q", "-m", "veo-3-1")
    lines = cli("list").stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].split("\t")[:3] == [first, "queued", "seedance-2"]
    assert len(cli("list", "--model", "veo-3-1").stdout.splitlines()) == 1
    assert cli("list", "--limit", "1", "--json").stdout.count('"id"') == 1
    assert json.loads(cli("list", "--since", "1h", "--json").stdout)[1]["id"] == first
    assert json.loads(cli("list", "--since", "2999-01-01", "--json").stdout) == []
    assert cli("list", "--since", "yesterday").code == 2
    assert cli("list", "--status", "nope").code == 2


def test_list_refresh_asks_the_api(cli: CLI) -> None:
    job_id = cli("submit", "a cat", "-q").stdout.strip()
    time.sleep(0.4)  # the sandbox finishes jobs after 0.3 s
    assert json.loads(cli("list", "--json").stdout)[0]["status"] == "queued"
    refreshed = json.loads(cli("list", "--refresh", "--json").stdout)[0]
    assert refreshed["id"] == job_id
    assert refreshed["status"] == "succeeded"


def test_mine_and_host_narrow_a_shared_history(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    from lumen_cli.history import History

    monkeypatch.setenv("LUMEN_HISTORY_URL", postgres_url)
    monkeypatch.setenv("LUMEN_HOST_NAME", "laptop")
    monkeypatch.setenv("USER", "ana")
    monkeypatch.setenv("LOGNAME", "ana")
    mine = json.loads(cli("submit", "mine", "--json").stdout)["id"]
    other = History(postgres_url, host="render-1", user="ci")
    theirs = other.record_submitting(profile="default", base_url="u", request={}, mode="t")
    everyone = json.loads(cli("list", "--json").stdout)
    assert [job["id"] for job in everyone] == [theirs, mine]
    assert {(job["host"], job["user"]) for job in everyone} == {
        ("laptop", "ana"),
        ("render-1", "ci"),
    }
    assert [job["id"] for job in json.loads(cli("list", "--mine", "--json").stdout)] == [mine]
    hosted = cli("list", "--host", "render-1", "--json")
    assert [job["id"] for job in json.loads(hosted.stdout)] == [theirs]
    none = cli("list", "--mine", "--host", "render-1")
    assert none.code == 0
    assert "no jobs match" in none.stderr
