"""Shell completion as the shells run it: the generated scripts in real bash, zsh and fish,
candidates from the history (newest first, unfinished first for ``wait``), and nothing
slow or networked on the way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lumen_cli.api.models import Job
from lumen_cli.completion import SHELLS, script
from lumen_cli.history import History
from tests.conftest import CLI
from tests.support import ROOT

COMPLETIONS = ROOT / "completions"
BIN = str(Path(sys.executable).parent)  # where the test environment's `lumen` is
# (id, status, prompt, model), oldest first
JOBS = [
    ("vold1", "succeeded", "an old cat", "seedance-2"),
    ("vfail2", "failed", "a storm at sea", "veo-3-1"),
    ("vrun3", "processing", "the dog's walk", "seedance-2"),
    ("vdone4", "succeeded", "a \x1b[31mred\x1b[0m fox", "my-own-model"),
    ("vqueued5", "queued", "newest of all", "seedance-2"),
]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A history holding JOBS, and a batch; what completion reads (read-only)."""
    path = tmp_path / "data" / "history.sqlite3"
    store = History(path)
    try:
        for number, (job_id, status, prompt, model) in enumerate(JOBS):
            local = store.record_submitting(
                profile="default",
                base_url="https://api.example",
                request={"model": model, "prompt": prompt},
                mode="text-to-video",
            )
            store.resolve_submitted(local, Job(job_id, status, created=1_790_000_000 + number))
        store.record_submitting(  # a submit that never got an id: not offered
            profile="default", base_url="https://api.example", request={}, mode="text-to-video"
        )
    finally:
        store.close()
    return path


def complete(line: str, **env: str) -> list[str]:
    """What ``lumen`` answers bash for the line typed so far (the script's protocol)."""
    result = subprocess.run(
        [sys.executable, "-m", "lumen_cli"],
        env={**os.environ, **env, "_LUMEN_COMPLETE": "complete_bash", "_LUMEN_COMPLETE_LINE": line},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


@pytest.mark.parametrize("shell", SHELLS)
def test_lumen_completion_prints_the_script(cli: CLI, shell: str) -> None:
    run = cli("completion", shell)
    assert run.code == 0, run.stderr
    assert run.stdout == script(shell)  # completions/ holds the same (tests/test_generated.py)


def test_unknown_shell_is_exit_2(cli: CLI) -> None:
    assert cli("completion", "tcsh").code == 2


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("lumen su", ["submit"]),
        ("lumen wait ", ["vqueued5", "vrun3", "vdone4", "vfail2", "vold1"]),  # unfinished first
        ("lumen status v", ["vqueued5", "vdone4", "vrun3", "vfail2", "vold1"]),  # newest first
        ("lumen download ", ["vdone4", "vold1"]),  # only what can be downloaded
        ("lumen wait vrun3 v", ["vqueued5", "vdone4", "vfail2", "vold1"]),  # not twice
        ("lumen status vdone4 ", []),  # one id is all status takes
        ("lumen submit -m ", ["seedance-2", "seedance-2-fast", "veo-3-1", "my-own-model"]),
        ("lumen list --model=s", ["seedance-2", "seedance-2-fast"]),  # after the '='
        ("lumen list --status s", ["succeeded", "submitting"]),
        ("lumen submit x -a 16:", ["9"]),  # bash completes after the ':'
        ("lumen submit x -r ", ["480p", "720p", "1080p"]),
        ("lumen config get base", ["base_url"]),
        ("lumen config set resolution 1", ["1080p"]),
        ("lumen config set default_profile ", ["default", "work"]),
        ("lumen --profile ", ["default", "work"]),
        ("lumen batch status ", ["shots"]),
        ("lumen batch st", ["status"]),
        ("lumen list --batch ", ["shots"]),
        ("lumen completion z", ["zsh"]),
        ("lumen help do", ["download", "doctor"]),
        ("lumen wait --al", ["--all"]),
        ("lumen wait --sand", ["--sandbox"]),  # the root's flags go anywhere
        ("lumen submit x -o ", []),  # nothing: bash completes file names
        ("lumen submit x --image ", []),  # a local file or a URL: file names too
        ("lumen usage --by d", ["day"]),
        ("lumen sandbox serve --fetch-inputs ", ["none", "loopback", "all"]),
        ("lumen gal", ["gallery"]),
        ("lumen nosuch ", []),
        ("lumen 'sub", ["submit"]),  # an open quote
    ],
)
def test_candidates(line: str, expected: list[str], home: Path, cli: CLI) -> None:
    cli("--profile", "work", "config", "set", "model", "veo-3-1")
    _seed_batch(home)
    assert complete(line) == expected


def _seed_batch(home: Path) -> None:
    store = History(home / "data" / "history.sqlite3")
    try:
        with store.lock_batch("default", "shots"):
            store.open_batch(
                "default", "shots", source="shots.txt", base_url="x", lines=[("k", 1, None)]
            )
    finally:
        store.close()


def test_sandbox_jobs_complete_under_sandbox_only(history: Path, tmp_path: Path) -> None:
    sandboxed = History(tmp_path / "data" / "sandbox-history.sqlite3")
    try:
        local = sandboxed.record_submitting(
            profile="default", base_url="http://127.0.0.1:1", request={}, mode="text-to-video"
        )
        sandboxed.resolve_submitted(local, Job("vsandbox", "queued"))
    finally:
        sandboxed.close()
    assert complete("lumen --sandbox wait ") == ["vsandbox"]
    assert complete("lumen wait ", LUMEN_SANDBOX="1") == ["vsandbox"]
    assert "vsandbox" not in complete("lumen wait ")


def test_a_shared_history_is_not_read_a_shell_waits_on_no_network(history: Path) -> None:
    assert "vrun3" in complete("lumen wait ")  # the local file's jobs
    unreachable = "postgresql://lumen@192.0.2.1/lumen"  # never asked: nothing would answer
    assert complete("lumen wait ", LUMEN_HISTORY_URL=unreachable) == []


def test_no_history_and_a_mangled_one_answer_nothing(tmp_path: Path) -> None:
    assert complete("lumen wait ") == []
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "history.sqlite3").write_bytes(b"not a database at all" * 100)
    assert complete("lumen wait ") == []
    assert complete("lumen st") == ["status"]


def test_completion_changes_nothing_and_answers_while_another_lumen_writes(
    history: Path,
) -> None:
    import sqlite3

    before = history.read_bytes()
    holder = sqlite3.connect(history, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another lumen in the middle of a write
    try:
        assert complete("lumen wait vq") == ["vqueued5"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert history.read_bytes() == before
    assert sorted(path.name for path in history.parent.iterdir()) == ["history.sqlite3"]


# -- the scripts in the shells themselves ---------------------------------------------------


def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it with apt-get)")
    return found


def _run_shell(argv: list[str], home: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=True, cwd=home, timeout=60
    )
    return result.stdout


Driver = Callable[[str, Path], list[str]]


def _bash(line: str, home: Path) -> list[str]:
    words = line.split(" ")
    program = (
        f"source {COMPLETIONS / 'lumen.bash'}\n"
        f"COMP_LINE={_sh(line)}; COMP_POINT=${{#COMP_LINE}}\n"
        f"COMP_WORDS=({' '.join(_sh(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_lumen_completion\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    output = _run_shell([_shell("bash"), "--norc", "--noprofile", "-c", program], home)
    return output.split("\n")[:-1]


def _zsh(line: str, home: Path) -> list[str]:
    # compdef, _describe and _files stand in for zsh's completion system: they print what
    # the script hands them, after zsh itself has parsed and evaluated it.
    words = line.split(" ")
    program = (
        "compdef() { :; }\n"
        "_files() { print -r -- '<files>'; }\n"
        '_describe() { local name=${@[-1]}; print -rl -- "${(@P)name}"; }\n'
        f"source {COMPLETIONS / 'lumen.zsh'}\n"
        f"words=({' '.join(_sh(w) for w in words)}); CURRENT={len(words)}\n"
        "_lumen_completion\n"
    )
    return _run_shell([_shell("zsh"), "-f", "-c", program], home).splitlines()


def _fish(line: str, home: Path) -> list[str]:
    program = f"source {COMPLETIONS / 'lumen.fish'}; complete -C {_sh(line)}"
    return _run_shell([_shell("fish"), "--no-config", "-c", program], home).splitlines()


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.usefixtures("history")
def test_bash_runs_the_script(home: Path) -> None:
    assert _bash("lumen wa", home) == ["wait"]
    assert _bash("lumen wait ", home)[:2] == ["vqueued5", "vrun3"]
    assert _bash("lumen submit x --aspect-ratio 9:", home) == ["16"]
    assert _bash("lumen download vd", home) == ["vdone4"]


@pytest.mark.usefixtures("history")
def test_zsh_runs_the_script_with_descriptions(home: Path) -> None:
    assert _zsh("lumen sta", home) == [
        "status:Show a job's current status, and update the history."  # the apostrophe kept
    ]
    waited = _zsh("lumen wait ", home)
    assert waited[:2] == ["vqueued5:queued newest of all", "vrun3:processing the dog's walk"]
    assert "vdone4:succeeded a \\x1b[31mred\\x1b[0m fox" in waited  # shown, not obeyed
    assert _zsh("lumen submit x -a ", home)[0] == "16\\:9"  # ':' escaped for _describe
    assert _zsh("lumen submit x -o ", home) == ["<files>"]


@pytest.mark.usefixtures("history")
def test_fish_runs_the_script_in_order_with_descriptions(home: Path) -> None:
    waited = _fish("lumen wait ", home)
    assert [line.split("\t")[0] for line in waited] == [
        "vqueued5", "vrun3", "vdone4", "vfail2", "vold1"
    ]  # fmt: skip
    assert waited[1] == "vrun3\tprocessing the dog's walk"
    assert _fish("lumen list --status f", home) == ["failed"]
    (home / "clip.mp4").write_bytes(b"")
    assert "clip.mp4" in _fish("lumen submit x -o ", home)  # file names, from fish itself
