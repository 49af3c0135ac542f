"""``NAME.part``: where a result streams to before it takes its final name.

The file is locked while open (``flock``), so two ``lumen`` processes saving the same file
take turns. Its validator (strong ETag or Last-Modified) and announced size live in
``NAME.part.json``, so a rerun can resume with ``Range`` and ``If-Range``. A helper thread
writes (and hashes) while the caller reads the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumen_cli.errors import DownloadError
from lumen_cli.fsutil import atomic_write, fsync_dir, open_regular
from lumen_cli.net import public_url

if TYPE_CHECKING:
    import io

PART_SUFFIX = ".part"
META_SUFFIX = ".part.json"  # beside NAME.part: the validator a rerun resumes with


class PartFile:
    """``NAME.part``, locked while open, with the validator in ``NAME.part.json``.

    Tracks the offset and a running SHA-256 of everything in the file, so that the final
    digest costs no second read.
    """

    # Every this many bytes, start writing what is written so far to disk (write-behind).
    write_behind = 32 << 20

    def __init__(self, final: Path, chunk_size: int, *, checksum: bool = True) -> None:
        self.final = final
        self.checksum = checksum
        self.path = final.with_name(final.name + PART_SUFFIX)
        self.meta_path = final.with_name(final.name + META_SUFFIX)
        self.chunk_size = chunk_size
        self.offset = 0
        self.best = 0  # the offset when retries last started afresh (see fetch.grew)
        self.answered_whole = False  # the last answer's body arrived in full
        self.total: int | None = None  # the size the server announced
        self.validator: str | None = None  # strong ETag or Last-Modified, for If-Range
        self.restarts = 0  # restarts forced by a server answering the wrong bytes
        self.hasher = _new_hasher(checksum)
        self._flushed = 0  # bytes before this offset have been handed to write-behind
        self._file: io.FileIO | None = None

    @property
    def file(self) -> io.FileIO:
        assert self._file is not None, "open() first"
        return self._file

    def open(self) -> None:
        """Open and lock ``NAME.part`` (waiting for another process that holds it).

        After waiting, the path may name a new file: the holder renamed its ``.part`` to
        the final name. Locking the old inode then would let us overwrite a finished
        video, so the lock is taken again on whatever the path now names.
        """
        while True:
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                _lock(fd)
                now = os.stat(self.path)
            except FileNotFoundError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            held = os.fstat(fd)
            if (held.st_ino, held.st_dev) == (now.st_ino, now.st_dev):
                # Unbuffered: each chunk is one write(2), so a killed run leaves a clean prefix.
                self._file = open(fd, "r+b", buffering=0)  # noqa: SIM115 - closed in close()
                return
            os.close(fd)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def load(self) -> None:
        """Resume: read the validator of what the ``.part`` holds, then hash those bytes.

        A ``.part`` without a readable ``NAME.part.json``, or longer than the total it
        records, holds bytes of an unknown file: resuming could splice two files together,
        so it is emptied instead.
        """
        size = os.fstat(self.file.fileno()).st_size
        meta = read_json(self.meta_path) if size else None
        total = meta.get("total") if meta else None
        validator = meta.get("validator") if meta else None
        self.total = total if isinstance(total, int) and not isinstance(total, bool) else None
        self.validator = validator if isinstance(validator, str) and validator else None
        if meta is None or (self.total is not None and size > self.total):
            self.restart()
            return
        self.file.seek(0)
        if self.hasher is None:
            self.file.seek(0, os.SEEK_END)
            self.offset = size
        else:
            while chunk := self.file.read(self.chunk_size):
                self.hasher.update(chunk)
                self.offset += len(chunk)
        self.best = self._flushed = self.offset

    def restart(self) -> None:
        """Empty the ``.part``: the next bytes are the file's first."""
        self.file.seek(0)
        self.file.truncate(0)
        self.offset = self._flushed = 0
        self.hasher = _new_hasher(self.checksum)
        self.total = None
        self.validator = None
        with contextlib.suppress(FileNotFoundError):
            self.meta_path.unlink()

    def begin(self, url: str, total: int | None, validator: str | None) -> None:
        """A new file starts at byte 0: remember its validator before any byte is written.

        Written first, so a run killed at any later moment leaves a ``.part`` whose
        validator a rerun can send.
        """
        self.total, self.validator = total, validator
        document = {"url": public_url(url), "total": total, "validator": validator}
        # Renamed into place but not fsynced: after a crash a missing or torn sidecar only
        # means load() starts over, and two fsyncs per file would cost more than they save.
        atomic_write(self.meta_path, json.dumps(document).encode(), mode=0o644, durable=False)

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:  # FileIO.write may write less than asked
            written = self.file.write(view)
            view = view[written or 0 :]
        if self.hasher is not None:
            self.hasher.update(chunk)
        self.offset += len(chunk)
        if self.offset - self._flushed >= self.write_behind:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Have the kernel start writing the bytes so far to disk, without waiting.

        The final fsync then has little left to do, and that disk work overlaps the download
        instead of following it (on a 256 MiB file: a 90 ms fsync became 15 ms). On Linux,
        POSIX_FADV_DONTNEED starts writeback of the range and drops pages that are already
        clean, so a large download does not crowd the page cache either. Elsewhere: nothing.
        """
        advise = getattr(os, "posix_fadvise", None)
        if advise is not None:
            with contextlib.suppress(OSError):
                length = self.offset - self._flushed
                advise(self.file.fileno(), self._flushed, length, os.POSIX_FADV_DONTNEED)
        self._flushed = self.offset

    def commit(self) -> None:
        """fsync and rename to the final name; then the final name holds the whole file."""
        os.fsync(self.file.fileno())
        os.replace(self.path, self.final)
        fsync_dir(self.final.parent)
        with contextlib.suppress(FileNotFoundError):
            self.meta_path.unlink()

    def discard(self) -> None:
        """Remove the ``.part`` and its validator (the final file is already complete)."""
        for path in (self.path, self.meta_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class Writer:
    """Writes and hashes chunks on a helper thread while the caller reads the network.

    File writes and SHA-256 both release the GIL, so with two cores a download runs at the
    pace of the slower side rather than the sum of both. The queue is bounded, so memory
    stays flat when the disk is slower than the network. Leaving the ``with`` block always
    drains the queue first, so the ``.part`` and its offset agree afterwards.
    """

    def __init__(self, part: PartFile, depth: int = 8) -> None:
        import queue
        import threading

        self._part = part
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="lumen-download-writer")
        self._thread.daemon = True

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_type is None:
            self._raise()

    def put(self, chunk: bytes) -> None:
        if self._error is not None:
            self._raise()
        self._queue.put(chunk)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:  # after a failure keep draining, so put() never blocks
                try:
                    self._part.write(chunk)
                except OSError as exc:
                    self._error = exc

    def _raise(self) -> None:
        assert self._error is not None
        raise DownloadError(
            f"cannot write {self._part.path}: {self._error.strerror or self._error}",
            hint="Free some space (or fix the permissions) and rerun to resume.",
        )


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in *path*, or None if it is missing, unreadable or not an object."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, best effort
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _new_hasher(checksum: bool) -> hashlib._Hash | None:
    # On a fast link SHA-256 is the slowest step of the writer thread: skip it unless asked.
    return hashlib.sha256() if checksum else None


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 of the file at *path*, read in chunks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            hasher.update(chunk)
    return hasher.hexdigest()
