"""What each field may hold: one check per field, shared by flags, settings and batch lines.

A value is checked the same way whether it came from ``--duration``, ``LUMEN_DURATION``, a
profile or a line of a batch file, before anything is sent; only the message says where
it came from. The API decides what each model supports: these checks catch what no model
takes (a duration under 4 s, a resolution that is not ``720p``-shaped, an unknown
placeholder in a file name template).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lumen_cli.errors import BadInput
from lumen_cli.text import shorten

MIN_DURATION = 4
# What completion offers; any other value may be passed (the API decides what it supports).
KNOWN_MODELS = ("seedance-2", "seedance-2-fast", "veo-3-1")  # the vendor page's examples
COMMON_RESOLUTIONS = ("480p", "720p", "1080p")
COMMON_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
# What the API makes when a request names no duration (seconds), resolution or aspect ratio.
API_DEFAULT_DURATION = 5
API_DEFAULT_RESOLUTION = "720p"
API_DEFAULT_ASPECT_RATIO = "16:9"
PLACEHOLDERS = ("id", "index", "model", "prompt", "date")  # of -o file name templates
BATCH_PLACEHOLDERS = ("custom_id", "line")  # what `batch` knows of each job besides
# Of upload_command: {path} and {name} are shell-quoted when filled in; the others only ever
# hold [./0-9a-z] (type: the content type, such as image/png).
UPLOAD_PLACEHOLDERS = ("path", "name", "ext", "sha256", "size", "type")
# A placeholder of upload_command: {word}, but not the shell's own ${word}.
UPLOAD_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUOTED_PLACEHOLDER = re.compile(r"""(['"])\{(path|name)\}\1""")
_ASPECT_RATIO = re.compile(r"[1-9][0-9]*:[1-9][0-9]*")
_RESOLUTION = re.compile(r"[1-9][0-9]{2,3}p")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_duration(value: object, what: str = "duration") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{what} must be a whole number of seconds, got {shorten(repr(value), 40)}")
    if value < MIN_DURATION:
        raise BadInput(f"{what} must be at least {MIN_DURATION} seconds, got {value}")
    return value


def check_resolution(value: str, what: str = "resolution") -> str:
    return _shaped(value, _RESOLUTION, what, "720p", "480p, 720p, 1080p")


def check_aspect_ratio(value: str, what: str = "aspect ratio") -> str:
    return _shaped(value, _ASPECT_RATIO, what, "16:9", "16:9, 9:16, 1:1")


def check_model(value: str, what: str = "model") -> str:
    if not value.strip():
        raise BadInput(f"{what} is empty", hint="Pass --model, e.g. --model seedance-2.")
    return value.strip()


def check_template(template: str, what: str = "-o", extra: Sequence[str] = ()) -> str:
    """A file name template whose every ``{placeholder}`` is known; ``-`` is no file.
    *extra*: placeholders the caller supplies besides ``PLACEHOLDERS`` (``batch``'s)."""
    if template == "-":
        raise BadInput(f"{what} - (standard output) is not supported: videos are saved to files")
    known = (*PLACEHOLDERS, *extra)
    unknown = [name for name in _PLACEHOLDER.findall(template) if name not in known]
    if unknown:
        shown = shorten(template, 80)
        raise BadInput(
            f"unknown placeholder {{{shorten(unknown[0], 40)}}} in {what} {shown!r}",
            hint="Placeholders: " + " ".join(f"{{{name}}}" for name in known) + ".",
        )
    return template


def check_upload_command(command: str, what: str = "upload_command") -> str:
    """A shell command that uploads ``{path}`` and prints its URL: every ``{placeholder}``
    known, ``{path}`` named, and no placeholder lumen quotes put in quotes again."""
    if not command.strip():
        raise BadInput(
            f"{what} is empty", hint="Unset it with `lumen config unset upload_command`."
        )
    hint = "Placeholders: " + " ".join(f"{{{name}}}" for name in UPLOAD_PLACEHOLDERS) + "."
    found = UPLOAD_PLACEHOLDER.findall(command)
    unknown = [name for name in found if name not in UPLOAD_PLACEHOLDERS]
    if unknown:
        raise BadInput(f"unknown placeholder {{{shorten(unknown[0], 40)}}} in {what}", hint=hint)
    if "path" not in found:
        raise BadInput(
            f"{what} never names {{path}}, the file to upload",
            hint="e.g. rclone copyto {path} r2:clips/{sha256}{ext} && "
            "echo https://clips.example.com/{sha256}{ext}",
        )
    quoted = _QUOTED_PLACEHOLDER.search(command)
    if quoted:
        name = quoted.group(2)
        raise BadInput(
            f"{what} puts {{{name}}} in quotes, but lumen quotes it for the shell already",
            hint=f"Write {{{name}}}, not {quoted.group(0)}.",
        )
    return command


def _shaped(value: str, shape: re.Pattern[str], what: str, example: str, common: str) -> str:
    """*value* if it has the *shape* of the field."""
    if not shape.fullmatch(value):
        raise BadInput(
            f"{what} must look like {example}, got {shorten(repr(value), 40)}",
            hint=f"Common values: {common} (support varies by model).",
        )
    return value
