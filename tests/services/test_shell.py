"""The one runner of the user's shell commands (upload_command, webhook --exec)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lumen_cli.services.shell import Shell, child_environment, is_secret_variable
from tests.support import wait_for


def test_secrets_never_reach_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", "sk-lumen-secret-key-0123456789")
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec_do_not_leak")
    monkeypatch.setenv("LUMEN_HISTORY_PASSWORD", "hunter2")
    monkeypatch.setenv("lumen_upload_token", "lowercase counts too")
    monkeypatch.setenv("LUMEN_PROFILE", "work")
    monkeypatch.setenv("UPLOAD_TOKEN", "the user's own, for their command")
    finished = Shell("env", env={"EXTRA": "1"}).run(timeout=10)
    env = finished.stdout.decode()
    for leaked in ("sk-lumen-secret", "whsec_do_not_leak", "hunter2", "lowercase counts"):
        assert leaked not in env
    for kept in ("LUMEN_PROFILE=work", "UPLOAD_TOKEN=the user's own", "EXTRA=1", "PATH="):
        assert kept in env
    assert is_secret_variable("LUMEN_API_KEY")
    assert not is_secret_variable("LUMEN_DATA_DIR")
    assert "LUMEN_WEBHOOK_SECRET" not in child_environment()


def test_a_command_that_hangs_is_killed_with_all_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The shell starts a child that starts a grandchild; all of them must go.
    command = f"sh -c 'sleep 60 & echo $! >> {pids}; sleep 60' & echo $! >> {pids}; wait"
    started = time.monotonic()
    finished = Shell(command).run(timeout=0.5)
    assert finished.timed_out
    assert time.monotonic() - started < 10
    for pid in (int(line) for line in pids.read_text().split()):
        wait_for(_ended(pid), seconds=5, what=f"pid {pid} to end")


def test_output_is_bounded_and_its_end_kept() -> None:
    finished = Shell("head -c 5000000 /dev/zero; echo; echo the-end").run(timeout=30, keep=1000)
    assert len(finished.stdout) == 1000
    assert finished.stdout.endswith(b"the-end\n")
    assert finished.code == 0


def test_a_background_child_holding_the_pipe_cannot_hang_the_run() -> None:
    started = time.monotonic()
    finished = Shell("sleep 60 & echo done").run(timeout=30)
    assert finished.stdout == b"done\n"
    assert not finished.timed_out
    assert time.monotonic() - started < 10  # not the 60 s of the child


def test_exit_codes_and_signals_are_told_apart() -> None:
    assert Shell("exit 3").run(timeout=10).code == 3
    assert Shell("kill -TERM $$").run(timeout=10).code == -15
    fed = Shell("cat").run(timeout=10, stdin=b"body bytes")
    assert fed.stdout == b"body bytes"


def test_output_can_go_to_a_file_descriptor(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with open(target, "wb") as handle:
        finished = Shell("echo to-fd; echo err >&2").run(timeout=10, output=handle.fileno())
    assert (finished.stdout, finished.stderr) == (b"", b"")
    assert target.read_bytes() == b"to-fd\nerr\n"


def _ended(pid: int) -> Callable[[], bool]:
    return lambda: not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not reaped yet by its new parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
