"""Small file-system helpers: atomic writes, private directories, locks, safe opens.

Every file lumen creates is opened without following a symlink (``O_NOFOLLOW``) and must be
a regular file: a link planted where lumen writes (``NAME.part``, a lock, a temporary file)
makes the write fail instead of landing outside the folder. New temporary files are also
created exclusively (``O_EXCL``, through ``tempfile``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 where the platform has no such flag


class UnsafePath(OSError):
    """A path lumen would write is a symlink or not a regular file."""


def ensure_private_dir(path: Path) -> Path:
    """Create *path* and every missing parent as 0700 (whatever the umask); leave folders
    that already exist as they are."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    # One by one: mkdir(parents=True) would make the parents 0777 less the umask.
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by a parallel lumen meanwhile
            folder.mkdir(mode=0o700)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)  # raises the clear error
    return path


def open_regular(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that never follows a symlink and accepts only a regular file.

    Raises ``UnsafePath`` (an ``OSError``) for a symlink, a FIFO, a device or a folder.
    """
    try:
        fd = os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (NOFOLLOW == 0 and path.is_symlink()):
            raise UnsafePath(
                errno.ELOOP, "refusing to write through a symlink", str(path)
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(errno.EINVAL, "not a regular file", str(path))
    return fd


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Write *data* to *path* so that readers see the old file or the new one, never half.

    A new temporary file in the same directory (created exclusively, never through a
    symlink), then fsync and rename, then fsync the directory so the rename survives a
    crash. *durable* False skips both fsyncs, for files that are merely helpful after one.
    A symlink at *path* is replaced, never followed.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if durable:
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
    fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def refuse_symlinks(*paths: Path) -> None:
    """Raise ``UnsafePath`` if any of *paths* is a symlink (for files opened by others,
    such as SQLite's database and journal files, which cannot be opened here)."""
    for path in paths:
        if path.is_symlink():
            raise UnsafePath(errno.ELOOP, "refusing to use a symlink", str(path))


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
