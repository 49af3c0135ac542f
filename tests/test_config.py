"""Settings: precedence, profiles, typed values, the private atomic file, masking."""

from __future__ import annotations

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
    assert mask("short") == "****"


@pytest.mark.parametrize(
    "secret",
    ["whsec-1234567", "sk-lumen-abcd", "sk-lumen-0123456789abcde", "a" * 15, "x"],
)
def test_mask_shows_at_most_four_characters_of_a_short_secret(secret: str) -> None:
    shown = mask(secret).removeprefix("sk-lumen-")
    assert len(shown.replace("…", "").replace("*", "")) == 0  # too short to show any


@pytest.mark.parametrize("secret", ["whsec-0123456789abcdef", "sk-lumen-0123456789abcdefXYZW"])
def test_mask_of_a_long_secret_keeps_only_its_last_four(secret: str) -> None:
    shown = mask(secret)
    assert shown.removeprefix("sk-lumen-") == "…" + secret[-4:]
