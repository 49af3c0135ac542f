"""Where the gallery page goes, how it names its videos, how it is written and opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lumen_cli.errors import BadInput
from lumen_cli.services.gallery import open_in_browser, page_path, video_src, write_page


def test_videos_are_named_relative_to_the_page_and_percent_encoded(tmp_path: Path) -> None:
    page_dir = tmp_path / "site"
    assert video_src(str(page_dir / "a.mp4"), page_dir) == "./a.mp4"
    assert video_src(str(tmp_path / "clips" / "b c.mp4"), page_dir) == "../clips/b%20c.mp4"
    # A '#', '?', '%' or ':' in a name stays part of the path: no fragment, query or scheme.
    assert video_src(str(page_dir / "x#1?.mp4"), page_dir) == "./x%231%3F.mp4"
    assert video_src(str(page_dir / "50%.mp4"), page_dir) == "./50%25.mp4"
    assert (
        video_src(str(page_dir / "javascript:alert(1)"), page_dir) == "./javascript%3Aalert%281%29"
    )


def test_the_page_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert page_path(None) == tmp_path / "lumen-gallery.html"
    assert page_path("out") == tmp_path / "out" / "lumen-gallery.html"
    assert page_path("new/") == tmp_path / "new" / "lumen-gallery.html"
    assert page_path("week.html") == tmp_path / "week.html"
    with pytest.raises(BadInput, match="standard output"):
        page_path("-")


def test_the_page_is_written_whole_and_never_through_a_symlink(tmp_path: Path) -> None:
    page = tmp_path / "deep" / "page.html"
    write_page(page, "<p>one</p>")
    assert page.read_text() == "<p>one</p>"
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    write_page(page, "<p>two</p>")
    assert page.read_text() == "<p>two</p>"
    assert sorted(p.name for p in page.parent.iterdir()) == ["page.html"]  # no temp file left

    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    with pytest.raises(BadInput, match="symlink"):
        write_page(link, "<p>pwned</p>")
    assert target.read_text() == "keep me"
    assert link.is_symlink()


def test_the_browser_gets_the_page_and_none_of_lumen_s_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen"
    script = tmp_path / "browser"
    script.write_text(f'#!/bin/sh\necho "$1" > {seen}\nenv >> {seen}\n')
    script.chmod(0o755)
    monkeypatch.setenv("LUMEN_API_KEY", "sk-lumen-secret-0123456789")
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec-secret")
    monkeypatch.setenv("BROWSER", f"/nonexistent/browser{os.pathsep}{script} %s")
    page = tmp_path / "a page.html"
    assert open_in_browser(page) == str(script)
    url, *env = seen.read_text().splitlines()
    assert url == page.as_uri()
    assert not [line for line in env if line.startswith(("LUMEN_API_KEY", "LUMEN_WEBHOOK_SECRET"))]
    assert "sk-lumen-secret" not in "\n".join(env)
    assert any(line.startswith("PATH=") for line in env)

    monkeypatch.setenv("BROWSER", "false")  # a browser that fails: none started
    assert open_in_browser(page) is None
