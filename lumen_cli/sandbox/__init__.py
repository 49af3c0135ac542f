"""The built-in emulator of the Lumen video API (``lumen sandbox``, ``--sandbox``).

Names are loaded on first use, so ``from lumen_cli.sandbox import SANDBOX_KEY`` costs nothing:
the HTTP server machinery is imported only when a server is actually wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lumen_cli.sandbox.faults import Fault, FaultSet
    from lumen_cli.sandbox.files import blob_bytes
    from lumen_cli.sandbox.server import SandboxConfig, SandboxServer
    from lumen_cli.sandbox.store import SandboxStateError

SANDBOX_KEY = "sk-lumen-sandbox"

__all__ = [
    "SANDBOX_KEY",
    "Fault",
    "FaultSet",
    "SandboxConfig",
    "SandboxServer",
    "SandboxStateError",
    "blob_bytes",
]


# Where each lazily loaded name lives: name -> submodule of this package.
_LAZY = {
    "Fault": "faults",
    "FaultSet": "faults",
    "SandboxConfig": "server",
    "SandboxServer": "server",
    "SandboxStateError": "store",
    "blob_bytes": "files",
}


def __getattr__(name: str) -> Any:
    """Import a name's submodule on first access to it (PEP 562)."""
    module = _LAZY.get(name)
    if module is not None:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
