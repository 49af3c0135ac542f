"""Text that came from outside (servers, the history, files, webhook bodies), made safe to show.

A terminal obeys control characters: ``ESC]0;…BEL`` retitles it, ``ESC[2J`` clears it, a CR
or LF forges a line of our own output, and bidi overrides (``U+202E``) make text read
differently from what it is. ``escape`` writes each such character as a visible escape
(``\\x1b``, ``\\n``, ``\\u202e``) instead, so what a person sees is what was sent. JSON output
keeps the exact values: ``json_text`` only writes the same characters as ``\\u`` escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls, DEL, C1 controls, and the invisible characters that reorder or hide text.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# What json.dumps leaves raw inside strings (it escapes C0 itself; raw C0 is structure).
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: object) -> str:
    """*text* with every control or invisible formatting character made visible."""
    return _CONTROLS.sub(_visible, str(text))


def shorten(text: str, limit: int = 200) -> str:
    """*text* escaped and cut to about *limit* characters (for quoting it in a message)."""
    shown = escape(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def json_text(document: Any, *, indent: int | None = None) -> str:
    """*document* as JSON, every control and invisible character written as a ``\\u`` escape.

    ``json.dumps`` escapes only C0 controls when it keeps other characters as they are.
    """
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(document, ensure_ascii=False, indent=indent, separators=separators)
    return _RAW_IN_JSON.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)


def iso_time(timestamp: float) -> str:
    """UTC, ISO 8601, to the second: ``2026-11-25T18:40:19Z``."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 line``, ``2 lines`` (*nouns*: the plural when it is not *noun* + ``s``)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def byte_size(count: int) -> str:
    """*count* bytes for people: ``512 B``, ``1.5 KiB``, ``12.0 MiB``, ``10.0 GiB``."""
    if count < 1024:
        return f"{count} B"
    size = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"
