"""Reading a batch file: JSON Lines, CSV or plain text, every line checked as ``submit`` checks.

* JSON Lines: one object a line with the API's request fields (or their aliases), ``prompt``
  required, and an optional ``custom_id``. Blank lines are skipped.
* CSV: a header row naming the same fields; empty cells are unset. ``reference_image_urls``
  is split on ``|`` or given as a JSON array; ``generate_audio`` is true/false (yes/no, 1/0).
* Text: one prompt a line; blank lines and lines starting with ``#`` are skipped.

Each line's fields override the defaults (the submit flags and settings). Each line gets a
*key*: ``id:`` and its ``custom_id``, or ``sha256:`` and a hash of its effective request
(secrets left out), with ``#2``, ``#3``… for the second and later copies of the same
request, so two identical lines are two lines. The key is what makes a line the same line
in a re-run of the batch.

With uploads set up (``services.uploads``), an input field may name a local file: relative
to the batch file's folder (stdin: the current folder), checked with the line, and counted
in the key by its content (its sha256), never by its path or the URL a run uploads it to.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumen_cli.api.models import FIELD_ALIASES, detect_mode, strip_secrets
from lumen_cli.api.request import MEDIA_FLAGS, JobSpec, build_body, is_local_path
from lumen_cli.errors import BadInput
from lumen_cli.pricing import requested_seconds
from lumen_cli.services.uploads import LocalInput, key_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from lumen_cli.services.uploads import LocalFiles

FORMATS = ("jsonl", "csv", "text")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
}
CUSTOM_ID = "custom_id"
CUSTOM_ID_MAX = 200
# The request fields a line may set, by their API names, and the type each one takes.
_STRINGS = (
    "prompt",
    "model",
    "resolution",
    "aspect_ratio",
    "image_url",
    "last_image_url",
    "reference_video_url",
    "webhook_url",
    "webhook_secret",
)
LINE_FIELDS = (*_STRINGS, "duration", "generate_audio", "reference_image_urls")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


class LineError(Exception):
    """What is wrong with one line (its message is shown after ``line N:``)."""


@dataclass(frozen=True)
class RawLine:
    """One line as read: its number in the file, its ``custom_id`` and its own fields."""

    line: int
    custom_id: str | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class BadLine:
    """A line that cannot be sent, and why."""

    line: int
    error: str
    custom_id: str | None = None


@dataclass(frozen=True)
class PlannedLine:
    """A line ready to send: its key and the exact body of its POST (with *inputs*, the
    local files in it, still to be replaced by their URLs)."""

    line: int
    custom_id: str | None
    key: str
    body: dict[str, Any]
    inputs: tuple[LocalInput, ...] = ()

    @property
    def mode(self) -> str:
        return detect_mode(self.body)

    @property
    def seconds(self) -> int:
        """Seconds of video asked for (the API's default when the line names none)."""
        return requested_seconds(self.body)


def detect_format(source: str, given: str | None) -> str:
    """The format of *source* (a path, or ``-`` for stdin): *given*, else its extension."""
    if given is not None:
        if given not in FORMATS:
            raise BadInput(f"unknown --format {given!r}", hint=f"Use one of: {', '.join(FORMATS)}.")
        return given
    if source == "-":
        return "text"
    fmt = EXTENSIONS.get(Path(source).suffix.lower())
    if fmt is None:
        raise BadInput(
            f"cannot tell the format of {source} from its extension",
            hint="Pass --format jsonl, csv or text (or name it .jsonl, .csv or .txt).",
        )
    return fmt


def read_lines(data: bytes, fmt: str) -> Iterator[RawLine | BadLine]:
    """The lines of a batch file of format *fmt*, in order, each read or found bad."""
    text = _decode(data)
    if fmt == "jsonl":
        yield from _jsonl(text)
    elif fmt == "csv":
        yield from _csv(text)
    else:
        yield from _text(text)


def plan_lines(
    lines: Iterable[RawLine | BadLine],
    defaults: JobSpec,
    *,
    files: LocalFiles | None = None,
    folder: Path | None = None,
) -> tuple[list[PlannedLine], list[BadLine]]:
    """Check every line with *defaults* under it (the same checks as ``submit``); give each
    good line its key. Returns the good lines and the bad ones, both in file order.

    *files*: inputs may name local files, checked here; a line's own relative paths are
    taken from *folder* (default: the current folder)."""
    planned: list[PlannedLine] = []
    bad: list[BadLine] = []
    copies: Counter[str] = Counter()
    custom_ids: dict[str, int] = {}
    for item in lines:
        if isinstance(item, BadLine):
            bad.append(item)
            continue
        fields = item.fields if folder is None else _rebased(item.fields, folder)
        spec = dataclasses.replace(defaults, **fields)
        try:
            body = build_body(spec, local_files=files is not None)
            inputs = tuple(files.inputs(body)) if files is not None else ()
        except BadInput as error:
            bad.append(BadLine(item.line, error.message, item.custom_id))
            continue
        if item.custom_id is not None:
            first = custom_ids.setdefault(item.custom_id, item.line)
            if first != item.line:
                message = f"custom_id {item.custom_id!r} is already used on line {first}"
                bad.append(BadLine(item.line, message, item.custom_id))
                continue
            key = f"id:{item.custom_id}"
        else:
            digest = request_digest(key_body(body, inputs))
            copies[digest] += 1
            key = f"sha256:{digest}" + (f"#{copies[digest]}" if copies[digest] > 1 else "")
        planned.append(PlannedLine(item.line, item.custom_id, key, body, inputs))
    return planned, bad


def _rebased(fields: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A line's *fields* with its relative local paths taken from *folder*."""

    def rebase(value: Any) -> Any:
        if isinstance(value, list):
            return [rebase(item) for item in value]
        if not isinstance(value, str) or not is_local_path(value):
            return value
        path = Path(value).expanduser()
        return value if path.is_absolute() else str(folder / path)

    return {name: rebase(value) if name in MEDIA_FLAGS else value for name, value in fields.items()}


def request_digest(body: dict[str, Any]) -> str:
    """A hash of the request *body* as sent, secrets left out (rotating one re-sends nothing)."""
    canonical = json.dumps(
        strip_secrets(body), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# -- formats --------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"line {line} is not UTF-8 text", hint="Save the file as UTF-8 and run it again."
        ) from None


def _text(text: str) -> Iterator[RawLine | BadLine]:
    for number, raw in enumerate(text.splitlines(), start=1):
        prompt = raw.strip()
        if prompt and not prompt.startswith("#"):
            yield RawLine(number, None, {"prompt": prompt})


def _jsonl(text: str) -> Iterator[RawLine | BadLine]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"not a JSON object ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(document, dict):
            yield BadLine(number, f"not a JSON object (a {type(document).__name__})")
            continue
        yield _fields(number, document, _json_value)


def _csv(text: str) -> Iterator[RawLine | BadLine]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield BadLine(1, f"unreadable CSV header ({exc})")
        return
    names = [name.strip() for name in header]
    problem = _check_header(names)
    if problem:
        yield BadLine(1, problem)
        return
    end = reader.line_num
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadLine(start, f"unreadable CSV ({exc})")
            return
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            yield BadLine(start, f"{len(row)} cells under a header of {len(names)} columns")
            continue
        cells = {name: cell for name, cell in zip(names, row, strict=False) if cell.strip()}
        yield _fields(start, cells, _csv_value)


def _check_header(names: list[str]) -> str | None:
    if not any(names):
        return "the CSV header row is empty: name the columns (prompt, model, …)"
    for name in names:
        if FIELD_ALIASES.get(name, name) not in (*LINE_FIELDS, CUSTOM_ID):
            return f"unknown column {name!r} in the header; columns: {_known()}"
    if "prompt" not in names:
        return "the CSV header has no prompt column"
    return None


def _known() -> str:
    return ", ".join((*LINE_FIELDS, CUSTOM_ID))


def _fields(
    number: int, document: Mapping[str, Any], read: Callable[[str, Any], Any]
) -> RawLine | BadLine:
    """A line's fields under their API names (aliases resolved), each of its type."""
    custom_id: str | None = None
    fields: dict[str, Any] = {}
    try:
        for name, value in document.items():
            if value is None:
                continue
            if name == CUSTOM_ID:
                custom_id = _custom_id(value)
                continue
            field = FIELD_ALIASES.get(name, name)
            if field not in LINE_FIELDS:
                raise LineError(f"unknown field {name!r}; fields: {_known()}")
            if field in fields:
                raise LineError(f"{field} is given twice (once as {name})")
            fields[field] = read(field, value)
        if "prompt" not in fields:
            raise LineError("no prompt")
    except LineError as error:
        return BadLine(number, str(error), custom_id)
    return RawLine(number, custom_id, fields)


def _custom_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LineError("custom_id must be a string")
    text = str(value).strip()
    if not text:
        raise LineError("custom_id is empty")
    if len(text) > CUSTOM_ID_MAX or not text.isprintable():
        raise LineError(f"custom_id must be printable and at most {CUSTOM_ID_MAX} characters")
    return text


def _json_value(field: str, value: object) -> Any:
    if field == "duration":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LineError(f"duration must be a whole number of seconds, got {value!r}")
        return value
    if field == "generate_audio":
        if not isinstance(value, bool):
            raise LineError(f"generate_audio must be true or false, got {value!r}")
        return value
    if field == "reference_image_urls":
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
            raise LineError("reference_image_urls must be a list of URLs")
        return list(value)
    if not isinstance(value, str):
        raise LineError(f"{field} must be a string, got {value!r}")
    return value


def _csv_value(field: str, cell: str) -> Any:
    value = cell.strip()
    if field == "duration":
        if not value.isascii() or not value.isdigit():
            raise LineError(f"duration must be a whole number of seconds, got {value!r}")
        return int(value)
    if field == "generate_audio":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise LineError(f"generate_audio must be true or false, got {value!r}")
    if field == "reference_image_urls":
        if value.startswith("["):
            try:
                urls = json.loads(value)
            except ValueError:
                raise LineError("reference_image_urls is not a JSON array of URLs") from None
            return _json_value(field, urls)
        return [url.strip() for url in value.split("|") if url.strip()]
    return cell if field == "prompt" else value
