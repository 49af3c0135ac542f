"""Fetching one result file: streaming, Range resume, atomic rename, integrity.

How one file reaches its final name (``Downloader.fetch``):

1. ``NAME.part`` is opened and locked, so two ``lumen`` processes saving the same file take
   turns instead of interleaving bytes; the second then finds the file saved.
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
   retried through the one retry loop; 403/404/410 are not. The attempt count starts afresh
   whenever the ``.part`` grows past its previous best, so a flaky link finishes a large file.
5. The size must equal what the server announced; then flush, fsync, ``os.replace`` to
   ``NAME`` and fsync the directory.

The download client holds no key (``api/transport.py``): no credential header on any hop.

Speed (see ``benchmarks/download.md``): sockets are read 1 MiB at a time, a helper thread
writes and hashes while the main thread reads, the kernel is asked to start writing to disk
every 32 MiB so the final fsync is short, and the progress bar moves once per ``chunk_size``
(or per quarter second on a slow link).
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from lumen_cli.api.retry import (
    RetryNote,
    RetryPolicy,
    TryAgain,
    call_with_retries,
    retry_after,
    retryable_status,
)
from lumen_cli.api.transport import READ_TIMEOUT, new_client
from lumen_cli.download.part import PartFile, Writer, file_sha256
from lumen_cli.errors import BadInput, DownloadError, describe_exception
from lumen_cli.net import is_http_url, public_url

if TYPE_CHECKING:
    import random

    import httpx

    from lumen_cli.clock import Clock

PROGRESS_SECONDS = 0.25  # the bar moves at least this often on a slow link
DEFAULT_MAX_BYTES = 8 << 30  # the `max_download_size` setting's default: no clip is 8 GiB
STALL_SECONDS = 60.0  # an attempt that receives less than STALL_BYTES in this long has stalled
STALL_BYTES = 16 << 10
PROGRESS_BYTES = 64 << 10  # growth that counts as progress (and starts the retries afresh)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)
_EXPIRED_HINT = "The signed URL may have expired; rerun `lumen download {id}` to get a fresh one."


class Progress(Protocol):
    """Where the downloader reports progress (``output.progress.DownloadProgress``)."""

    def track(self, name: str, total: int | None, completed: int) -> Any:
        """Start (or resume) the display of file *name*; returns a handle for ``advance``."""

    def advance(self, task: Any, completed: int) -> None: ...

    def note(self, text: str) -> None:
        """A line for people (a retry, say)."""

    def close(self) -> None: ...


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


class _Complete(Exception):
    """The ``.part`` already holds the whole file (a 416 at exactly its size)."""


class _AlreadySaved(Exception):
    """The final file exists and has the size the server announces."""


class Downloader:
    """Fetches result files: resumable, atomic, byte-exact. Use as a context manager.

    *progress* (if given) hears about every file and retry; without it nothing is shown.
    *clock* paces the retries, so tests spend no time in backoff.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        progress: Progress | None = None,
        retry: RetryPolicy | None = None,
        chunk_size: int = 1 << 20,
        read_timeout: float = READ_TIMEOUT,
        rng: random.Random | None = None,
        checksum: bool = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.clock = clock
        self.checksum = checksum
        self.max_bytes = max_bytes
        self.stall_seconds = stall_seconds
        self.retry = retry or RetryPolicy()
        self.chunk_size = chunk_size
        self.read_timeout = read_timeout
        self.progress = progress
        self._rng = rng
        self._http: httpx.Client | None = None

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the progress display and close the connections."""
        if self.progress is not None:
            self.progress.close()
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- one file ----------------------------------------------------------------------

    def fetch(self, url: str, path: Path, *, job_id: str = "", force: bool = False) -> Saved:
        """Save *url* at *path* (see the module docstring for every step)."""
        if not is_http_url(url):
            raise DownloadError(f"refusing to download a non-http(s) URL: {public_url(url)}")
        if path.is_dir():
            raise BadInput(f"{path} is a directory", hint="End -o with '/' to save into it.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"cannot create the directory {path.parent}: {exc.strerror}") from None
        part = PartFile(path, self.chunk_size, checksum=self.checksum)
        try:
            part.open()
        except OSError as exc:
            raise BadInput(f"cannot write {part.path}: {exc.strerror}") from None
        try:
            return self._fetch_into(part, url, path, job_id=job_id, force=force)
        except OSError as exc:  # a full disk, a permission, a symlink planted meanwhile
            raise DownloadError(
                f"cannot write {exc.filename or part.path}: {exc.strerror or exc}",
                hint="Free some space (or fix the permissions) and rerun to resume.",
            ) from None
        finally:
            if part.offset == 0:
                part.discard()  # nothing to resume: leave no empty .part behind
            part.close()

    def _fetch_into(
        self, part: PartFile, url: str, path: Path, *, job_id: str, force: bool
    ) -> Saved:
        existing = None if force else _size_of(path)
        if force:
            part.restart()
        elif existing is None:
            part.load()
        try:
            self._transfer(url, part, job_id=job_id, existing=existing)
        except _AlreadySaved:
            part.discard()
            digest = file_sha256(path) if self.checksum else None
            return Saved(job_id, url, path.absolute(), existing or 0, digest, True)
        if part.total is not None and part.offset != part.total:  # never expected
            raise DownloadError(f"{part.path} holds {part.offset} of {part.total} bytes")
        part.commit()
        digest = part.hasher.hexdigest() if part.hasher is not None else None
        return Saved(job_id, url, path.absolute(), part.offset, digest, False)

    def _transfer(self, url: str, part: PartFile, *, job_id: str, existing: int | None) -> None:
        """Attempt until the ``.part`` is complete, through the one retry loop."""

        def attempt() -> None:
            with contextlib.suppress(_Complete):  # a 416 at exactly the .part's size
                self._attempt(url, part, job_id=job_id, existing=existing)

        def grew() -> bool:
            # A trickle of bytes is no progress: a real step forward, or a whole answer (a
            # server that caps ranges), starts the count afresh.
            if part.offset > part.best and (
                part.offset >= part.best + PROGRESS_BYTES or part.answered_whole
            ):
                part.best = part.offset
                return True
            return False

        def note(retry: RetryNote) -> None:
            if self.progress is not None:
                self.progress.note(f"{part.final.name}: {retry.describe()}")

        call_with_retries(
            attempt,
            policy=self.retry,
            clock=self.clock,
            rng=self._rng,
            on_retry=note,
            made_progress=grew,
        )

    def _retry(
        self, url: str, part: PartFile, reason: str, *, delay: float | None = None
    ) -> TryAgain:
        """Another attempt may mend *reason*; if none does, the error says what is kept."""
        kept = part.offset
        hint = f"{kept} bytes are kept in {part.path}; rerun the same command to resume."
        error = DownloadError(
            f"could not download {public_url(url)}: {reason}", hint=hint if kept else None
        )
        return TryAgain(error, delay=delay, reason=reason)

    def _attempt(self, url: str, part: PartFile, *, job_id: str, existing: int | None) -> None:
        """One GET: check the answer, then stream its body into the ``.part``."""
        import httpx

        from lumen_cli.api.network import RefusedAddress

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
                self._receive(response, url, part, end)
        except (httpx.UnsupportedProtocol, RefusedAddress) as exc:
            raise DownloadError(f"cannot download {public_url(url)}: {exc}") from None
        except httpx.TooManyRedirects:
            raise DownloadError(f"too many redirects for {public_url(url)}") from None
        except httpx.TransportError as exc:
            raise self._retry(url, part, f"connection failed ({describe_exception(exc)})") from None

    def _accept(
        self, response: httpx.Response, url: str, part: PartFile, *, job_id: str
    ) -> int | None:
        """Decide what the answer means for the ``.part``; return the offset the body ends at.

        Truncates the ``.part`` when the answer is the whole file, raises ``TryAgain`` or
        ``DownloadError`` when it cannot be used.
        """
        status = response.status_code
        if status == 416 and part.offset:
            match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match and int(match.group(1)) == part.offset and part.total in (None, part.offset):
                part.total = part.offset  # killed after the last byte, before the rename
                raise _Complete
            part.restart()
            raise self._retry(url, part, "the server refused to resume; starting over", delay=0.0)
        if status >= 400:
            raise self._status_failure(response, url, part, job_id)
        if status == 200:
            if part.offset:
                part.restart()  # the whole file again: never append it to what we have
            total = _content_length(response)
            self._check_size(url, total)
            part.begin(url, total, _validator(response))
            return total
        if status == 206:
            return self._accept_partial(response, url, part)
        raise DownloadError(f"unexpected answer HTTP {status} for {public_url(url)}")

    def _accept_partial(self, response: httpx.Response, url: str, part: PartFile) -> int:
        """A 206 must continue exactly where the ``.part`` ends, of the same file."""
        span = parse_content_range(response.headers.get("Content-Range"))
        if span is None:
            self._wrong_bytes(url, part, "a 206 without a usable Content-Range")
        first, last, total = span
        if first != part.offset:
            self._wrong_bytes(url, part, f"bytes from offset {first} when asked for {part.offset}")
        if part.total is not None and total is not None and total != part.total:
            self._wrong_bytes(url, part, f"a file of {total} bytes, not {part.total}: it changed")
        length = _content_length(response)
        if length is not None and length != last - first + 1:
            self._wrong_bytes(url, part, f"Content-Length {length} for the range {first}-{last}")
        self._check_size(url, total)
        if first == 0:
            part.begin(url, total, _validator(response))
        elif part.total is None:
            part.total = total
        return last + 1

    def _check_size(self, url: str, total: int | None) -> None:
        if total is not None and total > self.max_bytes:
            raise DownloadError(
                f"{public_url(url)} is {total} bytes, more than max_download_size "
                f"({self.max_bytes} bytes); nothing was downloaded",
                hint="Raise it with `lumen config set max_download_size 20G` if that is right.",
            )

    def _wrong_bytes(self, url: str, part: PartFile, what: str) -> NoReturn:
        """The server answered other bytes than asked: start over once, then give up."""
        part.restarts += 1
        had = part.offset
        part.restart()
        if part.restarts > 1:
            raise DownloadError(
                f"the server sent {what}, again after a clean restart; "
                f"nothing was saved at {part.final}"
            )
        raise self._retry(
            url, part, f"the server sent {what}; starting over from byte 0 (had {had})", delay=0.0
        )

    def _receive(self, response: httpx.Response, url: str, part: PartFile, end: int | None) -> None:
        """Stream the body into the ``.part``; the byte count must reach *end* exactly."""
        part.answered_whole = False
        shown = None
        if self.progress is not None:
            shown = self.progress.track(part.final.name, end, part.offset)
        received = reported = part.offset
        reported_at = time.monotonic()
        # The server may announce no size and never stop, or send a byte a minute: stop at
        # max_download_size, and end an attempt that receives too little for too long.
        limit = end if end is not None else self.max_bytes
        window_start, window_bytes = time.monotonic(), 0
        stalled = too_much = False
        with Writer(part) as writer:
            for chunk in response.iter_raw():
                received += len(chunk)
                if received > limit:
                    too_much = True
                    break
                writer.put(chunk)
                window_bytes += len(chunk)
                if window_bytes >= STALL_BYTES:
                    window_start, window_bytes = time.monotonic(), 0
                elif time.monotonic() - window_start > self.stall_seconds:
                    stalled = True
                    break
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
            if end is not None:
                raise DownloadError(
                    f"the server sent more bytes than the {end} it announced for {part.final}"
                )
            raise DownloadError(
                f"{public_url(url)} sent more than max_download_size ({self.max_bytes} bytes) "
                f"with no size announced; stopped, nothing was saved at {part.final}",
                hint="Raise it with `lumen config set max_download_size 20G` if that is right.",
            )
        if stalled:
            reason = f"the download stalled (under {STALL_BYTES} bytes in {self.stall_seconds:g} s)"
            raise self._retry(url, part, reason)
        if shown is not None:
            self._advance(shown, part.offset)
        if end is not None and part.offset < end:
            raise self._retry(url, part, f"the connection closed at byte {part.offset} of {end}")
        if part.total is not None and part.offset < part.total:
            # A 206 for less than was asked (some servers cap ranges): ask for the rest.
            part.answered_whole = True
            reason = f"the server sent up to byte {part.offset} of {part.total}"
            raise self._retry(url, part, reason, delay=0.0)

    def _advance(self, task: Any, completed: int) -> None:
        if self.progress is not None:
            self.progress.advance(task, completed)

    def _status_failure(
        self, response: httpx.Response, url: str, part: PartFile, job_id: str
    ) -> Exception:
        """``TryAgain`` for 429/5xx (after Retry-After), ``DownloadError`` for the rest."""
        status = response.status_code
        what = f"HTTP {status} {response.reason_phrase}".strip()
        if retryable_status(status):
            delay = retry_after(response.headers, self.retry, self.clock.time())
            return self._retry(url, part, what, delay=delay)
        hint = None
        if status in (403, 410):
            hint = _EXPIRED_HINT.format(id=job_id or "ID")
        elif status == 404:
            what += ": the server has no file at this URL"
            hint = _EXPIRED_HINT.format(id=job_id or "ID").replace("The signed", "A signed")
        return DownloadError(f"could not download {public_url(url)}: {what}", hint=hint)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = new_client(
                follow_redirects=True,
                headers={"Accept-Encoding": "identity"},
                read_timeout=self.read_timeout,
                refuse_link_local=True,  # result URLs and their redirects come from outside
            )
        return self._http


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


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
