"""The gallery page: one self-contained HTML file of jobs, for any browser, offline.

Every value from the history goes through ``html.escape`` (text and attributes alike), after
``text.escape`` has made control and bidi characters visible, so a prompt holding
``<script>`` or ``"><img onerror=…>`` reads as what it is. The page's one style sheet and one
script are inline and named by their SHA-256 in a Content-Security-Policy that allows
nothing else: no remote script, style, image, font or connection; videos only from files
beside the page (``'self'``, ``file:``). Videos are ``<video controls preload="metadata">``
made by the script when their card comes near the view; before that, and without
JavaScript, a card links to its file.

An item is a job document (``output.jobs.job_document``) with ``videos``:
``[{"path", "src", "exists"}]``, ``src`` being the file's address relative to the page.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from lumen_cli.output.jobs import format_time
from lumen_cli.text import escape, iso_time
from lumen_cli.values import API_DEFAULT_ASPECT_RATIO, API_DEFAULT_DURATION, API_DEFAULT_RESOLUTION

STATUS_ORDER = ("succeeded", "failed", "cancelled", "unknown", "processing", "queued", "submitting")
NO_MODEL = "(no model)"


def asset(name: str) -> str:
    """The text of a file shipped beside this module (``assets/gallery.css``, ``.js``)."""
    return (resources.files("lumen_cli.output") / "assets" / name).read_text(encoding="utf-8")


def csp_hash(source: str) -> str:
    """``'sha256-…'``: how a Content-Security-Policy names an inline script or style."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(script: str, style: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {csp_hash(script)}",
            f"style-src {csp_hash(style)}",
            "media-src 'self' file:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def text(value: object) -> str:
    """*value* for an HTML text node or attribute: controls shown, markup escaped.

    Line breaks stay (a prompt may have several lines); other controls read as ``\\x1b``.
    """
    return html.escape("\n".join(escape(line) for line in str(value).split("\n")), quote=True)


def render_page(items: Sequence[Mapping[str, Any]], *, heading: str, version: str) -> str:
    """The whole page for *items* (newest first); *heading* says what it holds."""
    style, script = asset("gallery.css"), asset("gallery.js")
    total = len(items)
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="'
        + text(content_security_policy(script, style))
        + '">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="lumen {text(version)}">',
        f"<title>lumen gallery · {total} job{'' if total == 1 else 's'}</title>",
        f"<style>{style}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>lumen gallery</h1>",
        f'<p class="meta">{text(heading)}</p>',
        '<div class="controls">',
        '<input type="search" id="search" placeholder="Search prompts, ids and models"'
        ' aria-label="Search prompts, ids and models" autocomplete="off">',
        _toggles("status", [str(item.get("status") or "unknown") for item in items]),
        _toggles("model", [str(item.get("model") or "") for item in items]),
        f'<p class="shown" id="shown" aria-live="polite">{total} of {total} shown</p>',
        "</div>",
        "</header>",
        '<main id="cards">',
        *(_card(item) for item in items),
        "</main>",
        '<p class="empty" id="empty" hidden>No job matches.</p>',
        f"<script>{script}</script>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _toggles(kind: str, values: list[str]) -> str:
    """A button per value (with its count) that shows or hides the cards holding it."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    if kind == "status":
        rank = {status: index for index, status in enumerate(STATUS_ORDER)}
        ordered = sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
    else:
        ordered = sorted(counts, key=lambda m: (-counts[m], m))
    buttons = [
        f'<button type="button" class="toggle" data-kind="{kind}" data-value="{text(value)}"'
        f' aria-pressed="true">{text(value or NO_MODEL)} <span class="count">{counts[value]}'
        "</span></button>"
        for value in ordered
    ]
    return f'<div class="toggles" role="group" aria-label="{kind}">{"".join(buttons)}</div>'


def _card(item: Mapping[str, Any]) -> str:
    status = str(item.get("status") or "unknown")
    request = item.get("request") or {}
    created = item.get("created")
    error = (item.get("error") or {}).get("message")
    rows = [
        ("status", f'<span class="status {text(status)}">{text(status)}</span>'),
        ("model", text(item.get("model") or NO_MODEL)),
        ("resolution", _asked(request, "resolution", API_DEFAULT_RESOLUTION)),
        ("aspect ratio", _asked(request, "aspect_ratio", API_DEFAULT_ASPECT_RATIO)),
        ("duration", _asked(request, "duration", API_DEFAULT_DURATION, unit=" s")),
        ("mode", text(item.get("mode") or "")),
        (
            "created",
            f'<time datetime="{iso_time(created)}">{text(format_time(created))}</time>'
            if created
            else "",
        ),
        (
            "id",
            f"<code>{text(item.get('id'))}</code>"
            f'<button type="button" class="copy" data-copy="{text(item.get("id"))}"'
            ' title="Copy the id">copy</button>',
        ),
        ("saved", "<br>".join(f"<code>{text(v['path'])}</code>" for v in item["videos"])),
        ("error", f'<span class="error">{text(error)}</span>' if error else ""),
    ]
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows if value)
    prompt = item.get("prompt")
    return (
        f'<article class="card" data-id="{text(item.get("id"))}" data-status="{text(status)}"'
        f' data-model="{text(item.get("model") or "")}">'
        + _media(item, status, error)
        + '<div class="body">'
        + (f'<p class="prompt">{text(prompt)}</p>' if prompt else "")
        + f"<dl>{details}</dl></div></article>"
    )


def _asked(request: Mapping[str, Any], name: str, default: object, *, unit: str = "") -> str:
    value = request.get(name)
    if value is None:
        return f'{text(default)}{unit} <span class="note">(default)</span>'
    return f"{text(value)}{unit}"


def _media(item: Mapping[str, Any], status: str, error: str | None) -> str:
    """The top of a card: the videos, else why there are none (and where the result is)."""
    videos = [video for video in item["videos"] if video["exists"]]
    if videos:
        links = "".join(
            f'<div class="frame"><a class="video" href="{text(video["src"])}"'
            f' title="{text(video["path"])}">▶</a></div>'
            for video in videos
        )
        return f'<div class="media{" many" if len(videos) > 1 else ""}">{links}</div>'
    urls = [str(entry.get("url")) for entry in item.get("data") or []]
    lines: list[str] = []
    if item["videos"]:
        lines.append(
            "The saved file is gone: " + ", ".join(text(v["path"]) for v in item["videos"])
        )
    if urls:
        lines.append("Not downloaded. Its result URL (it may have expired):")
        lines += [_link(url) for url in urls]
        lines.append(f"<code>lumen download {text(item.get('id'))}</code> saves it.")
    elif status == "failed":
        lines.append(f'<span class="error">failed: {text(error or "no reason given")}</span>')
    elif status in ("queued", "processing", "submitting"):
        lines.append(f"{text(status)} when this page was made")
    else:
        lines.append(f"{text(status)}: no video")
    return '<div class="media none">' + "".join(f"<p>{line}</p>" for line in lines) + "</div>"


def _link(url: str) -> str:
    """A link for an http(s) URL; anything else is shown, never linked."""
    if url.lower().startswith(("https://", "http://")):
        return f'<a href="{text(url)}" rel="noopener noreferrer" target="_blank">{text(url)}</a>'
    return f"<code>{text(url)}</code>"
