"""Job workflows that span the API, the history, downloads and output.

Each service takes a :class:`Runtime`: what one run of the CLI has at hand. ``AppContext``
(``context.py``) is one; tests may pass another. Services never parse command lines and
never import a command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lumen_cli.api.client import LumenClient
    from lumen_cli.clock import Clock
    from lumen_cli.config import Settings
    from lumen_cli.history import History
    from lumen_cli.output import Output


class Runtime(Protocol):
    """What a service may use: settings, the API client, the history, output and the clock."""

    @property
    def settings(self) -> Settings: ...

    @property
    def output(self) -> Output: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def sandbox(self) -> bool:
        """Whether this run talks to the sandbox (hints then say ``lumen --sandbox``)."""

    @property
    def client(self) -> LumenClient:
        """The API client; raises ``NoKey`` when there is no key."""

    @property
    def history(self) -> History: ...

    @property
    def history_base_url(self) -> str:
        """The API base URL to record with jobs learnt of without a request (webhooks)."""
