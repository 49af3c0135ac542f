"""Result downloads: streaming, Range resume, atomic rename, integrity.

How one file reaches its final name (``Downloader.fetch``):

1. ``NAME.part`` is opened and locked (``flock``), so two ``lumen`` processes saving the same
   file take turns instead of interleaving bytes; the second then finds the file saved.
2. If ``NAME`` already exists it is *complete* when its size equals the size the server
   announces for the first GET (Content-Length, or the total of Content-Range). That costs no
   extra request (no HEAD: a signed URL is often valid for GET only), and a final name only
   ever holds a complete file because of step 5. A different size is someone else's file: it
   is left alone unless ``force``.
3. Otherwise the bytes stream into ``NAME.part``. A ``.part`` left by a cut connection or a
   killed run is resumed with ``Range: bytes=N-`` and ``If-Range`` (the strong ETag, or
   Last-Modified, kept in ``NAME.part.json``), after hashing what it already holds.
4. The server's answer decides: 206 from offset N appends; 200 (Range ignored, or If-Range
   did not match) truncates the ``.part`` and starts clean, never appending a second copy;
   a 206 from another offset restarts once, then fails. 429/5xx and transport errors are
   retried with backoff; 403/404/410 are not. The attempt counter resets whenever the
   ``.part`` grows past its previous best, so a flaky link finishes a large file.
5. The size must equal what the server announced; then flush, fsync, ``os.replace`` to
   ``NAME`` and fsync the directory.

The download client never carries credentials: it is a separate ``httpx.Client`` with no
Authorization header and no cookie jar, and every redirect hop is checked. httpx and rich
are imported only here, inside the functions that use them.

Speed (see ``benchmarks/download.md``): sockets are read 1 MiB at a time, a helper thread
writes and hashes while the main thread reads, the kernel is asked to start writing to disk
every 32 MiB so the final fsync is short, and the progress bar moves once per ``chunk_size``
(or per quarter second on a slow link).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from lumen_cli.errors import BadInput, DownloadError, LumenError, describe_exception
from lumen_cli.fsutil import atomic_write, fsync_dir

if TYPE_CHECKING:
    import io
    import random
    from collections.abc import Sequence

    import httpx
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from lumen_cli.api.models import Job
    from lumen_cli.api.retry import RetryPolicy
    from lumen_cli.clock import Clock
    from lumen_cli.history import JobRecord

DEFAULT_EXTENSION = ".mp4"
PART_SUFFIX = ".part"
META_SUFFIX = ".part.json"  # beside NAME.part: the validator a rerun resumes with
SIDECAR_SUFFIX = ".json"  # NAME.mp4.json: never collides with a video called NAME.json
PLACEHOLDERS = ("id", "index", "model", "prompt", "date")
SLUG_MAX_CHARS = 60
PROGRESS_SECONDS = 0.25  # the bar moves at least this often on a slow link
# File names are at most 255 bytes on common file systems; keep room for ".part.json".
NAME_MAX_BYTES = 255 - len(META_SUFFIX)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
# Headers that could identify or authenticate the user: never sent with a download.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")

_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)
_EXPIRED_HINT = "The signed URL may have expired; rerun `lumen download {id}` to get a fresh one."


@dataclass(frozen=True)
class Saved:
    """One result file on disk. ``skipped``: a complete file was already there."""

    job_id: str
    url: str
    path: Path
    bytes: int
    sha256: str | None  # computed only when asked for (--json, --sidecar): it costs time
    skipped: bool

    def to_json(self) -> dict[str, Any]:
        """The shape ``lumen download --json`` prints, one per file."""
        return {
            "id": self.job_id,
            "url": self.url,
            "path": str(self.path),
            "bytes": self.bytes,
            "sha256": self.sha256,
            "skipped": self.skipped,
        }


# ---------------------------------------------------------------------------------------
# Names: templates, slugs, extensions
# ---------------------------------------------------------------------------------------


def slugify(text: str, *, max_chars: int = SLUG_MAX_CHARS) -> str:
    """A file-name-safe slug: letters and digits (any script) joined by ``-``, lower case.

    Separators, dots, control and bidi characters all become ``-``, so a slug can never
    be ``..`` or hold a path separator. Unicode letters are kept: a Chinese prompt must not
    slug to nothing. May return ``""``.
    """
    normal = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(ch if ch.isalnum() or ch == "_" else "-" for ch in normal)
    slug = re.sub(r"-{2,}", "-", kept).strip("-")
    return slug[:max_chars].rstrip("-")


def safe_id(job_id: str) -> str:
    """*job_id* as a file-name part: ASCII letters, digits, ``_`` and ``-`` (case kept)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", job_id).strip("-") or "job"


def url_extension(url: str) -> str:
    """The file extension of *url*'s path if it is a plain one (``.mp4``), else ``.mp4``.

    The URL decides nothing but this: its name and query never reach the file system.
    """
    try:
        name = urlsplit(url).path.rsplit("/", 1)[-1]
    except ValueError:
        return DEFAULT_EXTENSION
    _, dot, ext = name.rpartition(".")
    candidate = f".{ext.lower()}"
    return candidate if dot and _EXTENSION.fullmatch(candidate) else DEFAULT_EXTENSION


def output_paths(
    template: str | None,
    *,
    job_id: str,
    count: int,
    model: str | None,
    prompt: str | None,
    created: float | None,
    base_dir: Path,
    extensions: Sequence[str] = (),
) -> list[Path]:
    """Where each of a job's *count* result files goes.

    *template* is ``None`` (``{id}`` in *base_dir*), a directory (one that exists, or any
    path ending in ``/``: ``DIR/{id}``), or a path with placeholders ``{id}``, ``{index}``
    (1, 2, ...), ``{model}``, ``{prompt}`` (a slug of at most 60 characters) and ``{date}``
    (YYYY-MM-DD of creation, local time). Placeholder values are made safe, so only the
    user's own template decides directories. A name without an extension gets the URL's
    (``extensions[i]``, default ``.mp4``). Several files and no ``{index}``: ``-1``,
    ``-2``... go before the extension. Relative paths are taken from *base_dir*.
    """
    pattern = _pattern(template, base_dir)
    values = {
        "id": safe_id(job_id),
        "model": slugify(model or "") or "model",
        "prompt": slugify(prompt or "") or "untitled",
        "date": time.strftime("%Y-%m-%d", time.localtime(created if created else time.time())),
    }
    numbered = count > 1 and "{index}" not in pattern
    paths = []
    for index in range(count):
        ext = extensions[index] if index < len(extensions) else DEFAULT_EXTENSION
        rendered = Path(_render(pattern, {**values, "index": str(index + 1)}))
        name = rendered.name if rendered.suffix else rendered.name + ext
        if numbered:
            stem, suffix = os.path.splitext(name)
            name = f"{stem}-{index + 1}{suffix}"
        if len(name.encode("utf-8")) > NAME_MAX_BYTES:
            raise BadInput(
                f"the file name {name[:40]}... is too long ({len(name.encode())} bytes)",
                hint="Use a shorter -o template: {prompt} is already up to 60 characters.",
            )
        paths.append(base_dir / rendered.with_name(name))
    return paths


def _pattern(template: str | None, base_dir: Path) -> str:
    """The template as a path pattern: a directory (or nothing) means ``DIR/{id}``."""
    if not template:
        return "{id}"
    if template == "-":
        raise BadInput("-o - (standard output) is not supported: videos are saved to files")
    expanded = os.path.expanduser(template)
    unknown = [name for name in _PLACEHOLDER.findall(expanded) if name not in PLACEHOLDERS]
    if unknown:
        raise BadInput(
            f"unknown placeholder {{{unknown[0]}}} in -o {template!r}",
            hint="Placeholders: " + " ".join(f"{{{name}}}" for name in PLACEHOLDERS) + ".",
        )
    if expanded.endswith(("/", os.sep)) or (base_dir / expanded).is_dir():
        return os.path.join(expanded, "{id}")
    return expanded


def _render(pattern: str, values: dict[str, str]) -> str:
    # Not str.format: "{id.__class__}" and stray braces must not mean anything.
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), pattern)


# ---------------------------------------------------------------------------------------
# The .part file
# ---------------------------------------------------------------------------------------


class _PartFile:
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
        self.best = 0  # the largest offset reached in this run: progress resets retries
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
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
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
        meta = _read_json(self.meta_path) if size else None
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
        document = {"url": _public_url(url), "total": total, "validator": validator}
        # Renamed into place but not fsynced: after a crash a missing or torn sidecar only
        # means load() starts over, and two fsyncs per file would cost more than they save.
        temp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        temp.write_text(json.dumps(document))
        os.replace(temp, self.meta_path)

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


class _Writer:
    """Writes and hashes chunks on a helper thread while the caller reads the network.

    File writes and SHA-256 both release the GIL, so with two cores a download runs at the
    pace of the slower side rather than the sum of both. The queue is bounded, so memory
    stays flat when the disk is slower than the network. Leaving the ``with`` block always
    drains the queue first, so the ``.part`` and its offset agree afterwards.
    """

    def __init__(self, part: _PartFile, depth: int = 8) -> None:
        import queue
        import threading

        self._part = part
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="lumen-download-writer")
        self._thread.daemon = True

    def __enter__(self) -> _Writer:
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


def _read_json(path: Path) -> dict[str, Any] | None:
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


# ---------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------


class _Retry(Exception):
    """An attempt failed in a way that another attempt may fix."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay  # None: exponential backoff; else this many seconds


class _Complete(Exception):
    """The ``.part`` already holds the whole file (a 416 at exactly its size)."""


class _AlreadySaved(Exception):
    """The final file exists and has the size the server announces."""


def _public_url(url: str) -> str:
    """*url* without its query: signed URLs carry temporary credentials there."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes FIRST-LAST/TOTAL`` as ``(first, last, total or None)``; None if malformed."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _validator(response: httpx.Response) -> str | None:
    """What If-Range may carry on resume: a strong ETag, else Last-Modified, else nothing."""
    etag = str(response.headers.get("ETag", "")).strip()
    if etag and not etag.startswith("W/"):
        return etag
    return str(response.headers.get("Last-Modified", "")).strip() or None


def _strip_credentials(request: httpx.Request) -> None:
    """Request hook, run on every hop (redirects too): no credential header ever leaves."""
    for name in CREDENTIAL_HEADERS:
        if name in request.headers:
            del request.headers[name]


# ---------------------------------------------------------------------------------------
# The downloader
# ---------------------------------------------------------------------------------------


class Downloader:
    """Fetches result files: resumable, atomic, byte-exact. Use as a context manager.

    *progress* shows a rich progress bar per file on *console* (default: stderr); without
    it nothing is printed. *clock* paces the retries, so tests spend no time in backoff.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        progress: bool,
        retry: RetryPolicy | None = None,
        chunk_size: int = 1 << 20,
        console: Console | None = None,
        read_timeout: float = READ_TIMEOUT,
        rng: random.Random | None = None,
        checksum: bool = True,
    ) -> None:
        from lumen_cli.api.retry import RetryPolicy

        self.clock = clock
        self.checksum = checksum
        self.retry = retry or RetryPolicy()
        self.chunk_size = chunk_size
        self.read_timeout = read_timeout
        self._show_progress = progress
        self._console = console
        self._rng = rng
        self._http: httpx.Client | None = None
        self._progress: Progress | None = None

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the progress display and close the connections."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- jobs --------------------------------------------------------------------------

    def fetch_job(
        self,
        job: Job,
        *,
        record: JobRecord | None,
        template: str | None,
        force: bool = False,
        sidecar: bool = False,
        base_dir: Path | None = None,
    ) -> list[Saved]:
        """Save every result file of the succeeded *job*; see ``output_paths`` for names.

        *record* (the history's view of the job) supplies the prompt, model and request for
        templates and sidecars. Raises ``DownloadError`` (or ``BadInput``) on the first file
        that cannot be saved; the files saved before it stay.
        """
        if job.status != "succeeded":
            raise BadInput(f"job {job.id} has not succeeded (it is {job.status})")
        if not job.urls:
            raise DownloadError(f"job {job.id} succeeded but lists no result files")
        prompt = record.prompt if record and record.prompt else job.raw.get("prompt")
        paths = output_paths(
            template,
            job_id=job.id,
            count=len(job.urls),
            model=job.model or (record.model if record else None),
            prompt=prompt if isinstance(prompt, str) else None,
            created=_created(job, record),
            base_dir=base_dir or Path.cwd(),
            extensions=[url_extension(url) for url in job.urls],
        )
        saved = []
        for url, path in zip(job.urls, paths, strict=True):
            item = self.fetch(url, path, job_id=job.id, force=force)
            if sidecar:
                write_sidecar(item, job, record)
            saved.append(item)
        return saved

    # -- one file ----------------------------------------------------------------------

    def fetch(self, url: str, path: Path, *, job_id: str = "", force: bool = False) -> Saved:
        """Save *url* at *path* (see the module docstring for every step)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadError(f"refusing to download a non-http(s) URL: {_public_url(url)}")
        if path.is_dir():
            raise BadInput(f"{path} is a directory", hint="End -o with '/' to save into it.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"cannot create the directory {path.parent}: {exc.strerror}") from None
        part = _PartFile(path, self.chunk_size, checksum=self.checksum)
        try:
            part.open()
        except OSError as exc:
            raise BadInput(f"cannot write {part.path}: {exc.strerror}") from None
        done = False
        try:
            existing = None if force else _size_of(path)
            if force:
                part.restart()
            elif existing is None:
                part.load()
            try:
                self._transfer(url, part, job_id=job_id, existing=existing)
            except _AlreadySaved:
                part.discard()
                done = True
                digest = file_sha256(path) if self.checksum else None
                return Saved(job_id, url, path.absolute(), existing or 0, digest, True)
            if part.total is not None and part.offset != part.total:  # never expected
                raise DownloadError(f"{part.path} holds {part.offset} of {part.total} bytes")
            part.commit()
            done = True
            digest = part.hasher.hexdigest() if part.hasher is not None else None
            return Saved(job_id, url, path.absolute(), part.offset, digest, False)
        finally:
            if not done and part.offset == 0:
                part.discard()  # nothing to resume: leave no empty .part behind
            part.close()

    def _transfer(self, url: str, part: _PartFile, *, job_id: str, existing: int | None) -> None:
        """Attempt until the ``.part`` is complete; bounded retries, reset by progress."""
        attempt = 0
        calm_since = self.clock.monotonic()  # when the .part last grew past its best
        while True:
            attempt += 1
            try:
                self._attempt(url, part, job_id=job_id, existing=existing)
                return
            except _Complete:
                return
            except _Retry as failure:
                if part.offset > part.best:
                    part.best = part.offset
                    attempt, calm_since = 1, self.clock.monotonic()
                delay = failure.delay
                if delay is None:
                    delay = self.retry.backoff(attempt, self._rng)
                waited = self.clock.monotonic() - calm_since
                if attempt >= self.retry.max_attempts or waited + delay > self.retry.deadline:
                    raise self._gave_up(url, part, failure.reason, attempt) from None
                self._note(f"{part.final.name}: {failure.reason}; retrying in {delay:.1f} s")
                self.clock.sleep(delay)

    def _attempt(self, url: str, part: _PartFile, *, job_id: str, existing: int | None) -> None:
        """One GET: check the answer, then stream its body into the ``.part``."""
        import httpx

        headers = {}
        if part.offset:
            headers["Range"] = f"bytes={part.offset}-"
            if part.validator:
                headers["If-Range"] = part.validator
        try:
            with self._client().stream("GET", url, headers=headers) as response:
                if existing is not None and response.status_code in (200, 206):
                    _compare_existing(response, part.final, existing)
                end = self._accept(response, url, part, job_id=job_id)
                self._receive(response, part, end)
        except httpx.UnsupportedProtocol as exc:
            raise DownloadError(
                f"cannot download {_public_url(url)}: {describe_exception(exc)}"
            ) from None
        except httpx.TooManyRedirects:
            raise DownloadError(f"too many redirects for {_public_url(url)}") from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed ({describe_exception(exc)})") from None

    def _accept(
        self, response: httpx.Response, url: str, part: _PartFile, *, job_id: str
    ) -> int | None:
        """Decide what the answer means for the ``.part``; return the offset the body ends at.

        Truncates the ``.part`` when the answer is the whole file, raises ``_Retry`` or
        ``DownloadError`` when it cannot be used.
        """
        status = response.status_code
        if status == 416 and part.offset:
            match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match and int(match.group(1)) == part.offset and part.total in (None, part.offset):
                part.total = part.offset  # killed after the last byte, before the rename
                raise _Complete
            part.restart()
            raise _Retry("the server refused to resume; starting over", delay=0.0)
        if status >= 400:
            raise self._status_failure(response, url, job_id)
        if status == 200:
            if part.offset:
                part.restart()  # the whole file again: never append it to what we have
            total = _content_length(response)
            part.begin(url, total, _validator(response))
            return total
        if status == 206:
            return self._accept_partial(response, url, part)
        raise DownloadError(f"unexpected answer HTTP {status} for {_public_url(url)}")

    def _accept_partial(self, response: httpx.Response, url: str, part: _PartFile) -> int:
        """A 206 must continue exactly where the ``.part`` ends, of the same file."""
        span = parse_content_range(response.headers.get("Content-Range"))
        if span is None:
            self._wrong_bytes(part, "a 206 without a usable Content-Range")
        first, last, total = span
        if first != part.offset:
            self._wrong_bytes(part, f"bytes from offset {first} when asked for {part.offset}")
        if part.total is not None and total is not None and total != part.total:
            self._wrong_bytes(part, f"a file of {total} bytes, not {part.total}: it changed")
        length = _content_length(response)
        if length is not None and length != last - first + 1:
            self._wrong_bytes(part, f"Content-Length {length} for the range {first}-{last}")
        if first == 0:
            part.begin(url, total, _validator(response))
        elif part.total is None:
            part.total = total
        return last + 1

    def _wrong_bytes(self, part: _PartFile, what: str) -> NoReturn:
        """The server answered other bytes than asked: start over once, then give up."""
        part.restarts += 1
        had = part.offset
        part.restart()
        if part.restarts > 1:
            raise DownloadError(
                f"the server sent {what}, again after a clean restart; "
                f"nothing was saved at {part.final}"
            )
        raise _Retry(f"the server sent {what}; starting over from byte 0 (had {had})", delay=0.0)

    def _receive(self, response: httpx.Response, part: _PartFile, end: int | None) -> None:
        """Stream the body into the ``.part``; the byte count must reach *end* exactly."""
        shown = self._progress_task(part, end)
        received = reported = part.offset
        reported_at = time.monotonic()
        too_much = False
        with _Writer(part) as writer:
            for chunk in response.iter_raw():
                received += len(chunk)
                if end is not None and received > end:
                    too_much = True
                    break
                writer.put(chunk)
                # Progress moves every chunk_size bytes, or every quarter second on a slow
                # link, never per byte: it must cost nothing.
                if shown is not None and (
                    received - reported >= self.chunk_size
                    or time.monotonic() - reported_at >= PROGRESS_SECONDS
                ):
                    reported, reported_at = received, time.monotonic()
                    self._advance(shown, received)
        # The writer has drained here, even after an error: part.offset is what is on disk.
        if too_much:
            part.restart()
            raise DownloadError(
                f"the server sent more bytes than the {end} it announced for {part.final}"
            )
        if shown is not None:
            self._advance(shown, part.offset)
        if end is not None and part.offset < end:
            raise _Retry(f"the connection closed at byte {part.offset} of {end}")
        if part.total is not None and part.offset < part.total:
            # A 206 for less than was asked (some servers cap ranges): ask for the rest.
            raise _Retry(f"the server sent up to byte {part.offset} of {part.total}", delay=0.0)

    def _status_failure(self, response: httpx.Response, url: str, job_id: str) -> Exception:
        """``_Retry`` for 429/5xx (after Retry-After), ``DownloadError`` for the rest."""
        from lumen_cli.api.retry import parse_retry_after

        status = response.status_code
        what = f"HTTP {status} {response.reason_phrase}".strip()
        if status == 429 or status >= 500:
            after = parse_retry_after(response.headers.get("Retry-After"), self.clock.time())
            delay = None if after is None else min(after, self.retry.retry_after_cap)
            return _Retry(what, delay=delay)
        hint = None
        if status in (403, 410):
            hint = _EXPIRED_HINT.format(id=job_id or "ID")
        elif status == 404:
            what += ": the server has no file at this URL"
            hint = _EXPIRED_HINT.format(id=job_id or "ID").replace("The signed", "A signed")
        return DownloadError(f"could not download {_public_url(url)}: {what}", hint=hint)

    def _gave_up(self, url: str, part: _PartFile, reason: str, attempts: int) -> LumenError:
        kept = part.offset
        hint = (
            f"{kept} bytes are kept in {part.path}; rerun the same command to resume."
            if kept
            else None
        )
        return DownloadError(
            f"could not download {_public_url(url)}: {reason} (gave up after {attempts} attempts)",
            hint=hint,
        )

    # -- plumbing ----------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        """The download client: no credentials, no cookies, no proxy from the environment."""
        if self._http is None:
            import http.cookiejar

            import httpx

            from lumen_cli.api.client import user_agent

            _widen_socket_reads(self.chunk_size)
            # A jar that accepts no cookie: a redirect hop cannot plant one for the next.
            jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            self._http = httpx.Client(
                headers={"User-Agent": user_agent(), "Accept-Encoding": "identity"},
                cookies=jar,
                timeout=httpx.Timeout(self.read_timeout, connect=CONNECT_TIMEOUT),
                follow_redirects=True,
                max_redirects=10,
                trust_env=False,
                event_hooks={"request": [_strip_credentials]},
            )
        return self._http

    def _progress_task(self, part: _PartFile, end: int | None) -> TaskID | None:
        if not self._show_progress:
            return None
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self._console or Console(stderr=True),
                refresh_per_second=4,
                transient=True,  # the command prints one "saved" line per file instead
            )
            self._progress.start()
        for task in self._progress.tasks:
            if task.description == part.final.name and not task.finished:
                self._progress.update(task.id, total=end, completed=part.offset)
                return task.id
        return self._progress.add_task(part.final.name, total=end, completed=part.offset)

    def _advance(self, task: TaskID, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(task, completed=completed)

    def _note(self, text: str) -> None:
        """A retry note above the progress bars; silent when there are none."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)


def _compare_existing(response: httpx.Response, path: Path, existing: int) -> None:
    """Raise ``_AlreadySaved`` if *path* has the size the server announces, else refuse.

    No size announced (a chunked answer): the file is taken as complete, since a final
    name is only ever written whole.
    """
    if response.status_code == 206:
        span = parse_content_range(response.headers.get("Content-Range"))
        total = span[2] if span else None
    else:
        total = _content_length(response)
    if total is None or total == existing:
        raise _AlreadySaved
    raise BadInput(
        f"{path} already exists and differs from the server's file "
        f"({existing} bytes here, {total} there)",
        hint="Pass --force to replace it, or pick another name with -o.",
    )


def _widen_socket_reads(size: int) -> None:
    """Let httpcore read up to *size* bytes per ``recv`` instead of 64 KiB.

    For a large body most of the CPU goes into per-read work (h11 event parsing, buffer
    copies); reading 1 MiB at a time cut a 256 MiB local download from 0.7 s to 0.4 s of
    CPU. ``READ_NUM_BYTES`` is not public API, so this is best effort: if it is gone the
    download is merely slower. Larger reads cost nothing for small JSON answers, since
    ``recv`` returns what is there.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout
        return
    current = getattr(HTTP11Connection, "READ_NUM_BYTES", None)
    if isinstance(current, int) and current < size:
        HTTP11Connection.READ_NUM_BYTES = size


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------------------------
# Sidecars
# ---------------------------------------------------------------------------------------


def sidecar_path(video: Path) -> Path:
    """``NAME.mp4`` -> ``NAME.mp4.json``."""
    return video.with_name(video.name + SIDECAR_SUFFIX)


def write_sidecar(saved: Saved, job: Job, record: JobRecord | None) -> Path:
    """Write ``NAME.mp4.json``: what made this video, where it came from, its checksum."""
    from lumen_cli.api.models import strip_secrets

    created = _created(job, record)
    finished = next(
        (
            job.raw[key]
            for key in ("finished_at", "completed_at", "finished")
            if isinstance(job.raw.get(key), (int, float))
        ),
        None,
    )
    prompt = record.prompt if record and record.prompt else job.raw.get("prompt")
    document = {
        "id": job.id,
        "model": job.model or (record.model if record else None),
        "prompt": prompt,
        "request": strip_secrets(record.request) if record else {},
        "created": _iso(created),
        "finished": _iso(finished),
        "downloaded": _iso(time.time()),
        "url": saved.url,
        "file": saved.path.name,
        "bytes": saved.bytes,
        "sha256": saved.sha256 or file_sha256(saved.path),
    }
    path = sidecar_path(saved.path)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, text.encode("utf-8"), mode=0o644)
    return path


def _created(job: Job, record: JobRecord | None) -> float | None:
    if job.created is not None:
        return float(job.created)
    return record.created_at if record else None


def _iso(timestamp: float | None) -> str | None:
    """UTC ISO 8601 to the second: ``2026-11-25T18:40:19Z``."""
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
