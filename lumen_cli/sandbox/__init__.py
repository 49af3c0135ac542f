"""The built-in emulator of the Lumen video API (``lumen sandbox``, ``--sandbox``).

Names are loaded on first use, so ``from lumen_cli.sandbox import SANDBOX_KEY`` costs nothing:
the HTTP server machinery is imported only when a server is actually wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lumen_cli.sandbox.server import (
        Fault,
        FaultSet,
        SandboxConfig,
        SandboxServer,
        SandboxStateError,
        blob_bytes,
    )

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


def __getattr__(name: str) -> Any:
    """Import the server module on first access to one of its names (PEP 562)."""
    if name in __all__:
        from lumen_cli.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
