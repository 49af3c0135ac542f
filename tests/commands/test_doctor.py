"""``lumen doctor``: one line per check, skips that say so, hints once, the worst exit code."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CLI


def test_a_healthy_set_up_is_all_ok(cli: CLI) -> None:
    run = cli("doctor")
    assert run.code == 0, run.stderr
    rows = [line.split("\t") for line in run.stdout.splitlines()]  # piped: tab-separated
    assert [(state, name) for state, name, _ in rows] == [
        ("ok", "lumen"), ("ok", "config"), ("ok", "key"), ("ok", "api"), ("ok", "history"),
    ]  # fmt: skip
    assert rows[-1][2].endswith("(0 jobs)")
    cli("submit", "a cat", "-q")
    assert cli("doctor").stdout.splitlines()[-1].endswith("(1 job)")


def test_no_key_fails_the_key_skips_the_api_and_hints_once(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUMEN_API_KEY")
    run = cli("doctor")
    assert run.code == 3
    states = {line.split("\t")[1]: line.split("\t")[0] for line in run.stdout.splitlines()}
    assert (states["key"], states["api"]) == ("fail", "skip")
    assert run.stderr.count("hint: ") == 1
    checks = json.loads(cli("doctor", "--json").stdout)
    assert {check["name"]: check["state"] for check in checks}["api"] == "skip"


def test_a_shared_history_is_named_without_its_password(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    from tests.support import POSTGRES_PASSWORD, free_port

    monkeypatch.setenv("LUMEN_HISTORY_URL", postgres_url)
    cli("submit", "a cat", "-q")
    history = cli("doctor").stdout.splitlines()[-1].split("\t")
    assert history[:2] == ["ok", "history"]
    assert history[2].startswith("postgresql://postgres:***@127.0.0.1:")
    assert history[2].endswith("(shared, 1 job)")
    down = postgres_url.rsplit(":", 1)[0] + f":{free_port()}/postgres"
    monkeypatch.setenv("LUMEN_HISTORY_URL", down)
    run = cli("doctor")
    assert run.code == 6
    assert run.stdout.splitlines()[-1].startswith("fail\thistory\tcannot reach the shared history")
    assert POSTGRES_PASSWORD not in run.stdout + run.stderr
