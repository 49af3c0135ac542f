"""Settings precedence, the config file's safety, and the ``config`` commands."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lumen_cli.config import ConfigFile, Settings, mask
from lumen_cli.errors import ConfigError
from tests.conftest import CLI


def _settings(path: Path, env: dict[str, str], **kwargs: object) -> Settings:
    return Settings(ConfigFile(path), env=env, **kwargs)  # type: ignore[arg-type]


def test_precedence_flag_env_profile_default(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    ConfigFile(path).update("default", "model", "from-profile")
    assert _settings(path, {}).get("model").value == "from-profile"
    assert _settings(path, {}).get("model").source == "profile default"
    env = {"LUMEN_MODEL": "from-env"}
    assert _settings(path, env).get("model").value == "from-env"
    assert _settings(path, env).get("model", "from-flag").source == "flag"
    assert _settings(path, {}).get("resolution").value is None
    assert _settings(path, {}).get("base_url").source == "default"


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    ConfigFile(path).update("default", "model", "from-profile")
    assert _settings(path, {"LUMEN_MODEL": ""}).value("model") == "from-profile"


def test_profiles(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    file = ConfigFile(path)
    file.update("work", "model", "veo-3-1")
    file.update("default", "model", "seedance-2-fast")
    assert _settings(path, {}).value("model") == "seedance-2-fast"
    assert _settings(path, {"LUMEN_PROFILE": "work"}).value("model") == "veo-3-1"
    assert _settings(path, {}, profile_flag="work").value("model") == "veo-3-1"
    file.set_default_profile("work")
    assert _settings(path, {}).profile == "work"


def test_typed_values_from_env_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert _settings(path, {"LUMEN_DURATION": "6"}).value("duration") == 6
    assert _settings(path, {"LUMEN_GENERATE_AUDIO": "no"}).value("generate_audio") is False
    with pytest.raises(ConfigError, match="LUMEN_DURATION"):
        _settings(path, {"LUMEN_DURATION": "six"}).value("duration")


def test_file_is_private_and_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "lumen" / "config.toml"
    ConfigFile(path).update("default", "api_key", "sk-lumen-secret-1234567890")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_broken_toml_is_a_clear_error(cli: CLI, home: Path) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("model = [unclosed\n")
    run = cli("config", "list")
    assert run.code == 2
    assert "not valid TOML" in run.stderr


def test_mask_never_shows_a_usable_secret() -> None:
    key = "sk-lumen-abcdefghijklmnopqrstuvwxyz"
    shown = mask(key)
    assert shown.startswith("sk-lumen-")
    assert shown.endswith("wxyz")
    assert "mnop" not in shown
    assert mask("short") == "*****"


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
