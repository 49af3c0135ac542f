"""`lumen --sandbox` with no sandbox running: one is started in the background, found again
by later commands (even ten started at once), and stopped by `lumen sandbox stop`."""

from __future__ import annotations

import json
import os
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
    )
    yield environment
    subprocess.run([sys.executable, "-m", "lumen_cli", "sandbox", "stop"], env=environment,
                   capture_output=True, check=False, timeout=30)  # fmt: skip


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
