"""Small file-system helpers: atomic writes, private directories, advisory locks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def ensure_private_dir(path: Path) -> Path:
    """Create *path* (and parents) as 0700 if missing; leave an existing one's mode alone."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write *data* to *path* so that readers see the old file or the new one, never half.

    Temp file in the same directory, fsync, rename, then fsync the directory so the
    rename itself survives a crash.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Persist a rename in *directory* (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on *path* (created if needed) for the block.

    Serialises read-modify-write cycles between parallel ``lumen`` processes.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: best effort, no lock
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def try_lock(path: Path, note: str) -> int | None:
    """Take an exclusive advisory lock on *path* (created if needed) without waiting.

    Returns the file descriptor that holds it (close it to release), or None when another
    process holds it. *note* (say, ``pid 1234``) is written into the file for whoever finds
    the lock taken (:func:`lock_holder`). The system drops the lock with its process.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: best effort, no lock
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, note.encode("utf-8"), 0)
    return fd


def lock_holder(path: Path) -> str:
    """What the holder of the lock on *path* wrote into it (``""`` if nothing)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:100]
    except OSError:
        return ""
