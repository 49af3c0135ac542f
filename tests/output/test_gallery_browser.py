"""The gallery page in a real browser: headless Chromium driven by Playwright.

The videos are real sandbox MP4 files, downloaded by ``lumen download`` in the test, and the
page is opened from disk as a person would open it (``file://``). One browser serves the
whole session (per xdist worker). Without Playwright or a Chromium the tests are skipped,
with the reason; ``LUMEN_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that skip into a
failure, so CI cannot pass without running them.

``LUMEN_GALLERY_SCREENSHOT=FILE.png`` makes the first test save a screenshot of the page
once its videos have loaded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import CLI
from tests.support import VIDEO, Recorded, finish_job, record_jobs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOSTILE = '<script>window.pwned = 1</script>"><img src=x onerror="window.pwned = 2">\x1b[31m'
# How long a page has to load a video's metadata from disk, in milliseconds.
METADATA_TIMEOUT_MS = 10_000
# Read at import: every test runs without the LUMEN_* variables of the environment.
REQUIRE_BROWSER = bool(os.environ.get("LUMEN_REQUIRE_BROWSER"))
SCREENSHOT = os.environ.get("LUMEN_GALLERY_SCREENSHOT")


def _no_browser(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"LUMEN_REQUIRE_BROWSER is set, but {reason}")
    pytest.skip(f"no browser test: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session: the system's (Playwright downloads none)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("Playwright is not installed (pip install -e '.[test]')")
    executable = next((found for name in CHROMIUMS if (found := shutil.which(name))), None)
    if executable is None:
        _no_browser("no Chromium on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            launched.close()


class Opened:
    """A page of the browser, with every console error and uncaught exception it had."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def cards(self, selector: str = ".card") -> list[str]:
        """The ids of the cards shown."""
        ids: list[str] = self.page.eval_on_selector_all(
            selector, "cards => cards.filter(c => !c.hidden).map(c => c.dataset.id)"
        )
        return ids

    def load_videos(self) -> list[dict[str, Any]]:
        """Bring every card with a video into view, wait for each video's metadata, and
        return what each video then knows of itself."""
        page = self.page
        for card in page.query_selector_all(".card:has(.frame)"):
            card.scroll_into_view_if_needed()
            card.wait_for_selector("video", state="attached", timeout=METADATA_TIMEOUT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 1)",
            timeout=METADATA_TIMEOUT_MS,
        )
        videos: list[dict[str, Any]] = page.eval_on_selector_all(
            "video",
            "videos => videos.map(v => ({id: v.closest('.card').dataset.id, src: v.src,"
            " ready: v.readyState, duration: v.duration, width: v.videoWidth,"
            " height: v.videoHeight, preload: v.preload, controls: v.controls}))",
        )
        return videos


@pytest.fixture
def opened(browser: Browser) -> Iterator[Opened]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    try:
        yield Opened(context.new_page())
    finally:
        context.close()


def _submit_and_end(cli: CLI, api: httpx.Client, *args: str, end: str = "succeeded") -> str:
    """A job submitted with lumen (so the history has its request), ended by the sandbox."""
    run = cli("submit", *args, "-q")
    assert run.code == 0, run.stderr
    job_id = run.stdout.strip()
    finish_job(api, job_id, end)
    return job_id


def test_the_page_plays_every_saved_video_and_runs_nothing_from_the_history(
    cli: CLI, api: httpx.Client, work: Path, opened: Opened
) -> None:
    saved = {
        ratio: _submit_and_end(cli, api, f"a {ratio} clip", "-a", ratio)
        for ratio in ("16:9", "9:16", "1:1")
    }
    hostile = _submit_and_end(cli, api, HOSTILE, "-d", "6")
    failed = _submit_and_end(cli, api, "a clip that fails", end="failed")
    remote = _submit_and_end(cli, api, "a clip never downloaded")
    for job_id in [*saved.values(), hostile]:
        assert cli("download", job_id, "-o", "clips/").code == 0
    cli("status", failed)
    cli("status", remote)
    run = cli("gallery", "-o", "site/index.html")  # videos reached through ../clips/
    assert run.code == 0, run.stderr
    page_file = work / "site" / "index.html"

    page = opened.page
    page.goto(page_file.as_uri())
    # Newest first; every card there.
    assert opened.cards() == [remote, failed, hostile, *reversed(saved.values())]
    videos = opened.load_videos()
    # Each saved file is a real, playable video: its metadata loaded from disk.
    assert sorted(video["id"] for video in videos) == sorted([*saved.values(), hostile])
    assert all(video["ready"] >= 1 and video["duration"] > 0 for video in videos), videos
    assert all(video["controls"] and video["preload"] == "metadata" for video in videos)
    assert all(video["src"].startswith((work / "clips").as_uri()) for video in videos)
    sizes = {video["id"]: (video["width"], video["height"]) for video in videos}
    assert sizes[saved["16:9"]] == (160, 90)
    assert sizes[saved["9:16"]] == (90, 160)
    assert sizes[saved["1:1"]] == (120, 120)
    if SCREENSHOT:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=SCREENSHOT)

    # The hostile prompt is text on the card, escape code shown, and ran nothing.
    prompt = page.text_content(f'.card[data-id="{hostile}"] .prompt')
    assert prompt == HOSTILE.replace("\x1b", "\\x1b")
    assert page.evaluate("window.pwned") is None
    assert page.query_selector_all("img") == []
    assert len(page.query_selector_all("script")) == 1
    # A failed job shows its error, one never downloaded its URL and that it may expire.
    failed_card = page.text_content(f'.card[data-id="{failed}"]') or ""
    assert "generation failed" in failed_card
    remote_card = page.text_content(f'.card[data-id="{remote}"]') or ""
    assert f"/files/{remote}/0.mp4" in remote_card
    assert "may have expired" in remote_card

    # The search box hides the cards whose prompt does not match, and shows them again.
    page.fill("#search", "9:16 CLIP")
    assert opened.cards() == [saved["9:16"]]
    assert page.text_content("#shown") == "1 of 6 shown"
    page.fill("#search", "no such words")
    assert opened.cards() == []
    assert page.is_visible("#empty")
    page.fill("#search", "")
    assert len(opened.cards()) == 6
    # The status toggles hide and show a status's cards.
    page.click('.toggle[data-kind="status"][data-value="succeeded"]')
    assert opened.cards() == [failed]
    page.click('.toggle[data-kind="status"][data-value="succeeded"]')
    assert len(opened.cards()) == 6
    # The copy button puts the id on the clipboard, and says so.
    page.click(f'.card[data-id="{failed}"] .copy')
    page.wait_for_selector(f'.card[data-id="{failed}"] .copy:text("copied")')
    assert page.evaluate("navigator.clipboard.readText()") == failed
    assert opened.errors == []
    # Even a script that got into the page some other way does not run: the CSP says no.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.pwned = 3'; document.body.append(s); }"
    )
    assert page.evaluate("window.pwned") is None
    assert any("Content Security Policy" in error for error in opened.errors)


def test_a_thousand_jobs_open_at_once_and_make_videos_only_near_the_view(
    home: Path, work: Path, opened: Opened, cli: CLI
) -> None:
    clip = work / "clip.mp4"
    clip.write_bytes(VIDEO)
    count = 1000
    record_jobs(
        home,
        [
            Recorded(
                f"v{index:06d}",
                {"model": "seedance-2", "prompt": f"shot {index} of a long day", "duration": 5},
                created=1_790_000_000 + index,
                paths=(str(clip),),
            )
            for index in range(count)
        ],
    )
    assert cli("gallery").code == 0
    page = opened.page
    page.goto((work / "lumen-gallery.html").as_uri())
    assert len(opened.cards()) == count
    # Lazy: only the cards near the view have a <video>; the others hold a link.
    made = page.eval_on_selector_all("video", "videos => videos.length")
    assert 0 < made < 100
    page.fill("#search", "shot 999 ")
    assert opened.cards() == ["v000999"]
    page.fill("#search", "")
    last = page.query_selector(".card:last-child")
    assert last is not None
    last.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('.card:last-child video')?.readyState >= 1",
        timeout=METADATA_TIMEOUT_MS,
    )
    assert opened.errors == []
