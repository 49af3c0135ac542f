"""The gallery page as text: everything from the history escaped, one policy that allows only
the page's own script and style (``test_gallery_browser.py`` opens it in a browser)."""

from __future__ import annotations

import re
from typing import Any

from lumen_cli.output.gallery import asset, csp_hash, render_page

HOSTILE = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>\x1b]0;pwned\x07\u202e'


def _item(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "v1",
        "status": "succeeded",
        "created": 1_790_000_000,
        "data": [],
        "error": None,
        "model": "seedance-2",
        "prompt": "a cat",
        "mode": "text-to-video",
        "request": {"model": "seedance-2", "prompt": "a cat"},
        "paths": [],
        "videos": [],
    }
    item.update(fields)
    return item


def _page(*items: dict[str, Any]) -> str:
    return render_page(list(items), heading="test", version="0")


def test_text_from_the_history_is_escaped_everywhere() -> None:
    page = _page(
        _item(
            id="v-hostile",
            prompt=HOSTILE,
            model=HOSTILE,
            status="failed",
            error={"message": HOSTILE},
            request={"resolution": HOSTILE, "aspect_ratio": HOSTILE, "duration": HOSTILE},
        )
    )
    # The only markup is the page's own: one script, one style, no image.
    assert page.count("<script>") == 1
    assert page.count("</script>") == 1
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert '"&gt;' not in page  # a quote never closes an attribute
    assert "&quot;&gt;&lt;img" in page
    # Escape codes and bidi overrides are shown, not obeyed.
    assert not re.search("[\x1b\x07\u202e]", page)
    assert "\\x1b]0;pwned\\x07\\u202e" in page


def test_the_policy_allows_the_page_s_own_script_and_style_and_nothing_remote() -> None:
    page = _page(_item())
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    directives = dict(
        part.strip().split(" ", 1) for part in policy.group(1).replace("&#x27;", "'").split(";")
    )
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == csp_hash(asset("gallery.js"))
    assert directives["style-src"] == csp_hash(asset("gallery.css"))
    assert directives["media-src"] == "'self' file:"
    assert "unsafe" not in policy.group(1)
    assert "http" not in policy.group(1)
    # The inline script and style are exactly what the hashes name.
    assert f"<script>{asset('gallery.js')}</script>" in page
    assert f"<style>{asset('gallery.css')}</style>" in page


def test_a_saved_video_is_a_link_until_the_script_makes_it_a_video() -> None:
    video = {"path": "/c/a #1?.mp4", "src": "./a%20%231%3F.mp4", "exists": True}
    gone = {"path": "/c/gone.mp4", "src": "./gone.mp4", "exists": False}
    page = _page(_item(id="v-saved", videos=[video]), _item(id="v-gone", videos=[gone]))
    assert '<a class="video" href="./a%20%231%3F.mp4"' in page
    assert 'href="./gone.mp4"' not in page
    assert "The saved file is gone: /c/gone.mp4" in page


def test_a_job_not_downloaded_links_its_result_url_and_says_it_may_expire() -> None:
    url = "https://files.example/v1/0.mp4?sig=a&b=c"
    page = _page(
        _item(id="v-remote", data=[{"url": url}]),
        _item(id="v-odd", data=[{"url": "javascript:alert(1)"}]),
    )
    assert 'href="https://files.example/v1/0.mp4?sig=a&amp;b=c"' in page
    assert "may have expired" in page
    assert "lumen download v-remote" in page
    # Only http(s) addresses become links.
    assert 'href="javascript' not in page
    assert "<code>javascript:alert(1)</code>" in page


def test_toggles_count_each_status_and_model() -> None:
    page = _page(
        _item(id="a", status="failed", model="veo-3-1"),
        _item(id="b"),
        _item(id="c"),
        _item(id="d", model=None),
    )
    statuses = re.findall(r'data-kind="status" data-value="([^"]*)".*?class="count">(\d+)', page)
    assert statuses == [("succeeded", "3"), ("failed", "1")]
    models = re.findall(r'data-kind="model" data-value="([^"]*)".*?class="count">(\d+)', page)
    assert models == [("seedance-2", "2"), ("", "1"), ("veo-3-1", "1")]
    assert "(no model)" in page
