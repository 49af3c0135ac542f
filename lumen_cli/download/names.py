"""Where a result file goes: ``-o`` templates, safe slugs, extensions.

The URL decides nothing but the extension; placeholder values are made safe, so only the
user's own template decides directories.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from lumen_cli.errors import BadInput
from lumen_cli.values import check_template

DEFAULT_EXTENSION = ".mp4"
SLUG_MAX_CHARS = 60
# File names are at most 255 bytes on common file systems; keep room for ".part.json.tmp".
NAME_MAX_BYTES = 255 - len(".part.json.tmp")

_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


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
    """The file extension of *url*'s path if it is a plain one (``.mp4``), else ``.mp4``."""
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
    extra: Mapping[str, str] | None = None,
) -> list[Path]:
    """Where each of a job's *count* result files goes.

    *template* is ``None`` (``{id}`` in *base_dir*), a directory (one that exists, or any
    path ending in ``/``: ``DIR/{id}``), or a path with placeholders ``{id}``, ``{index}``
    (1, 2, ...), ``{model}``, ``{prompt}`` (a slug of at most 60 characters) and ``{date}``
    (YYYY-MM-DD of creation, local time). A name without an extension gets the URL's
    (``extensions[i]``, default ``.mp4``). Several files and no ``{index}``: ``-1``,
    ``-2``... go before the extension. Relative paths are taken from *base_dir*.
    *extra* adds placeholders (``batch``'s ``{custom_id}`` and ``{line}``); their values
    are made safe like the prompt's.
    """
    extra = extra or {}
    pattern = _pattern(template, base_dir, tuple(extra))
    values = {name: slugify(value) or name for name, value in extra.items()}
    values.update(
        {
            "id": safe_id(job_id),
            "model": slugify(model or "") or "model",
            "prompt": slugify(prompt or "") or "untitled",
            "date": time.strftime("%Y-%m-%d", time.localtime(created if created else time.time())),
        }
    )
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
            made_by = f"the -o template {template!r}" if template else f"the job id {job_id}"
            raise BadInput(
                f"the file name {name[:40]}… is {len(name.encode())} bytes long, more than "
                f"file systems take ({NAME_MAX_BYTES}): {made_by} makes it too long",
                hint="Pass -o with a shorter name ({prompt} is already up to 60 characters).",
            )
        paths.append(base_dir / rendered.with_name(name))
    return paths


def _pattern(template: str | None, base_dir: Path, extra: Sequence[str] = ()) -> str:
    """The template as a path pattern: a directory (or nothing) means ``DIR/{id}``."""
    if not template:
        return "{id}"
    expanded = os.path.expanduser(check_template(template, extra=extra))
    if expanded.endswith(("/", os.sep)) or (base_dir / expanded).is_dir():
        return os.path.join(expanded, "{id}")
    return expanded


def _render(pattern: str, values: dict[str, str]) -> str:
    # Not str.format: "{id.__class__}" and stray braces must not mean anything.
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), pattern)
