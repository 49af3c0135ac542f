"""Local input files: each checked, then uploaded once, before any job is sent.

The API takes URLs only. With ``upload_command`` set, or under ``--sandbox`` (the sandbox's
own file host), an input flag or batch field may name a local file instead. Then:

1. **Check** (:meth:`LocalFiles.check`), before anything is uploaded or billed: the file
   exists, is a regular file (a symbolic link is refused, a FIFO is never opened for
   reading), can be read, starts like an image (PNG, JPEG, WebP, GIF) or, for
   ``--ref-video``, a video (MP4, MOV, WebM), and is no larger than ``max_upload_size``.
   Its sha256 is computed once per run, however many lines name it.
2. **Find** a URL to reuse (:meth:`Uploads.resolve`): the history keeps, for each file's
   sha256 and each host (a hash of the upload command), the URL and when it was made; one
   younger than ``upload_max_age`` is used again, across runs and across a batch's lines.
3. **Upload** the rest, each distinct file once, a few at a time, under a lock per file
   that every ``lumen`` process shares: a second process given the same file waits and
   reuses the first one's URL. Commands run through ``services.shell`` (no secrets in
   their environment, a timeout, bounded output).
4. **Put the URLs in place** in the request body (:func:`with_urls`).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lumen_cli import media
from lumen_cli.api.request import MEDIA_FLAGS, is_local_path
from lumen_cli.errors import BadInput, ConfigError, LumenError, UploadFailed
from lumen_cli.net import is_http_url, public_url
from lumen_cli.text import byte_size, escape, shorten
from lumen_cli.values import UPLOAD_PLACEHOLDER

if TYPE_CHECKING:
    from lumen_cli.history import History
    from lumen_cli.output import Output
    from lumen_cli.services import Runtime
    from lumen_cli.services.shell import Shell

READ_CHUNK = 1 << 20
MAX_URL_CHARS = 8192
STDERR_LINES = 5  # of a failed command's stderr, quoted in the error
STDERR_CHARS = 600
DEFAULT_WORKERS = 4
MAX_REUSE_NOTES = 3  # files named one by one when their uploads are reused; more: a count
SANDBOX_HOST = "sandbox"
# What a batch line's key holds in place of a local file: its content, not its path or URL.
KEY_PREFIX = "file:sha256:"


@dataclass(frozen=True)
class LocalFile:
    """A checked local file: where it is, what it is, its size and sha256."""

    path: str  # absolute
    given: str  # as the user wrote it, for messages
    kind: str  # a key of media.KINDS
    size: int
    sha256: str
    stamp: tuple[int, int, int, int]  # device, inode, size, mtime (ns): to notice a change

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def ext(self) -> str:
        """The extension of its kind (``.png``), whatever the file is called."""
        return media.extension(self.kind)

    @property
    def remote_name(self) -> str:
        """``{sha256}{ext}``: a name that changes when the content does."""
        return self.sha256 + self.ext


@dataclass(frozen=True)
class LocalInput:
    """A local file in a request: the field (and position in a list) it fills."""

    field: str
    index: int | None
    file: LocalFile

    @property
    def flag(self) -> str:
        return MEDIA_FLAGS[self.field]


@dataclass(frozen=True)
class Resolved:
    """The URL a file will be sent as: reused (with its age), just uploaded, or not yet
    known (``url`` None: a dry run that does not upload)."""

    url: str | None
    uploaded_at: float | None = None
    fresh: bool = False


# -- 1. checking -------------------------------------------------------------------------------


def stamp_of(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


class LocalFiles:
    """Checks local files and hashes each once (a batch names the same file many times)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._known: dict[tuple[str, tuple[int, int, int, int]], LocalFile] = {}

    def inputs(self, body: dict[str, Any]) -> list[LocalInput]:
        """Every local file of a request *body*, each checked; ``BadInput`` for the first
        that cannot be used (with how many more there are)."""
        found: list[LocalInput] = []
        problems: list[str] = []
        hint: str | None = None
        for field, index, value in media_values(body):
            if not is_local_path(value):
                continue
            wanted = media.VIDEO if field == "reference_video_url" else media.IMAGE
            try:
                file = self.check(value, MEDIA_FLAGS[field], wanted)
            except BadInput as error:
                problems.append(error.message)
                hint = hint or error.hint
                continue
            found.append(LocalInput(field, index, file))
        if problems:
            more = len(problems) - 1
            extra = f" (and {more} more: {'; '.join(problems[1:3])}" if more else ""
            extra += "; …)" if more > 2 else (")" if more else "")
            raise BadInput(problems[0] + extra, hint=hint)
        return found

    def check(self, value: str, flag: str, wanted: str) -> LocalFile:
        """The file *value* names, checked for *flag* (a *wanted* image or video)."""
        path = Path(value).expanduser()
        absolute = str(path if path.is_absolute() else Path.cwd() / path)
        label = f"{flag} {shorten(value, 120)}"
        try:
            info = os.lstat(absolute)
        except FileNotFoundError:
            raise BadInput(
                f"{label}: no such file",
                hint="Inputs are local files or URLs; a URL starts with https://.",
            ) from None
        except OSError as exc:
            raise BadInput(f"{label}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(absolute)
            raise BadInput(
                f"{label} is a symbolic link: only regular files are uploaded",
                hint=f"Pass the file it points to: {shorten(target, 160)}",
            )
        if stat.S_ISDIR(info.st_mode):
            raise BadInput(f"{label} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"{label} is not a regular file (a FIFO, socket or device)")
        self._check_size(label, info.st_size)
        known = self._known.get((absolute, stamp_of(info)))
        if known is not None:
            self._check_kind(label, known.kind, wanted)
            return known
        checked = self._read(absolute, value, label, wanted)
        self._known[(absolute, checked.stamp)] = checked
        return checked

    def _check_size(self, label: str, size: int) -> None:
        if size == 0:
            raise BadInput(f"{label} is empty")
        if size > self.max_size:
            raise BadInput(
                f"{label} is {byte_size(size)}: larger than max_upload_size "
                f"({byte_size(self.max_size)})",
                hint="Pass a smaller file, or raise the limit: "
                "`lumen config set max_upload_size 500M`.",
            )

    @staticmethod
    def _check_kind(label: str, kind: str | None, wanted: str) -> str:
        if kind is None:
            raise BadInput(
                f"{label} is not {_a(wanted)}: it does not start as {media.names(wanted)} files do"
            )
        if media.category(kind) != wanted:
            raise BadInput(
                f"{label} is {media.describe(kind)}, not {_a(wanted)} ({media.names(wanted)})"
            )
        return kind

    def _read(self, absolute: str, given: str, label: str, wanted: str) -> LocalFile:
        """Open (never through a link, never blocking on a FIFO), sniff, then hash."""
        from lumen_cli.fsutil import open_regular

        try:
            fd = open_regular(Path(absolute), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise BadInput(f"{label} cannot be read: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            head = handle.read(media.SNIFF_BYTES)
            kind = self._check_kind(label, media.sniff(head), wanted)
            digest = hashlib.sha256(head)
            size = len(head)
            while chunk := handle.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                self._check_size(label, size)
        return LocalFile(absolute, given, kind, size, digest.hexdigest(), stamp_of(info))


def _a(wanted: str) -> str:
    return "an image" if wanted == media.IMAGE else "a video"


def media_values(body: dict[str, Any]) -> Iterator[tuple[str, int | None, str]]:
    """``(field, index in its list or None, value)`` for every image and video input."""
    for field in MEDIA_FLAGS:
        value = body.get(field)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    yield field, index, item
        elif isinstance(value, str):
            yield field, None, value


def with_urls(
    body: dict[str, Any], inputs: Iterable[LocalInput], urls: dict[str, Resolved]
) -> dict[str, Any]:
    """A copy of *body* with each local file whose URL is known replaced by that URL."""
    sent = {name: list(value) if isinstance(value, list) else value for name, value in body.items()}
    for item in inputs:
        url = urls.get(item.file.sha256, Resolved(None)).url
        if url is None:
            continue
        if item.index is None:
            sent[item.field] = url
        else:
            sent[item.field][item.index] = url
    return sent


def key_body(body: dict[str, Any], inputs: Iterable[LocalInput]) -> dict[str, Any]:
    """*body* as a batch line's key sees it: each local file by its content (``file:sha256:…``),
    so the key stays the same whatever URL a run gets for it, wherever the folder moves."""
    marks = {item.file.sha256: Resolved(KEY_PREFIX + item.file.sha256) for item in inputs}
    return with_urls(body, inputs, marks)


# -- 2. and 3. finding and uploading -----------------------------------------------------------


class Host(Protocol):
    """Where local files go: ``upload_command``, or the sandbox's own file host."""

    @property
    def name(self) -> str:
        """Names the host in messages and in the history's record of uploads."""

    def find(self, file: LocalFile) -> Resolved | None:
        """A URL to reuse for *file*, without uploading; None when there is none."""

    def upload(self, file: LocalFile) -> Resolved:
        """Upload *file* (unless another process just did); raises ``LumenError``."""

    def abort(self) -> None:
        """Stop uploads in progress (from another thread: Ctrl-C)."""

    def close(self) -> None: ...


class CommandHost:
    """Uploads with the user's ``upload_command``; remembers URLs in the history."""

    def __init__(self, command: str, *, history: History, max_age: float, timeout: float) -> None:
        self.command = command
        self.history = history
        self.max_age = max_age
        self.timeout = timeout
        self.name = "command:" + hashlib.sha256(command.encode("utf-8")).hexdigest()[:32]
        self._running: set[Shell] = set()
        self._lock = threading.Lock()

    def find(self, file: LocalFile) -> Resolved | None:
        if self.max_age <= 0:
            return None
        since = time.time() - self.max_age
        found = self.history.find_upload(file.sha256, self.name, since=since)
        return Resolved(found.url, found.uploaded_at) if found is not None else None

    def upload(self, file: LocalFile) -> Resolved:
        with self.history.lock_upload(file.sha256, self.name):
            found = self.find(file)  # another process may have uploaded it meanwhile
            if found is not None:
                return found
            url = self._run(file)
            if _changed(file):
                raise UploadFailed(
                    f"{file.given} changed while it was uploaded: its URL is not used",
                    hint="Run the command again once the file is written.",
                )
            record = self.history.record_upload(file.sha256, self.name, url, file.size)
        return Resolved(url, record.uploaded_at, fresh=True)

    def _run(self, file: LocalFile) -> str:
        from lumen_cli.services.shell import Shell

        shell = Shell(fill_command(self.command, file))
        with self._lock:
            self._running.add(shell)
        try:
            finished = shell.run(timeout=self.timeout)
        finally:
            with self._lock:
                self._running.discard(shell)
        what = f"upload_command failed for {shorten(file.given, 120)}"
        if finished.timed_out:
            problem = f"it ran longer than upload_timeout ({self.timeout:g} s) and was stopped"
        elif finished.code < 0:
            problem = f"it was killed by signal {-finished.code}"
        elif finished.code != 0:
            problem = f"it exited {finished.code}"
        else:
            return _url_from(finished.stdout, finished.stderr, file)
        raise UploadFailed(
            f"{what}: {problem}{stderr_tail(finished.stderr)}; nothing was sent to the API",
            hint="Try the command by hand (`lumen config get upload_command`), or see "
            "README, 'Local files'.",
        )

    def abort(self) -> None:
        with self._lock:
            running = list(self._running)
        for shell in running:
            shell.kill()

    def close(self) -> None:
        pass


class SandboxHost:
    """The sandbox's own file host: ``PUT /uploads/…``, kept in the sandbox's memory."""

    name = SANDBOX_HOST

    def __init__(self, base_url: Callable[[], str]) -> None:
        self._base_url = base_url
        self._files: Any = None

    def _host(self) -> Any:
        if self._files is None:
            from lumen_cli.api.filehost import SandboxFileHost

            self._files = SandboxFileHost(self._base_url())
        return self._files

    def find(self, file: LocalFile) -> Resolved | None:
        url = self._host().find(file.remote_name)
        return Resolved(url) if url else None

    def upload(self, file: LocalFile) -> Resolved:
        found = self.find(file)
        if found is not None:
            return found
        url = self._host().put(file.remote_name, _chunks(file), file.size)
        return Resolved(url, time.time(), fresh=True)

    def abort(self) -> None:
        pass

    def close(self) -> None:
        if self._files is not None:
            self._files.close()


class Uploads:
    """The local files of one run: checked by ``files``, uploaded to ``host``."""

    def __init__(self, host: Host, files: LocalFiles, output: Output) -> None:
        self.host = host
        self.files = files
        self.output = output

    def resolve(
        self, inputs: Iterable[LocalInput], *, upload: bool = True, workers: int = DEFAULT_WORKERS
    ) -> dict[str, Resolved]:
        """The URL of every file of *inputs*, by sha256: reused when young enough, else
        uploaded (each distinct file once, *workers* at a time) when *upload*, else unknown.
        The first failure stops the uploads not yet started and is raised."""
        distinct = {item.file.sha256: item.file for item in inputs}
        if not upload:
            return {sha: self.host.find(file) or Resolved(None) for sha, file in distinct.items()}
        files = list(distinct.values())
        if len(files) <= 1 or workers <= 1:
            urls = {file.sha256: self._upload(file) for file in files}
        else:
            urls = self._upload_many(files, workers)
        reused = [file for file in files if not urls[file.sha256].fresh]
        if len(reused) > MAX_REUSE_NOTES:
            self.output.note(f"reusing the uploads of {len(reused)} files")
        else:
            for file in reused:
                self.output.note(f"{file.given}: {_reuse(urls[file.sha256])}")
        return urls

    def _upload(self, file: LocalFile) -> Resolved:
        resolved = self.host.upload(file)
        assert resolved.url is not None
        if resolved.fresh:
            self.output.info(
                f"uploaded {file.given} ({byte_size(file.size)}): {public_url(resolved.url)}"
            )
        return resolved

    def _upload_many(self, files: list[LocalFile], workers: int) -> dict[str, Resolved]:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        stop = threading.Event()

        def upload(file: LocalFile) -> Resolved | None:
            return None if stop.is_set() else self._upload(file)

        found: dict[str, Resolved] = {}
        errors: list[LumenError] = []
        pool = ThreadPoolExecutor(min(workers, len(files)), thread_name_prefix="lumen-upload")
        try:
            futures = {pool.submit(upload, file): file for file in files}
            for future in as_completed(futures):
                try:
                    resolved = future.result()
                except LumenError as error:
                    errors.append(error)
                    stop.set()
                    continue
                if resolved is not None:
                    found[futures[future].sha256] = resolved
        except BaseException:
            stop.set()
            self.host.abort()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if errors:
            raise errors[0]
        return found

    def show(self, inputs: Iterable[LocalInput], urls: dict[str, Resolved]) -> None:
        """What a dry run would send for each local file (on stderr)."""
        for item in inputs:
            resolved = urls.get(item.file.sha256, Resolved(None))
            if resolved.url is None:
                where = f"would upload ({byte_size(item.file.size)}; --upload uploads it now)"
            elif resolved.fresh:
                where = f"uploaded: {public_url(resolved.url)}"
            else:
                where = _reuse(resolved)
            self.output.info(f"{item.flag} {item.file.given}: {where}")

    def close(self) -> None:
        self.host.close()


def open_uploads(rt: Runtime, *, sandbox_url: Callable[[], str]) -> Uploads | None:
    """The uploads of this run: under ``--sandbox`` the sandbox's file host (at
    *sandbox_url*, asked for only when a file is looked for), else ``upload_command``;
    None when neither is set up (local files are then refused)."""
    settings = rt.settings
    files = LocalFiles(int(settings.value("max_upload_size")))
    if rt.sandbox:
        return Uploads(SandboxHost(sandbox_url), files, rt.output)
    command = settings.value("upload_command")
    if not command:
        return None
    host = CommandHost(
        str(command),
        history=rt.history,
        max_age=float(settings.value("upload_max_age")),
        timeout=float(settings.value("upload_timeout")),
    )
    return Uploads(host, files, rt.output)


# -- the command ---------------------------------------------------------------------------------


def fill_command(template: str, file: LocalFile) -> str:
    """*template* (a checked ``upload_command``) with *file*'s placeholders filled in:
    ``{path}`` and ``{name}`` shell-quoted (``{path}`` is absolute, so it never reads as an
    option); ``{ext}``, ``{sha256}``, ``{size}`` and ``{type}`` as they are (they hold only
    [./0-9a-z])."""
    values = {
        "path": shlex.quote(file.path),
        "name": shlex.quote(file.name),
        "ext": file.ext,
        "sha256": file.sha256,
        "size": str(file.size),
        "type": media.content_type(file.kind),
    }
    return UPLOAD_PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)


def stderr_tail(stderr: bytes) -> str:
    """The last lines of a command's stderr, for an error message (``""`` when empty)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line][-STDERR_LINES:]
    if not lines:
        return ""
    return f"; its stderr ends: {shorten(' | '.join(lines), STDERR_CHARS)}"


def _url_from(stdout: bytes, stderr: bytes, file: LocalFile) -> str:
    """The URL a command printed as the last line of its stdout."""
    lines = stdout.decode("utf-8", "replace").splitlines()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    hint = (
        "The last line upload_command prints must be the file's URL, e.g. end it with "
        "`&& echo https://files.example.com/{sha256}{ext}`."
    )
    what = f"upload_command ran for {shorten(file.given, 120)}"
    if not last:
        raise ConfigError(
            f"{what} but printed no URL{stderr_tail(stderr)}; nothing was sent to the API",
            hint=hint,
        )
    if len(last) > MAX_URL_CHARS or escape(last) != last or " " in last or not is_http_url(last):
        raise ConfigError(
            f"{what} but the last line it printed is not an http(s) URL: "
            f"{shorten(last, 200)}; nothing was sent to the API",
            hint=hint,
        )
    return last


def _changed(file: LocalFile) -> bool:
    try:
        return stamp_of(os.lstat(file.path)) != file.stamp
    except OSError:
        return True


def _chunks(file: LocalFile) -> Iterator[bytes]:
    """The bytes of *file*, read again (never through a link) for the sandbox's upload."""
    from lumen_cli.fsutil import open_regular

    try:
        fd = open_regular(Path(file.path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise BadInput(f"{file.given} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


def _reuse(resolved: Resolved) -> str:
    assert resolved.url is not None
    age = "" if resolved.uploaded_at is None else f" of {_age(time.time() - resolved.uploaded_at)}"
    return f"reusing the upload{age}: {public_url(resolved.url)}"


def _age(seconds: float) -> str:
    if seconds < 60:
        return "a moment ago"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "a moment ago"  # pragma: no cover - the loop always returns
