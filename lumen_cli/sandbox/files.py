"""Result files: the shipped MP4 assets, the deterministic ``/files/blob/{size}.bin`` content,
files uploaded to the sandbox's own file host (``UploadStore``), the servable ``Content``
record with its ETag, and ``Range`` header parsing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from email.utils import formatdate
from functools import lru_cache
from importlib import resources

# One clip per orientation is shipped. 4:3 and 3:4 are exactly as far (in log ratio) from 1:1 as
# from 16:9 / 9:16, so they keep their orientation; 21:9 is nearest to 16:9.
ASSET_FOR_RATIO = {
    "16:9": "16x9.mp4",
    "21:9": "16x9.mp4",
    "4:3": "16x9.mp4",
    "9:16": "9x16.mp4",
    "3:4": "9x16.mp4",
    "1:1": "1x1.mp4",
}

CHUNK = 64 * 1024
MAX_BLOB = 1 << 40
BLOB_PATTERN_LEN = 64 * 1024
BLOB_LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)  # blobs never change


@dataclasses.dataclass(frozen=True)
class Content:
    """A servable byte sequence: size, validators, and a reader of ``[start, stop)`` chunks."""

    size: int
    etag: str
    last_modified: str
    content_type: str
    read: Callable[[int, int, int], Iterator[bytes]]  # (start, stop, chunk size)


@lru_cache(maxsize=8)
def asset_bytes(name: str) -> bytes:
    """The bytes of a shipped MP4 (read once, they are a few KB)."""
    return (resources.files("lumen_cli.sandbox") / "assets" / name).read_bytes()


def asset_content(name: str, last_modified: float) -> Content:
    """The shipped MP4 *name* as servable content, last modified at *last_modified*."""
    return bytes_content(asset_bytes(name), "video/mp4", last_modified)


@lru_cache(maxsize=16)
def _blob_pattern(size: int) -> bytes:
    """64 KiB of hash output seeded by *size*: blob bytes repeat it, so any offset is O(1)."""
    seed = f"lumen-sandbox-blob:{size}:".encode()
    blocks = BLOB_PATTERN_LEN // hashlib.sha256().digest_size
    return b"".join(hashlib.sha256(seed + str(i).encode()).digest() for i in range(blocks))


def iter_blob(
    size: int, start: int = 0, stop: int | None = None, chunk: int = CHUNK
) -> Iterator[bytes]:
    """Yield bytes ``[start, stop)`` of the deterministic blob of *size* bytes, in chunks."""
    pattern = _blob_pattern(size)
    stop = size if stop is None else min(stop, size)
    pos = start
    while pos < stop:
        offset = pos % BLOB_PATTERN_LEN
        count = min(BLOB_PATTERN_LEN - offset, stop - pos, chunk)
        yield pattern[offset : offset + count]
        pos += count


def blob_bytes(size: int, start: int = 0, stop: int | None = None) -> bytes:
    """Bytes ``[start, stop)`` of ``GET /files/blob/{size}.bin``, for tests to compare against."""
    return b"".join(iter_blob(size, start, stop))


def blob_content(size: int) -> Content:
    """``GET /files/blob/{size}.bin`` as servable content."""
    # The blob is a function of its size, so a hash of the size is a valid strong validator.
    etag = '"b' + hashlib.sha256(f"blob:{size}".encode()).hexdigest()[:31] + '"'
    return Content(
        size,
        etag,
        BLOB_LAST_MODIFIED,
        "application/octet-stream",
        lambda start, stop, chunk: iter_blob(size, start, stop, chunk),
    )


class RangeNotSatisfiable(Exception):
    """The Range header asks only for bytes beyond the end."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte span a ``Range`` header asks for, or None for all.

    Headers we do not handle (other units, several ranges, malformed) are ignored, which the
    HTTP spec allows: the answer is then the whole file with 200. Raises
    :class:`RangeNotSatisfiable` when the span starts past the end (the 416 case).
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = (part.strip() for part in spec.partition("-"))
    if not dash or not (first_text or last_text):
        return None
    if not all(text.isdigit() for text in (first_text, last_text) if text):
        return None
    if not first_text:  # "bytes=-K": the last K bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid, so ignored
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(int(last_text), size - 1) if last_text else size - 1


def changed_etag(etag: str) -> str:
    """A different strong ETag derived from *etag* (the ``change_etag`` fault serves it)."""
    return '"' + hashlib.sha256(b"changed:" + etag.encode()).hexdigest()[:32] + '"'


# -- uploaded files ------------------------------------------------------------------------------

MAX_UPLOAD = 100 << 20  # bytes of one file PUT to /uploads/ (lumen's default max_upload_size)
MAX_UPLOADS_TOTAL = 256 << 20  # bytes kept in all; the oldest files go first
UPLOAD_NAME = re.compile(r"([0-9a-f]{64})(\.[a-z0-9]{1,5})")


class UploadStore:
    """Files PUT to ``/uploads/{sha256}{ext}``, kept in memory (never on disk) while the
    sandbox runs, at most ``MAX_UPLOADS_TOTAL`` bytes in all: the oldest go first.
    Safe to use from any thread."""

    def __init__(self, total: int = MAX_UPLOADS_TOTAL) -> None:
        self.total = total
        self._files: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, name: str, data: bytes, when: float) -> None:
        with self._lock:
            self._files.pop(name, None)
            self._files[name] = (data, when)
            size = sum(len(stored) for stored, _ in self._files.values())
            while size > self.total and len(self._files) > 1:
                _, (dropped, _) = self._files.popitem(last=False)
                size -= len(dropped)

    def get(self, name: str) -> tuple[bytes, float] | None:
        """The bytes of file *name* and when they were stored, or None."""
        with self._lock:
            return self._files.get(name)

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)


def bytes_content(
    data: bytes, content_type: str, last_modified: float, *, sha256: str | None = None
) -> Content:
    """*data* as servable content (*sha256*: its digest, when known, saves hashing it)."""

    def read(start: int, stop: int, chunk: int) -> Iterator[bytes]:
        for pos in range(start, stop, chunk):
            yield data[pos : min(pos + chunk, stop)]

    etag = '"' + (sha256 or hashlib.sha256(data).hexdigest())[:32] + '"'
    return Content(len(data), etag, formatdate(last_modified, usegmt=True), content_type, read)
