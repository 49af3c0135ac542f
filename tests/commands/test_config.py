"""``lumen config`` as users run it: set/get/unset/list/path, secrets, help."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import post_count


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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("duration", "3", "duration must be at least 4 seconds"),
        ("duration", "five", "duration must be a whole number"),
        ("resolution", "4k", "resolution must look like 720p"),
        ("aspect_ratio", "wide", "aspect_ratio must look like 16:9"),
        ("output", "clips/{bogus}.mp4", "unknown placeholder {bogus}"),
        ("webhook_url", "hooks.example", "webhook_url must be an http(s) URL"),
        ("generate_audio", "maybe", "generate_audio must be true or false"),
        ("max_download_size", "lots", "max_download_size must be a size"),
        ("sandbox_port", "70000", "sandbox_port must be a port number"),
        ("upload_command", "aws s3 cp {file} s3://b/", "unknown placeholder {file}"),
        ("upload_command", "echo https://x.example/", "never names {path}"),
        ("upload_command", "cp '{path}' /srv/", "lumen quotes it for the shell already"),
        ("upload_command", "  ", "upload_command is empty"),
        ("upload_max_age", "soon", "upload_max_age must be a span such as 90, 30m or 7d"),
        ("upload_timeout", "0", "upload_timeout must be more than 0 seconds"),
        ("max_upload_size", "huge", "max_upload_size must be a size"),
    ],
)
def test_config_set_checks_values_as_the_flags_do(
    cli: CLI, home: Path, key: str, value: str, message: str
) -> None:
    run = cli("config", "set", key, value)
    assert run.code == 2
    assert message in run.stderr
    assert not (home / "config" / "config.toml").exists()  # nothing was written


def test_a_bad_configured_value_names_its_key_profile_and_file(
    cli: CLI, home: Path, sandbox: SandboxServer
) -> None:
    (home / "config").mkdir()
    config = home / "config" / "config.toml"
    config.write_text("[profiles.default]\nduration = 3\n")
    before = post_count(sandbox)
    run = cli("submit", "a cat", "--wait", "--download")
    assert run.code == 2
    assert f"duration = 3 in [profiles.default] of {config}" in run.stderr
    assert "lumen config set duration" in run.stderr
    config.write_text('[profiles.default]\noutput = "x/{bogus}.mp4"\n')
    run = cli("submit", "a cat", "--wait", "--download")
    assert run.code == 2
    assert "output = 'x/{bogus}.mp4' in [profiles.default]" in run.stderr
    assert "in -o" not in run.stderr  # the configured value is to blame, not a flag
    run = cli("submit", "a cat", "--wait", "--download", "-o", "x/{bogus}.mp4")
    assert run.code == 2
    assert "unknown placeholder {bogus} in -o" in run.stderr
    assert post_count(sandbox) == before  # nothing billed
    assert json.loads(cli("list", "--json").stdout) == []


def test_a_profile_that_does_not_exist_is_an_error_except_to_create_it(
    cli: CLI, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli("--profile", "nosuch", "list")
    assert run.code == 2
    assert "there is no profile 'nosuch'" in run.stderr
    monkeypatch.setenv("LUMEN_PROFILE", "nosuch")
    assert cli("status", "v1").code == 2
    monkeypatch.delenv("LUMEN_PROFILE")
    assert cli("--profile", "nosuch", "config", "set", "model", "veo-3-1").code == 0
    assert cli("--profile", "nosuch", "config", "get", "model").stdout == "veo-3-1\n"
    assert cli("--profile", "default", "list").code == 0  # "default" needs no table


def test_history_url_is_checked_and_never_shown_with_its_password(cli: CLI) -> None:
    url = "postgresql://team:s3cret-pass@db.example:5432/lumen"
    run = cli("config", "set", "history_url", url)
    assert run.code == 0, run.stderr
    listed = cli("config", "list", "--json")
    shown = json.loads(listed.stdout)["settings"]["history_url"]
    assert shown == {
        "value": "postgresql://team:***@db.example:5432/lumen",
        "source": "profile default",
    }
    assert cli("config", "get", "history_url").stdout.strip() == shown["value"]
    assert "s3cret-pass" not in run.stderr + listed.stdout + cli("config", "list").stdout
    bad = cli("config", "set", "history_url", "mysql://team:s3cret-pass@db.example/lumen")
    assert bad.code == 2
    assert "postgresql://" in bad.stderr
    assert "s3cret-pass" not in bad.stderr
    assert cli("config", "set", "host_name", "render-1").code == 0


def test_upload_settings_take_spans_and_the_shell_s_own_braces(cli: CLI) -> None:
    command = (
        "rclone copyto {path} r2:c/{sha256}{ext} && echo https://c.example/${BUCKET}/{sha256}{ext}"
    )
    assert cli("config", "set", "upload_command", command).code == 0
    assert cli("config", "get", "upload_command").stdout.strip() == command
    assert cli("config", "set", "upload_max_age", "7d").code == 0
    assert cli("config", "get", "upload_max_age").stdout.strip() == "604800.0"
    listed = cli("config", "list").stdout
    assert "upload_timeout\t300.0\tdefault" in listed
    assert f"max_upload_size\t{100 << 20}\tdefault" in listed
