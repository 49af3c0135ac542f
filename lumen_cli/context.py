"""Everything a command needs, built once per run and lazily: settings, client, history, output.

``AppContext`` is the ``Runtime`` that services take. Tests swap parts by passing
``Overrides`` as the Typer context object
(``CliRunner().invoke(app, args, obj=Overrides(clock=FakeClock()))``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lumen_cli.clock import Clock, SystemClock
from lumen_cli.config import (
    CONFIG_FILE_NAME,
    SANDBOX_KEY,
    ConfigFile,
    Settings,
    config_dir,
    data_dir,
)
from lumen_cli.errors import NoKey
from lumen_cli.output import Output

if TYPE_CHECKING:
    from lumen_cli.api.client import LumenClient
    from lumen_cli.api.retry import RetryPolicy
    from lumen_cli.history import History


DEFAULT_CONNECTIONS = 10


@dataclass
class Overrides:
    """Parts a test may replace."""

    clock: Clock | None = None
    retry: RetryPolicy | None = None
    output: Output | None = None


class AppContext:
    """The per-run state shared by all commands."""

    def __init__(
        self,
        *,
        profile: str | None = None,
        sandbox: bool = False,
        base_url: str | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        self.sandbox = sandbox
        self._profile_flag = profile
        self._base_url_flag = base_url
        self.overrides = overrides or Overrides()
        self.clock: Clock = self.overrides.clock or SystemClock()
        self.output = self.overrides.output or Output()
        self.creates_profile = False  # set by commands that write settings (see Settings)
        # The API client's connection pool; a command that sends in parallel (batch) raises
        # it before the client is first used.
        self.max_connections = DEFAULT_CONNECTIONS
        self._client: LumenClient | None = None

    # -- settings ---------------------------------------------------------------------

    @cached_property
    def config_file(self) -> ConfigFile:
        return ConfigFile(config_dir() / CONFIG_FILE_NAME)

    @cached_property
    def settings(self) -> Settings:
        """Every setting, resolved once. Under ``--sandbox`` the sandbox's URL and key win over
        every other source, so the real profile's key is never read (nor sent)."""
        sandbox = None
        if self.sandbox:
            sandbox = {"base_url": self._sandbox_url, "api_key": lambda: SANDBOX_KEY}
        return Settings(
            self.config_file,
            profile_flag=self._profile_flag,
            flags={"base_url": self._base_url_flag},
            sandbox=sandbox,
            creates_profile=self.creates_profile,
        )

    @property
    def base_url(self) -> str:
        return str(self.settings.value("base_url"))

    @property
    def api_key(self) -> str | None:
        value = self.settings.value("api_key")
        return str(value) if value else None

    def _sandbox_url(self) -> str:
        """The local sandbox, started in the background if it is not running."""
        explicit = self.settings.value("sandbox_url")
        if explicit:
            return str(explicit).rstrip("/")
        from lumen_cli.launcher import ensure_sandbox

        return ensure_sandbox(
            self.sandbox_dir,
            port=int(self.settings.value("sandbox_port")),
            job_seconds=self.settings.value("sandbox_job_seconds"),
        )

    def sandbox_url_preview(self) -> str:
        """The sandbox --sandbox uses, named without starting one."""
        address, running = self._sandbox_address()
        return address if running else f"{address} (started on first use)"

    def preview_base_url(self) -> str:
        """The API base URL, named without starting a sandbox (for --dry-run)."""
        return self._sandbox_address()[0] if self.sandbox else self.base_url

    def _sandbox_address(self) -> tuple[str, bool]:
        from lumen_cli.launcher import running_sandbox

        running = self.settings.value("sandbox_url") or running_sandbox(self.sandbox_dir)
        if running:
            return str(running).rstrip("/"), True
        return f"http://127.0.0.1:{self.settings.value('sandbox_port')}", False

    @property
    def sandbox_dir(self) -> Path:
        return data_dir() / "sandbox"

    @cached_property
    def history_base_url(self) -> str:
        """The base URL recorded with jobs learnt of without a request (webhook events).

        Never starts a sandbox just to name it.
        """
        if not self.sandbox:
            return self.base_url
        from lumen_cli.launcher import running_sandbox

        explicit = self.settings.value("sandbox_url")
        return str(explicit or running_sandbox(self.sandbox_dir) or "sandbox")

    # -- parts ------------------------------------------------------------------------

    @property
    def client(self) -> LumenClient:
        """The API client, with the key; raises ``NoKey`` when there is none."""
        if self._client is None:
            from lumen_cli.api.client import LumenClient

            key = self.api_key
            if not key:
                raise NoKey()
            self._client = LumenClient(
                self.base_url,
                key,
                retry=self.overrides.retry,
                clock=self.clock,
                on_retry=lambda note: self.output.info(note.describe()),
                max_connections=self.max_connections,
            )
        return self._client

    @cached_property
    def history(self) -> History:
        """The history: the shared one of ``history_url``, else the local file. Sandbox
        jobs live in a local file of their own: they never mix with real, billed ones."""
        from lumen_cli.history import History

        location: Path | str = data_dir() / (
            "sandbox-history.sqlite3" if self.sandbox else "history.sqlite3"
        )
        if not self.sandbox and self.settings.value("history_url"):
            location = str(self.settings.value("history_url"))
        return History(location, host=self.settings.value("host_name"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if "history" in self.__dict__:
            self.history.close()


def app_context(
    ctx: typer.Context,
    *,
    json_output: bool = False,
    quiet: bool = False,
    creates_profile: bool = False,
) -> AppContext:
    """The run's ``AppContext`` from any command; switches output modes on as asked.

    *creates_profile*: the command writes settings, so the profile it names may be new.
    """
    state = ctx.find_root().obj
    assert isinstance(state, AppContext), "the root callback builds the AppContext"
    state.creates_profile = creates_profile
    if json_output:
        state.output.json_mode = True
    if quiet:
        state.output.quiet = True
    return state
