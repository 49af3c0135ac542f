"""``lumen config`` as users run it: set/get/unset/list/path, secrets, help."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CLI


def test_config_set_get_unset_list_path(cli: CLI, home: Path) -> None:
    assert cli("config", "set", "model", "veo-3-1").code == 0
    assert cli("config", "get", "model").stdout.strip() == "veo-3-1"
    assert cli("config", "set", "duration", "nope").code == 2
    assert cli("config", "set", "generate_audio", "false").code == 0
    listed = json.loads(cli("config", "list", "--json").stdout)
    assert listed["settings"]["model"] == {"value": "veo-3-1", "source": "profile default"}
    assert listed["settings"]["generate_audio"]["value"] == "false"
    assert listed["settings"]["api_key"]["source"] == "env"
    assert "0123456789abcdef" not in json.dumps(listed)  # the key is masked
    assert cli("config", "unset", "model").code == 0
    unset = cli("config", "get", "model")
    assert unset.stdout.strip() == "seedance-2"  # back to the default
    assert cli("config", "get", "resolution").code == 1
    path = cli("config", "path").stdout.strip()
    assert path == str(home / "config" / "config.toml")
    assert cli("config", "get", "no_such_key").code == 2


def test_config_list_plain_text_shows_sources(cli: CLI) -> None:
    cli("config", "set", "model", "veo-3-1")
    lines = cli("config", "list").stdout.splitlines()
    assert "model\tveo-3-1\tprofile default" in lines


def test_api_key_is_never_taken_from_argv(cli: CLI) -> None:
    run = cli("config", "set", "api_key", "sk-lumen-on-the-command-line")
    assert run.code == 2
    assert "auth login" in run.stderr
    run = cli("config", "set", "webhook_secret", "on-the-command-line")
    assert run.code == 2


def test_secret_from_stdin_is_stored_and_masked(cli: CLI, home: Path) -> None:
    run = cli("config", "set", "webhook_secret", "-", input="whsec-0123456789abcdef\n")
    assert run.code == 0, run.stderr
    assert "whsec-0123456789abcdef" not in run.stderr + run.stdout
    assert "whsec-0123456789abcdef" in (home / "config" / "config.toml").read_text()
    assert "0123456789ab" not in cli("config", "get", "webhook_secret").stdout


def test_base_url_is_checked_when_set(cli: CLI) -> None:
    run = cli("config", "set", "base_url", "http://lumen.example.com")
    assert run.code == 2
    assert "plain http" in run.stderr


def test_default_profile(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("--profile", "work", "config", "set", "model", "veo-3-1").code == 0
    assert cli("config", "get", "model").stdout.strip() == "seedance-2"
    assert cli("config", "set", "default_profile", "work").code == 0
    assert cli("config", "get", "model").stdout.strip() == "veo-3-1"
    assert cli("config", "get", "default_profile").stdout.strip() == "work"


def test_loose_permissions_are_warned_about(cli: CLI, home: Path) -> None:
    cli("config", "set", "model", "veo-3-1")
    path = home / "config" / "config.toml"
    os.chmod(path, 0o644)
    assert "readable by others" in cli("config", "list").stderr


def test_config_help_lists_every_setting_and_its_variable(cli: CLI) -> None:
    from lumen_cli.config import KEYS

    text = cli("config", "--help").stdout
    for key in KEYS.values():
        assert key.env_var in text
