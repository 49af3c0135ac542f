"""``lumen auth``: login from stdin, status against the API, logout."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from lumen_cli.config import SANDBOX_KEY
from tests.conftest import CLI
from tests.support import Receiver

GOOD = "sk-lumen-good-0123456789abcdef"


@pytest.fixture
def no_env_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMEN_API_KEY")


@pytest.mark.usefixtures("no_env_key")
def test_login_status_logout(cli: CLI, home: Path) -> None:
    run = cli("auth", "login", input=GOOD + "\n")
    assert run.code == 0, run.stderr
    assert GOOD not in run.stderr + run.stdout
    config = home / "config" / "config.toml"
    assert GOOD in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    status = cli("auth", "status", "--json")
    assert status.code == 0
    report = json.loads(status.stdout)
    assert report["accepted"] is True
    assert report["source"] == "profile default"
    assert GOOD not in status.stdout

    assert cli("auth", "logout").code == 0
    assert GOOD not in config.read_text()
    after = cli("auth", "status")
    assert after.code == 3
    assert "auth login" in after.stderr


@pytest.mark.usefixtures("no_env_key")
def test_login_refuses_a_rejected_key(cli: CLI, home: Path) -> None:
    run = cli("auth", "login", input="sk-lumen-revoked\n")
    assert run.code == 3
    assert not (home / "config" / "config.toml").exists()


@pytest.mark.usefixtures("no_env_key")
def test_login_refuses_something_that_is_not_a_key(cli: CLI) -> None:
    run = cli("auth", "login", input="hunter2\n")
    assert run.code == 2
    assert "sk-lumen-" in run.stderr
    assert "hunter2" not in run.stderr


def test_status_of_a_revoked_key_from_env(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", "sk-lumen-revoked")
    run = cli("auth", "status")
    assert run.code == 3
    assert "from env" in run.stdout
    assert "rejected" in run.stdout


def test_sandbox_needs_no_key(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMEN_API_KEY")
    run = cli("--sandbox", "auth", "status", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["source"] == "sandbox"


@pytest.mark.usefixtures("no_env_key")
def test_login_saves_with_a_warning_when_the_api_is_unreachable(
    cli: CLI, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_BASE_URL", "http://127.0.0.1:9")
    run = cli("auth", "login", input=GOOD + "\n")
    assert run.code == 0
    assert "could not check the key" in run.stderr
    assert sum(run.clock.sleeps) <= 10.0
    assert GOOD in (home / "config" / "config.toml").read_text()


@pytest.mark.usefixtures("no_env_key")
@pytest.mark.parametrize("verb", ["login", "logout"])
def test_sandbox_never_writes_the_real_profiles_key(cli: CLI, home: Path, verb: str) -> None:
    assert cli("auth", "login", "--no-verify", input=GOOD + "\n").code == 0
    config = home / "config" / "config.toml"
    before = config.read_text()
    run = cli("--sandbox", "auth", verb, input="sk-lumen-made-up-key-123456\n")
    assert run.code == 2
    assert "the sandbox needs no key" in run.stderr
    assert config.read_text() == before  # the real key stays, nothing made up is added


def test_sandbox_never_reads_or_sends_the_real_key(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = "sk-lumen-real-and-billed-0123456789"
    monkeypatch.setenv("LUMEN_API_KEY", real)
    status = cli("--sandbox", "auth", "status", "--json")  # against the test sandbox
    with Receiver() as fake_sandbox:
        monkeypatch.setenv("LUMEN_SANDBOX_URL", fake_sandbox.server.url)
        run = cli("--sandbox", "status", "v1")
    assert run.code == 6  # the fake answers {"ok": true}, which is no job
    sent = {call.headers["Authorization"] for call in fake_sandbox.received}
    assert sent == {f"Bearer {SANDBOX_KEY}"}
    assert json.loads(status.stdout)["source"] == "sandbox"
    assert real not in run.stdout + run.stderr + status.stdout + status.stderr
