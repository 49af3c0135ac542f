"""The root command: version, help, exit-code table, lazy imports, no secrets in failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lumen_cli import __version__
from lumen_cli.app import COMMANDS, load_command
from tests.conftest import CLI
from tests.support import TEST_KEY


def _command_names() -> list[str]:
    return sorted(COMMANDS)


def test_version(cli: CLI) -> None:
    run = cli("--version")
    assert run.code == 0
    assert run.stdout.strip() == f"lumen {__version__}"


def test_help_lists_every_command_and_the_exit_codes(cli: CLI) -> None:
    run = cli("--help")
    assert run.code == 0
    for name in _command_names():
        assert f" {name} " in run.stdout, name
    for code in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "130"):
        assert f" {code}  " in run.stdout
    assert "Exit codes" in run.stdout


def test_every_command_is_registered() -> None:
    assert set(_command_names()) >= {
        c for c in COMMANDS if c not in ("download", "webhook", "doctor", "completion")
    }


def _all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name in COMMANDS:
        paths.append([name])
        subcommands = getattr(load_command(name), "commands", {})
        paths.extend([name, sub] for sub in sorted(subcommands))
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "lumen")
def test_every_help_has_a_summary_and_examples(cli: CLI, path: list[str]) -> None:
    run = cli(*path, "--help")
    assert run.code == 0
    assert "Usage: lumen" in run.stdout
    is_group = path == [] or path[-1] in ("config", "auth", "sandbox", "webhook")
    if not is_group:
        assert "Example" in run.stdout, f"`lumen {' '.join(path)} --help` has no examples"


def test_no_arguments_shows_help(cli: CLI) -> None:
    run = cli()
    assert "Usage: lumen" in run.stdout + run.stderr


def test_usage_error_is_exit_2(cli: CLI) -> None:
    assert cli("submit").code == 2
    assert cli("no-such-command").code == 2
    assert cli("submit", "a cat", "--no-such-flag").code == 2


def test_import_is_lazy() -> None:
    code = (
        "import sys, lumen_cli.app; "
        "heavy = ('httpx', 'rich', 'sqlite3', 'http.server', 'tomli_w', 'lumen_cli.config', "
        "'lumen_cli.commands.submit'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_python_dash_m_works(home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lumen_cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"lumen {__version__}"


def test_an_unreachable_api_never_shows_the_key_or_a_traceback(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_BASE_URL", "http://127.0.0.1:9")
    run = cli("status", "v123")
    assert run.code == 6
    assert "could not reach 127.0.0.1:9" in run.stderr
    assert "gave up after" in run.stderr
    assert len(run.clock.sleeps) >= 3  # retried with backoff, on the fake clock
    assert TEST_KEY not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
