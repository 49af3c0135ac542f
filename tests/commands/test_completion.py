"""Shell completion: the scripts in completions/ are what `lumen completion` prints today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.support import ROOT

COMPLETIONS = ROOT / "completions"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shipped_scripts_are_up_to_date(cli: CLI, shell: str) -> None:
    run = cli("completion", shell)
    assert run.code == 0, run.stderr
    shipped = (COMPLETIONS / f"lumen.{shell}").read_text()
    assert run.stdout == shipped, (
        f"regenerate: lumen completion {shell} > completions/lumen.{shell}"
    )
    assert "_LUMEN_COMPLETE" in shipped


def test_bash_completion_offers_commands(home: Path) -> None:
    env = {
        **os.environ,
        "_LUMEN_COMPLETE": "complete_bash",
        "COMP_WORDS": "lumen su",
        "COMP_CWORD": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "lumen_cli"], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["submit"]


def test_unknown_shell_is_exit_2(cli: CLI) -> None:
    assert cli("completion", "tcsh").code == 2
