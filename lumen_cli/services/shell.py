"""The user's own shell commands (``webhook listen --exec``, ``upload_command``), run in one place.

What such a command gets is decided here, once:

* the user's shell (``/bin/sh -c``), as they would run the line themselves;
* the environment of ``lumen`` without its secrets: the variable of every secret setting
  (``LUMEN_API_KEY``, ``LUMEN_WEBHOOK_SECRET``) and any other ``LUMEN_*`` variable whose
  name says it holds one (``…KEY``, ``…SECRET``, ``…TOKEN``, ``…PASSWORD``);
* a session of its own: a Ctrl-C meant for ``lumen`` does not reach it, and a timeout (or
  ``lumen``'s own end) kills everything it started, not only the shell;
* bounded output: at most the last ``keep`` bytes of each stream are kept, however much
  a command prints, and a background child left holding the pipes cannot hang ``lumen``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from lumen_cli.config import KEYS

SECRET_VARIABLES = frozenset(key.env_var for key in KEYS.values() if key.secret)
SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL")
KEEP = 64 * 1024  # bytes kept of each stream by default (its end)
READ_CHUNK = 64 * 1024
PIPE_GRACE = 1.0  # seconds a background child may hold the pipes after the shell ended
POSIX = os.name == "posix"


def is_secret_variable(name: str) -> bool:
    """Whether the environment variable *name* holds one of lumen's secrets."""
    upper = name.upper()
    if upper in SECRET_VARIABLES:
        return True
    return upper.startswith("LUMEN_") and any(word in upper for word in SECRET_WORDS)


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without lumen's secrets, plus *extra*."""
    env = {name: value for name, value in os.environ.items() if not is_secret_variable(name)}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit status (negative: killed by that signal), the end of
    each stream it wrote (empty when they went to a file descriptor), and whether it ran
    out of time (it was then killed)."""

    code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


class Shell:
    """One command line, run through the shell; :meth:`kill` may end it from any thread."""

    def __init__(self, command: str, *, env: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.env = child_environment(env)
        self._process: subprocess.Popen[bytes] | None = None

    def run(
        self,
        *,
        timeout: float,
        stdin: bytes | None = None,
        output: int | None = None,
        keep: int = KEEP,
    ) -> Finished:
        """Run the command to its end, or kill it after *timeout* seconds.

        *stdin* is written to it (else it reads nothing). Its stdout and stderr go to the
        file descriptor *output* when given, else their last *keep* bytes are returned.
        Ctrl-C (``KeyboardInterrupt``) kills it before passing on.
        """
        sink: int = output if output is not None else subprocess.PIPE
        # The user's own command line, run through their shell as they would run it.
        process = subprocess.Popen(  # noqa: S602
            self.command,
            shell=True,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            env=self.env,
            start_new_session=POSIX,
        )
        self._process = process
        tails = {"stdout": bytearray(), "stderr": bytearray()}
        threads = []
        if output is None:
            for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
                threads.append(_thread(_drain, stream, tails[name], keep))
        if stdin is not None:
            assert process.stdin is not None
            threads.append(_thread(_feed, process.stdin, stdin))
        timed_out = False
        try:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.kill()
                process.wait()
            for thread in threads:
                thread.join(PIPE_GRACE)
            if any(thread.is_alive() for thread in threads):
                self.kill()  # a background child still holds a pipe: it ends with the run
                for thread in threads:
                    thread.join()
        except BaseException:
            self.kill()
            raise
        finally:
            self._process = None
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        return Finished(
            process.returncode, bytes(tails["stdout"]), bytes(tails["stderr"]), timed_out
        )

    def kill(self) -> None:
        """End the command and, on POSIX, everything it started (it leads its own session)."""
        process = self._process
        if process is None:
            return
        import signal

        with contextlib.suppress(OSError):
            if POSIX:
                os.killpg(process.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                process.kill()


def _thread(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _drain(stream: IO[bytes] | None, tail: bytearray, keep: int) -> None:
    """Read *stream* to its end, keeping its last *keep* bytes in *tail*."""
    assert stream is not None  # a pipe, as asked for
    with contextlib.suppress(OSError, ValueError):
        while chunk := os.read(stream.fileno(), READ_CHUNK):
            tail += chunk
            if len(tail) > keep:
                del tail[: len(tail) - keep]


def _feed(stream: IO[bytes], data: bytes) -> None:
    """Write *data* to the command's stdin and close it (a command may not read it all)."""
    with contextlib.suppress(OSError, ValueError):
        stream.write(data)
    with contextlib.suppress(OSError, ValueError):
        stream.close()
