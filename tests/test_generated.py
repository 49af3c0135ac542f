"""The files made from the code (completion scripts, the man page) are up to date."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from types import ModuleType

import pytest

from tests.support import ROOT


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "scripts" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_file_is_up_to_date() -> None:
    files = _generator().generated()
    assert {path.relative_to(ROOT).as_posix() for path in files} == {
        "completions/lumen.bash",
        "completions/lumen.zsh",
        "completions/lumen.fish",
        "completions/lumen.ps1",
        "man/lumen.1",
    }
    stale = [str(path) for path, text in files.items() if path.read_text() != text]
    assert not stale, f"stale: {stale}; run `python scripts/generate.py`"


def test_the_man_page_has_every_command_and_renders_cleanly() -> None:
    page = (ROOT / "man" / "lumen.1").read_text()
    for command in ("SUBMIT", "WAIT", "BATCH RUN", "CONFIG SET", "WEBHOOK LISTEN", "COMPLETION"):
        assert f'.SH "LUMEN {command}"' in page
    assert "LUMEN_API_KEY" in page
    assert "EXIT CODES" in page
    assert ".SS EXAMPLES" in page
    if shutil.which("man") is None:
        pytest.skip("man is not installed: the page's roff is not rendered here")
    result = subprocess.run(
        ["man", "--warnings", "-l", str(ROOT / "man" / "lumen.1")],
        capture_output=True,
        text=True,
        env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        check=True,
    )
    assert "lumen submit" in result.stdout
    assert result.stderr == ""  # no roff warnings
