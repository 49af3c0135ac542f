"""The built-in emulator of the Lumen video API (``lumen sandbox``, ``--sandbox``): no account,
no network, outcomes chosen by the prompt.

It answers the vendor's two routes (``POST /v1/videos/generations`` and ``GET
/v1/videos/generations/{id}``) with the vendor's rules, serves real MP4 results under ``/files/``,
keeps files uploaded to ``/uploads/`` (local inputs of ``lumen --sandbox``), fetches a job's
input URLs on this machine before creating it, delivers signed webhooks, and adds a few
``/_sandbox/`` routes for tests: health, stats, forced completion, and *faults* (lost
responses, 5xx, garbage bodies, cut downloads, rate limits...) that let a client's error
handling be exercised against real HTTP.

A job's status is a pure function of the time since it was created, so nothing has to tick in the
background: ``queued`` for the first 20% of ``job_seconds``, ``processing`` until ``job_seconds``,
then terminal. Words in the prompt choose the ending: ``fail``, ``cancel``, ``forever``.

The modules, one job each:

- :mod:`~lumen_cli.sandbox.server`: ``SandboxConfig`` and ``SandboxServer`` (life cycle, the
  HTTP server and its connections), which ties the others together;
- :mod:`~lumen_cli.sandbox.routes`: the HTTP handler and its route table, applying faults and
  serving ranges;
- :mod:`~lumen_cli.sandbox.store`: the jobs, request counts and the state file;
- :mod:`~lumen_cli.sandbox.jobs`: the ``Job`` record and request validation;
- :mod:`~lumen_cli.sandbox.faults`: injected misbehaviour;
- :mod:`~lumen_cli.sandbox.files`: result files, uploaded files, ``Range`` parsing;
- :mod:`~lumen_cli.sandbox.inputs`: fetching a job's input URLs (loopback only by default);
- :mod:`~lumen_cli.sandbox.webhooks`: delivery.

Only the standard library is used, plus the bottom of lumen (``net``, ``fsutil``, ``serving``,
``media``: what an image or a video starts with) and the webhook signing names, the one
definition of the signature. Names are loaded on first use, so ``from lumen_cli.sandbox import
SANDBOX_KEY`` costs nothing: the HTTP server machinery is imported only when a server is
actually wanted, and ``urllib.request`` only when a webhook is delivered or an input fetched.
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
