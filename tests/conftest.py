"""Shared fixtures: a real sandbox on a free loopback port, an isolated home, a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from lumen_cli.api.retry import RetryPolicy
from lumen_cli.app import app
from lumen_cli.clock import FakeClock
from lumen_cli.context import Overrides
from lumen_cli.sandbox import SandboxConfig, SandboxServer

TEST_KEY = "sk-lumen-test-0123456789abcdef"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(port=0, job_seconds=0.3, webhook_backoff=(0.05, 0.1, 0.2))
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_faults(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> Path:
    """An isolated config and data dir, pointed at the sandbox with a test key."""
    for name in list(os.environ):
        if name.startswith("LUMEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LUMEN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LUMEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LUMEN_BASE_URL", sandbox.url)
    monkeypatch.setenv("LUMEN_API_KEY", TEST_KEY)
    monkeypatch.setenv("LUMEN_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


@dataclass
class Run:
    """What one CLI invocation did."""

    result: Result
    clock: FakeClock

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def stdout(self) -> str:
        return self.result.stdout

    @property
    def stderr(self) -> str:
        return self.result.stderr


CLI = Callable[..., Run]


@pytest.fixture
def cli(home: Path) -> CLI:
    """Run ``lumen ARGS`` in-process with a fake clock: backoff costs no time."""
    runner = CliRunner()

    def run(
        *args: str,
        input: str | None = None,
        clock: FakeClock | None = None,
        retry: RetryPolicy | None = None,
    ) -> Run:
        clock = clock or FakeClock()
        result = runner.invoke(
            app,
            list(args),
            input=input,
            obj=Overrides(clock=clock, retry=retry),
            catch_exceptions=False,
        )
        return Run(result, clock)

    return run


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on the sandbox, for checking what the server saw."""
    with httpx.Client(
        base_url=sandbox.url, headers={"Authorization": f"Bearer {TEST_KEY}"}
    ) as client:
        yield client


def post_count(sandbox: SandboxServer) -> int:
    requests = sandbox.stats()["requests"]
    assert isinstance(requests, dict)
    return int(requests.get("POST /v1/videos/generations", 0))
