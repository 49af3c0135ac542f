"""The root command: version, help, exit-code table, lazy imports, no secrets in failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lumen_cli import __version__
from lumen_cli.app import COMMANDS, load_command
from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import JOBS_PATH, TEST_KEY


def _command_names() -> list[str]:
    return sorted(COMMANDS)


def test_version(cli: CLI) -> None:
    run = cli("--version")
    assert run.code == 0
    assert run.stdout.strip() == f"lumen {__version__}"


def test_help_lists_every_command_and_the_exit_codes(cli: CLI) -> None:
    run = cli("--help")
    assert run.code == 0
    lines = run.stdout.splitlines()
    commands = lines[lines.index("COMMANDS") + 1 : lines.index("FLAGS") - 1]
    names = [line.split()[0] for line in commands if line[:3] == "  " + line[2:3].strip()]
    assert names == list(COMMANDS)
    codes = lines[lines.index("EXIT CODES") + 1 :]
    assert [line.split()[0] for line in codes if line[2:3].isdigit()] == [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "130",
    ]  # fmt: skip


def test_the_help_summaries_are_the_commands_own() -> None:
    """``lumen --help`` lists summaries from COMMANDS (importing no command): the same words."""
    from lumen_cli.output.help import parse_docstring

    for name, (_, _, summary) in COMMANDS.items():
        assert parse_docstring(load_command(name).help or "")[0] == summary, name


def _all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name in COMMANDS:
        paths.append([name])
        subcommands = getattr(load_command(name), "commands", {})
        paths.extend([name, sub] for sub in sorted(subcommands))
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "lumen")
def test_every_help_has_a_summary_usage_and_examples(cli: CLI, path: list[str]) -> None:
    run = cli(*path, "--help")
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert lines[0].endswith("."), lines[0]  # a one-line summary
    assert not lines[0].startswith(" ")
    assert lines[1:3] == ["", "USAGE"]
    assert lines[3].startswith("  lumen " + " ".join(path))
    assert "{" not in lines[3]  # arguments read as PROMPT, not like -o placeholders
    assert "<bool>" not in run.stdout
    is_group = path[-1:] in (["config"], ["auth"], ["sandbox"], ["webhook"])
    if not is_group:
        assert "EXAMPLES" in lines, f"`lumen {' '.join(path)} --help` has no examples"
        examples = lines[lines.index("EXAMPLES") + 1 :]
        assert examples[0].startswith("  $ lumen")
    assert "\n\n\n" not in run.stdout  # no double blank lines
    assert max(len(line) for line in lines) <= 100


def test_no_arguments_shows_help_and_exits_0(cli: CLI) -> None:
    run = cli()
    assert run.code == 0
    assert "USAGE\n  lumen [FLAGS] COMMAND" in run.stdout
    group = cli("config")
    assert group.code == 0
    assert "USAGE\n  lumen config COMMAND" in group.stdout


def test_help_command_shows_the_same_pages(cli: CLI) -> None:
    assert cli("help").stdout == cli("--help").stdout
    assert cli("help", "config", "set").stdout == cli("config", "set", "--help").stdout
    wrong = cli("help", "nosuch")
    assert wrong.code == 2
    assert "no command 'nosuch'" in wrong.stderr


def test_a_mistyped_command_gets_a_suggestion(cli: CLI) -> None:
    run = cli("sumbit", "a cat")
    assert run.code == 2
    assert run.stderr.splitlines() == [
        "error: there is no command 'sumbit'",
        "hint: Did you mean `lumen submit`?",
    ]


def test_usage_errors_are_plain_lines_and_json_when_asked(cli: CLI) -> None:
    run = cli("submit", "a cat", "--bogus")
    assert run.code == 2
    assert run.stderr.splitlines() == [
        "error: no such option: --bogus",
        "hint: Run `lumen submit --help` for its usage.",
    ]
    as_json = cli("status", "--json")
    assert as_json.code == 2
    assert json.loads(as_json.stdout)["error"]["message"] == "missing argument 'ID'"


def test_global_flags_work_after_the_command(cli: CLI, sandbox: SandboxServer) -> None:
    run = cli("submit", "a cat", "--dry-run", "--sandbox", "--profile", "default")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["prompt"] == "a cat"
    literal = cli("submit", "--dry-run", "--", "--sandbox")  # after --: a prompt
    assert json.loads(literal.stdout)["prompt"] == "--sandbox"


def test_usage_error_is_exit_2(cli: CLI) -> None:
    assert cli("submit").code == 2
    assert cli("no-such-command").code == 2
    assert cli("submit", "a cat", "--no-such-flag").code == 2


def test_import_is_lazy() -> None:
    code = (
        "import sys, lumen_cli.app; "
        "heavy = ('httpx', 'rich', 'sqlite3', 'http.server', 'tomli_w', 'lumen_cli.config', "
        "'lumen_cli.commands.submit', 'pydantic'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


# Runs lumen with ARGS and writes the names of the modules it imported to the file PATH.
_IMPORTS_PROBE = """
import os, sys
path, sys.argv = sys.argv[1], ["lumen", *sys.argv[2:]]
leave = os._exit  # how main() ends the process

def dump_and_leave(code):
    loaded = sorted(name for name, module in sys.modules.items() if module is not None)
    open(path, "w").write(" ".join(loaded))
    leave(code)

os._exit = dump_and_leave
from lumen_cli.app import main
main()
"""
_COMPLETE_WAIT = {
    "_LUMEN_COMPLETE": "complete_bash",
    "COMP_WORDS": "lumen wait ",
    "COMP_CWORD": "2",
}
_UI = ("rich", "pydantic")  # terminal output; Typer's conversions (see commands/base.py)
_NETWORK = ("httpx", "httpcore", "ssl")

# The paths people run many times an hour, as a script runs them (output piped): the
# arguments, extra environment, what stdout shows ("{id}": a job's id, "{job}": a job's
# in the history) and the packages the run must not import.
FAST_PATHS: dict[str, tuple[list[str], dict[str, str], str, tuple[str, ...]]] = {
    "--version": (["--version"], {}, "lumen ", (*_UI, *_NETWORK, "sqlite3")),
    "--help": (["--help"], {}, "USAGE", (*_UI, *_NETWORK, "sqlite3")),
    "list": (["list"], {}, "{job}\tqueued", (*_UI, *_NETWORK)),
    "status": (["status", "{id}"], {}, "{id}\t", _UI),
    "wait <TAB>": ([], _COMPLETE_WAIT, "{job}", (*_UI, *_NETWORK)),  # as bash asks
}


@pytest.mark.parametrize("name", list(FAST_PATHS))
def test_fast_paths_import_only_what_they_need(
    name: str, cli: CLI, api: httpx.Client, tmp_path: Path
) -> None:
    job = cli("submit", "a cat", "-q").stdout.strip()  # in the history
    job_id = api.post(JOBS_PATH, json={"model": "seedance-2", "prompt": "a dog"}).json()["id"]
    args, env, shown, forbidden = FAST_PATHS[name]
    listing = tmp_path / "modules.txt"
    run = subprocess.run(
        [sys.executable, "-c", _IMPORTS_PROBE, str(listing), *(a.format(id=job_id) for a in args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert shown.format(id=job_id, job=job) in run.stdout  # the path ran as meant
    modules = listing.read_text().split()
    assert "lumen_cli.app" in modules
    imported = [m for m in modules if m.split(".")[0] in forbidden]
    assert not imported, f"lumen {name} imported {imported[:8]}"


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
