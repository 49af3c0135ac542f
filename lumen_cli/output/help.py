"""Help pages in plain text, as gh prints them: a summary, USAGE, the flags with their
defaults and variables, EXAMPLES. The same page makes the man page (``lumen.1``).

Rendering needs no rich: ``lumen --help`` is one of the commands people run most.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

INDENT = "  "
MAX_WIDTH = 100
_EXAMPLES = re.compile(r"^\s*\*\*Examples?\*\*\s*$", re.M)


@dataclass(frozen=True)
class Flag:
    """One argument or option as the help shows it."""

    names: str  # "-m, --model MODEL", or "PROMPT" for an argument
    help: str
    notes: tuple[str, ...] = ()  # "default: 50", "env: LUMEN_MODEL", "required"


@dataclass
class HelpPage:
    """What a command's help says; made from its docstring and its parameters."""

    path: str  # "lumen submit"
    usage: str  # "lumen submit [OPTIONS] PROMPT"
    summary: str
    description: list[str] = field(default_factory=list)  # paragraphs
    sections: list[tuple[str, list[Flag]]] = field(default_factory=list)  # ("FLAGS", [...])
    commands: list[tuple[str, str]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    extra: list[tuple[str, list[Flag]]] = field(default_factory=list)  # after the examples


def parse_docstring(text: str) -> tuple[str, list[str], list[str]]:
    """A docstring as (summary, description paragraphs, examples).

    Examples follow a line ``**Examples**`` (or ``**Example**``), one command per line;
    paragraphs are rewrapped, except lines that start a list item (``- ``).
    """
    parts = _EXAMPLES.split(textwrap.dedent(text).strip(), maxsplit=1)
    body, examples_text = parts[0], parts[1] if len(parts) > 1 else ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    summary = _plain(" ".join(paragraphs[0].split())) if paragraphs else ""
    description = []
    for paragraph in paragraphs[1:]:
        lines = paragraph.splitlines()
        if all(line.strip().startswith("- ") for line in lines if line.strip()):
            description.append("\n".join(_plain(line.strip()) for line in lines))
        else:
            description.append(_plain(" ".join(paragraph.split())))
    examples = [line.strip() for line in examples_text.splitlines() if line.strip()]
    return summary, description, examples


def _plain(text: str) -> str:
    """Markdown emphasis and code marks dropped: ``**x**`` and ```x``` read as x."""
    return re.sub(r"\*\*(.+?)\*\*|`([^`]+)`", lambda m: m.group(1) or m.group(2), text)


def render(page: HelpPage, width: int) -> str:
    """The page as text at most *width* columns wide."""
    width = max(40, min(width, MAX_WIDTH))
    out: list[str] = [*_wrap(page.summary, width, ""), "", "USAGE", f"{INDENT}{page.usage}"]
    for paragraph in page.description:
        out.append("")
        if "\n" in paragraph:
            out += [f"{INDENT}{line}" for line in paragraph.splitlines()]
        else:
            out += _wrap(paragraph, width, INDENT)
    # One column width for every table of the page, so that they line up.
    tables: list[tuple[str, list[tuple[str, str]]]] = []
    if page.commands:
        tables.append(("COMMANDS", list(page.commands)))
    tables += [
        (title, [(flag.names, _flag_text(flag)) for flag in flags])
        for title, flags in page.sections
        if flags
    ]
    extra = [(title, [(f.names, _flag_text(f)) for f in flags]) for title, flags in page.extra]
    names = [name for _, rows in tables + extra for name, _ in rows]
    name_width = min(max((len(name) for name in names), default=0), width // 3)
    for title, rows in tables:
        out += ["", title, *_table(rows, width, name_width)]
    if page.examples:
        out += ["", "EXAMPLES"]
        out += [f"{INDENT}$ {example}" for example in page.examples]
    for title, rows in extra:
        out += ["", title, *_table(rows, width, name_width)]
    return "\n".join(out).rstrip() + "\n"


def _flag_text(flag: Flag) -> str:
    notes = f" ({'; '.join(flag.notes)})" if flag.notes else ""
    return f"{flag.help}{notes}"


def _table(rows: Sequence[tuple[str, str]], width: int, name_width: int) -> list[str]:
    """Two columns: names, then text wrapped under itself; a name wider than *name_width*
    gets its text on the next line."""
    text_start = len(INDENT) + name_width + 3
    lines = []
    for name, text in rows:
        wrapped = textwrap.wrap(text, max(20, width - text_start), break_on_hyphens=False) or [""]
        if len(name) > name_width:
            lines.append(f"{INDENT}{name}")
            lines += [" " * text_start + line for line in wrapped]
            continue
        lines.append(f"{INDENT}{name:<{name_width}}   {wrapped[0]}")
        lines += [" " * text_start + line for line in wrapped[1:]]
    return lines


def _wrap(text: str, width: int, indent: str) -> list[str]:
    lines = textwrap.wrap(
        text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )
    return lines or [""]


def man_page(pages: Sequence[HelpPage], *, version: str, date: str) -> str:
    """``lumen.1``: the first page (lumen's) in full, then every command's as a section."""
    root, *commands = pages

    def text(line: str) -> str:
        escaped = line.replace("\\", "\\e").replace("-", "\\-").replace("'", "\\(aq")
        return "\\&" + escaped if escaped.startswith((".", "\\(aq")) else escaped

    def flags(items: Sequence[Flag]) -> list[str]:
        lines = []
        for flag in items:
            lines += [".TP", f".B {text(flag.names)}", text(_flag_text(flag))]
        return lines

    def body(page: HelpPage, heading: str) -> list[str]:
        out = []
        for paragraph in page.description:
            out += [".PP", *(text(line) for line in paragraph.splitlines())]
        if page.commands:
            out += [f".{heading} COMMANDS", *flags([Flag(n, h) for n, h in page.commands])]
        for title, items in [*page.sections, *page.extra]:
            if items:
                out += [f".{heading} {title}", *flags(items)]
        if page.examples:
            out += [f".{heading} EXAMPLES", ".nf", *(text(f"$ {e}") for e in page.examples)]
            out.append(".fi")
        return out

    out = [
        f'.TH LUMEN 1 "{date}" "lumen {version}" "User Commands"',
        ".SH NAME",
        f"lumen \\- {text(root.summary)}",
        ".SH SYNOPSIS",
        f".B {text(root.usage)}",
        ".SH DESCRIPTION",
        *body(root, "SH"),
    ]
    for page in commands:
        out += [f'.SH "{text(page.path.upper())}"', text(page.summary), ".PP"]
        out += [f".B {text(page.usage)}", *body(page, "SS")]
    return "\n".join(out) + "\n"
