"""`lumen --sandbox` with no sandbox running: one is started in the background, found again
by later commands (even ten started at once), and stopped by `lumen sandbox stop`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    environment.update(
        LUMEN_CONFIG_DIR=str(tmp_path / "config"),
        LUMEN_DATA_DIR=str(tmp_path / "data"),
        LUMEN_SANDBOX_JOB_SECONDS="0.2",
        # Its own port: another suite running at once may hold the default 8765.
        LUMEN_SANDBOX_PORT=str(free_port()),
    )
    yield environment
    subprocess.run([sys.executable, "-m", "lumen_cli", "sandbox", "stop"], env=environment,
                   capture_output=True, check=False, timeout=30)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lumen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lumen_cli", *args], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_background_sandbox_starts_once_and_keeps_its_jobs(env: dict[str, str]) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "lumen_cli", "--sandbox", "submit", f"cat {n}", "-q"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(10)
    ]
    ids = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        ids.append(out.strip())
    state = json.loads((Path(env["LUMEN_DATA_DIR"]) / "sandbox" / "state.json").read_text())
    running = lumen(env, "sandbox", "status")
    assert running.stdout.strip() == state["url"]  # ten launchers, one sandbox
    assert state["url"].endswith(f":{env['LUMEN_SANDBOX_PORT']}")

    later = lumen(env, "--sandbox", "status", ids[0], "--json")
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["id"] == ids[0]

    # Sandbox jobs live apart from real ones.
    real = lumen(env, "list", "--json")
    assert json.loads(real.stdout) == []
    sandboxed = lumen({**env, "LUMEN_SANDBOX": "1"}, "list", "--json")
    assert sorted(r["id"] for r in json.loads(sandboxed.stdout)) == sorted(ids)

    stopped = lumen(env, "sandbox", "stop")
    assert state["url"] in stopped.stderr
    assert lumen(env, "sandbox", "status").returncode == 1


def test_a_sandbox_already_serving_on_the_port_is_adopted(env: dict[str, str]) -> None:
    from lumen_cli.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(port=int(env["LUMEN_SANDBOX_PORT"]))) as serving:
        before = serving.stats()["jobs"]
        run = lumen(env, "--sandbox", "submit", "a cat", "-q")
        assert run.returncode == 0, run.stderr
        assert serving.stats()["jobs"] == before + 1  # the job went to the running sandbox
        assert lumen(env, "sandbox", "status").stdout.strip() == serving.url
