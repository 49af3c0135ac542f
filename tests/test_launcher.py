"""`lumen --sandbox` with no sandbox running: one is started in the background, found again
by later commands (even ten started at once), and stopped by `lumen sandbox stop`."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lumen_cli.launcher import health
from lumen_cli.sandbox import SandboxConfig, SandboxServer
from tests.conftest import CLI
from tests.support import fork_lumen, free_port


@pytest.fixture
def background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CLI) -> Iterator[Path]:
    """A home with no sandbox running yet, on a port of its own; stops the sandbox after."""
    monkeypatch.delenv("LUMEN_SANDBOX_URL")
    monkeypatch.setenv("LUMEN_SANDBOX_JOB_SECONDS", "0.2")
    # Its own port: another suite running at once may hold the default 8765.
    monkeypatch.setenv("LUMEN_SANDBOX_PORT", str(free_port()))
    yield tmp_path / "data" / "sandbox"
    cli("sandbox", "stop")


@pytest.mark.slow
def test_background_sandbox_starts_once_and_keeps_its_jobs(background: Path, cli: CLI) -> None:
    children = [
        fork_lumen(["--sandbox", "submit", f"cat {n}", "-q"], dict(os.environ), background.parent)
        for n in range(10)
    ]
    ids = []
    for child in children:
        code, out, err = child.wait()
        assert code == 0, err
        ids.append(out.strip())
    state = json.loads((background / "state.json").read_text())
    running = cli("sandbox", "status")
    assert running.stdout.strip() == state["url"]  # ten launchers, one sandbox
    assert state["url"].endswith(f":{os.environ['LUMEN_SANDBOX_PORT']}")

    later = cli("--sandbox", "status", ids[0], "--json")
    assert later.code == 0, later.stderr
    assert json.loads(later.stdout)["id"] == ids[0]

    # Sandbox jobs live apart from real ones.
    assert json.loads(cli("list", "--json").stdout) == []
    sandboxed = json.loads(cli("--sandbox", "list", "--json").stdout)
    assert sorted(r["id"] for r in sandboxed) == sorted(ids)

    stopped = cli("sandbox", "stop")
    assert state["url"] in stopped.stderr
    assert cli("sandbox", "status").code == 1


def test_a_sandbox_already_serving_on_the_port_is_adopted_not_stopped(
    background: Path, cli: CLI
) -> None:
    port = int(os.environ["LUMEN_SANDBOX_PORT"])
    with SandboxServer(SandboxConfig(port=port)) as serving:
        before = serving.stats()["jobs"]
        run = cli("--sandbox", "submit", "a cat", "-q")
        assert run.code == 0, run.stderr
        assert serving.stats()["jobs"] == before + 1  # the job went to the running sandbox
        assert cli("sandbox", "status").stdout.strip() == serving.url
        stop = cli("sandbox", "stop")
        assert stop.code == 1
        assert "it was running already" in stop.stderr
        assert httpx.get(serving.url + "/_sandbox/health").status_code == 200  # still serving


@pytest.mark.slow
def test_a_stopped_sandbox_comes_back_on_its_own_port(background: Path, cli: CLI) -> None:
    port = os.environ["LUMEN_SANDBOX_PORT"]
    for _ in range(2):
        run = cli("--sandbox", "submit", "a cat", "-q")
        assert run.code == 0, run.stderr
        assert cli("sandbox", "status").stdout.strip().endswith(f":{port}")  # not a random one
        assert "stopped the sandbox" in cli("sandbox", "stop").stderr


def test_a_sandbox_cut_off_mid_answer_is_not_running() -> None:
    """A sandbox stopping while it answers (headers sent, body not) reads as gone, not a
    traceback: `sandbox stop` polls health until the sandbox is."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_half() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 51\r\n\r\n")

    thread = threading.Thread(target=answer_half, daemon=True)
    thread.start()
    try:
        assert health(f"http://127.0.0.1:{listener.getsockname()[1]}") is None
    finally:
        thread.join(5)
        listener.close()
