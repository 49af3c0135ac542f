"""Find the local sandbox, or start one in the background, for the global ``--sandbox`` flag.

The running sandbox is described by ``state.json`` in the sandbox's data folder; a lock
makes ten ``lumen --sandbox`` processes started at once share one server. Stdlib only:
this runs before every sandbox command and must stay cheap.
"""

from __future__ import annotations

import contextlib
import http.client  # urllib.request's own: its errors are not all OSErrors
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lumen_cli.errors import Unavailable
from lumen_cli.fsutil import atomic_write, ensure_private_dir, file_lock, open_regular

DEFAULT_PORT = 8765
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def health(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    """The sandbox's health document, or ``None`` when nothing (or not a sandbox) answers."""
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=timeout) as response:  # noqa: S310
            document = json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):  # a sandbox stopping mid-answer
        return None
    if isinstance(document, dict) and document.get("lumen_sandbox") is True:
        return document
    return None


def _read_state(state_dir: Path) -> dict[str, object] | None:
    try:
        state = json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def running_sandbox(state_dir: Path) -> str | None:
    """The URL of the background sandbox if it is up."""
    state = _read_state(state_dir)
    if state is None or not isinstance(state.get("url"), str):
        return None
    url = str(state["url"])
    return url if health(url) is not None else None


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server binds: a socket left in TIME_WAIT by a sandbox just stopped does not
        # hold the port, while one that listens still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_sandbox(
    state_dir: Path, *, port: int = DEFAULT_PORT, job_seconds: float | None = None
) -> str:
    """Return the URL of a running sandbox, starting one in the background if needed.

    A sandbox already answering on *port* (say, a `lumen sandbox serve` in another
    terminal) is adopted; if something else holds the port, any free one is used.
    """
    ensure_private_dir(state_dir)
    with file_lock(state_dir / "launch.lock"):
        url = running_sandbox(state_dir)
        if url:
            return url
        preferred = f"http://127.0.0.1:{port}"
        if not _port_is_free(port):
            found = health(preferred)
            if found is not None:  # someone's `lumen sandbox serve`: used, never stopped
                _write_state(state_dir, preferred, found.get("pid"), started=False)
                return preferred
            port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "lumen_cli.sandbox",
            "--host", "127.0.0.1", "--port", str(port),
            "--state-file", str(state_dir / "jobs.json"),
        ]  # fmt: skip
        if job_seconds is not None:
            command += ["--job-seconds", str(job_seconds)]
        log_fd = open_regular(state_dir / "sandbox.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        with open(log_fd, "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # outlives this command, ignores its Ctrl-C
                close_fds=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if health(url, timeout=0.5) is not None:
                _write_state(state_dir, url, process.pid, started=True)
                return url
            if process.poll() is not None:
                break
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            process.kill()
        raise Unavailable(
            "the sandbox did not start",
            hint=f"See {state_dir / 'sandbox.log'}, or run `lumen sandbox serve` to watch it.",
        )


def _write_state(state_dir: Path, url: str, pid: object, *, started: bool) -> None:
    """Where the background sandbox is, and whether this user's lumen started it."""
    state = {"url": url, "pid": pid, "started": started, "uid": _uid()}
    atomic_write(state_dir / "state.json", json.dumps(state).encode())


def _uid() -> int | None:
    getuid = getattr(os, "getuid", None)
    return int(getuid()) if getuid is not None else None


def _owner(pid: int) -> int | None:
    """The user id a process runs as, where the system tells (Linux: /proc)."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


@dataclass(frozen=True)
class Stopped:
    """What ``stop_sandbox`` did: ``stopped``, ``none`` (nothing ran) or ``refused``."""

    outcome: str
    url: str | None = None
    reason: str | None = None


def stop_sandbox(state_dir: Path) -> Stopped:
    """Stop the background sandbox, if (and only if) this user's ``--sandbox`` started it.

    The server must prove it is that sandbox: it answers as a sandbox, with the process id
    recorded when it was started, run by this user. A sandbox that was found serving
    (a ``lumen sandbox serve`` somewhere) is left alone.
    """
    with file_lock(state_dir / "launch.lock") if state_dir.exists() else contextlib.nullcontext():
        state = _read_state(state_dir)
        url = str(state.get("url", "")) if state else ""
        found = health(url) if url else None
        if state is None or found is None:
            _forget(state_dir)
            return Stopped("none")
        pid = state.get("pid")
        if not state.get("started"):
            return Stopped(
                "refused", url, f"it was running already (pid {pid}): stop it where it runs"
            )
        owner = _owner(pid) if isinstance(pid, int) else None
        if found.get("pid") != pid or owner not in (None, _uid()):
            _forget(state_dir)
            return Stopped("refused", url, f"it is not the sandbox lumen started here (pid {pid})")
        request = urllib.request.Request(f"{url}/_sandbox/shutdown", data=b"", method="POST")  # noqa: S310
        with contextlib.suppress(OSError, http.client.HTTPException):
            urllib.request.urlopen(request, timeout=2).close()  # noqa: S310 - our own http URL
        # Return once it is gone, so that a sandbox started next gets the same port.
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and health(url, timeout=0.2) is not None:
            time.sleep(0.05)
        _forget(state_dir)
        return Stopped("stopped", url)


def _forget(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "state.json").unlink()
