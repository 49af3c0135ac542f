"""Shared fixtures: a real sandbox on a free loopback port, an isolated home for every test,
a CLI runner, and listeners. Plain helpers and fake servers live in ``tests/support.py``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from lumen_cli.api.retry import RetryPolicy
from lumen_cli.app import app
from lumen_cli.clock import FakeClock
from lumen_cli.context import AppContext, Overrides
from lumen_cli.output import Output
from lumen_cli.sandbox import SandboxConfig, SandboxServer
from tests.support import (
    POSTGRES_FOLDER,
    POSTGRES_REQUIRED,
    TEST_KEY,
    WHSEC,
    FakeUploader,
    FileHost,
    PostgresCluster,
    Running,
    Seen,
    StartListener,
    home_snapshot,
)


def pytest_configure(config: pytest.Config) -> None:
    """The process that runs the session (not an xdist worker) names the folder of the one
    PostgreSQL cluster all workers share; the first test that needs it starts it there."""
    if not hasattr(config, "workerinput") and POSTGRES_FOLDER not in os.environ:
        import tempfile

        os.environ[POSTGRES_FOLDER] = tempfile.mkdtemp(prefix="lumen-test-postgres-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and POSTGRES_FOLDER in os.environ:
        PostgresCluster.remove(Path(os.environ.pop(POSTGRES_FOLDER)))


@pytest.fixture(scope="session")
def _real_home_untouched() -> Iterator[None]:
    """Fail the run if any test wrote to the config, data or home folders of the machine."""
    before = home_snapshot()
    yield
    after = home_snapshot()
    assert after == before, f"a test wrote outside its own folders: {sorted(after ^ before)}"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _real_home_untouched: None) -> None:
    """Every test runs with its own home, config and data folders, and no LUMEN_* settings."""
    for name in list(os.environ):
        if name.startswith("LUMEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LUMEN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LUMEN_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(port=0, job_seconds=0.3, webhook_backoff=(0.05, 0.1, 0.2))
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> PostgresCluster:
    """The session's PostgreSQL server; the test is skipped, saying why, where there can
    be none (it fails instead under .ci/run, which installs PostgreSQL)."""
    try:
        import psycopg  # noqa: F401 - the driver the shared history needs

        return PostgresCluster.shared(Path(os.environ[POSTGRES_FOLDER]))
    except (ImportError, RuntimeError, KeyError) as exc:
        reason = f"PostgreSQL tests skipped: {exc}"
        if isinstance(exc, ImportError):
            reason = "PostgreSQL tests skipped: psycopg is not installed (pip install -e '.[test]')"
        if os.environ.get(POSTGRES_REQUIRED):
            pytest.fail(reason.replace("skipped", "cannot run"))
        pytest.skip(reason)


_schemas = iter(range(1, 1 << 30))


@pytest.fixture
def postgres_url(postgres: PostgresCluster, worker_id: str) -> str:
    """A shared history of the test's own: a new schema in the session's server."""
    import psycopg

    schema = f"t_{worker_id}_{next(_schemas)}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return postgres.url(schema=schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def history_at(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a history test keeps its history: a local file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return tmp_path / "h.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_history(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test's ``lumen`` commands on the local file, then on a shared history."""
    if request.param == "postgresql":
        monkeypatch.setenv("LUMEN_HISTORY_URL", request.getfixturevalue("postgres_url"))
    return str(request.param)


@pytest.fixture(autouse=True)
def _clean_faults(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> Path:
    """The test's own folders, pointed at the sandbox with a test key."""
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
        output: Output | None = None,
    ) -> Run:
        clock = clock or FakeClock()
        result = runner.invoke(
            app,
            list(args),
            input=input,
            obj=Overrides(clock=clock, retry=retry, output=output),
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


@pytest.fixture
def start_listener(home: Path) -> Iterator[StartListener]:
    """Start listeners on free ports (with the CLI's own processor); stop them all after."""
    from lumen_cli.services.events import EventProcessor
    from lumen_cli.webhook.listener import Listener, ListenerConfig

    started: list[Running] = []

    def start(*, tolerance: float = 300, socket_timeout: float = 10.0, **actions: Any) -> Running:
        processor = EventProcessor(AppContext(), **actions)
        logs: list[str] = []
        config = ListenerConfig(
            secret=WHSEC, port=0, tolerance=tolerance, socket_timeout=socket_timeout
        )
        listener = Listener(config, processor, log=logs.append).start()
        running = Running(listener, processor, logs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.listener.stop()


@pytest.fixture
def work(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory of the command: where default names land."""
    folder = home / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def seen(sandbox: SandboxServer) -> Seen:
    """What every result-file request the sandbox serves from now on carried, in order."""
    return Seen(sandbox, start=len(sandbox.requests("/files/")))


@pytest.fixture
def file_host(tmp_path: Path) -> Iterator[FileHost]:
    """A file host on loopback serving (and taking PUTs into) ``tmp_path/hosted``."""
    root = tmp_path / "hosted"
    root.mkdir()
    with FileHost(root) as host:
        yield host


@pytest.fixture
def uploader(
    home: Path, file_host: FileHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeUploader:
    """``upload_command`` set (through LUMEN_UPLOAD_COMMAND) to a fake uploader whose URLs
    the file host serves, so the sandbox can fetch them."""
    fake = FakeUploader(file_host.root, file_host.url, tmp_path / "uploads.log", tmp_path / "env")
    monkeypatch.setenv("LUMEN_UPLOAD_COMMAND", fake.command)
    return fake
