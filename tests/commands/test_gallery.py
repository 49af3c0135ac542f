"""``lumen gallery`` as users run it: the page, its filters, --json, --open, big histories."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLI
from tests.support import JOB_SHAPE, VIDEO, Recorded, finish_job, make_job, record_jobs


def _cards(page: Path) -> list[str]:
    """The ids of the page's cards, in order."""
    html = page.read_text()
    return [part.split('"', 1)[0] for part in html.split('<article class="card" data-id="')[1:]]


def test_the_page_holds_every_job_newest_first_and_its_path_is_printed(
    cli: CLI, api: httpx.Client, work: Path, any_history: str
) -> None:
    first = make_job(api, "a cat")
    assert cli("download", first, "-o", "clips/").code == 0
    second = cli("submit", "a dog", "-q").stdout.strip()
    run = cli("gallery")
    assert run.code == 0, run.stderr
    page = work / "lumen-gallery.html"
    assert run.stdout == f"{page}\n"
    assert "2 jobs, 1 saved video" in run.stderr
    assert _cards(page) == [second, first]
    html = page.read_text()
    assert f'href="./clips/{first}.mp4"' in html
    assert "a dog" in html
    assert "queued when this page was made" in html


def test_json_prints_what_the_page_would_hold_and_writes_nothing(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    job_id = make_job(api, "a cat")
    assert cli("download", job_id, "-o", "clips/").code == 0
    (work / "clips" / f"{job_id}.mp4").rename(work / "moved.mp4")  # the file is gone
    run = cli("gallery", "--json", "-o", "site/")
    assert run.code == 0, run.stderr
    [item] = json.loads(run.stdout)
    assert set(item) == JOB_SHAPE | {"videos"}
    assert item["videos"] == [
        {
            "path": str(work / "clips" / f"{job_id}.mp4"),
            "src": f"../clips/{job_id}.mp4",
            "exists": False,
        }
    ]
    assert not (work / "site").exists()
    assert not (work / "lumen-gallery.html").exists()


def test_filters_on_the_command_line(cli: CLI, api: httpx.Client, work: Path) -> None:
    ok = cli("submit", "one ok", "-q").stdout.strip()
    bad = cli("submit", "one bad", "-q", "-m", "veo-3-1").stdout.strip()
    finish_job(api, ok)
    finish_job(api, bad, "failed")
    for job_id in (ok, bad):
        cli("status", job_id)
    (work / "shots.txt").write_text("a batch line\n")
    assert cli("batch", "shots.txt").code == 0
    [line] = json.loads(cli("batch", "status", "shots", "--json").stdout)

    def ids(*args: str) -> list[str]:
        run = cli("gallery", "--json", *args)
        assert run.code == 0, run.stderr
        return [item["id"] for item in json.loads(run.stdout)]

    assert ids("--status", "FAILED") == [bad]
    assert ids("--model", "veo-3-1") == [bad]
    assert ids("--batch", "shots") == [line["id"]]
    assert ids("--since", "1h") == [line["id"], bad, ok]
    assert ids("--since", "2999-01-01") == []
    assert cli("gallery", "--batch", "nope").code == 2
    assert cli("gallery", "--status", "nope").code == 2
    assert cli("gallery", "-o", "-").code == 2
    empty = cli("gallery", "--since", "2999-01-01", "-o", "empty.html")
    assert empty.code == 0
    assert "No job matches" in empty.stderr
    assert _cards(work / "empty.html") == []


def test_a_symlink_where_the_page_goes_is_refused(cli: CLI, work: Path) -> None:
    target = work / "precious.txt"
    target.write_text("keep me")
    (work / "lumen-gallery.html").symlink_to(target)
    run = cli("gallery")
    assert run.code == 2
    assert "symlink" in run.stderr
    assert target.read_text() == "keep me"


def test_open_hands_the_page_to_the_browser(
    cli: CLI, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = work / "seen"
    browser = work / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    run = cli("gallery", "--open")
    assert run.code == 0, run.stderr
    assert seen.read_text().strip() == (work / "lumen-gallery.html").as_uri()
    monkeypatch.setenv("BROWSER", "false")
    run = cli("gallery", "--open")
    assert run.code == 0  # the page is written; the browser is a bonus
    assert "no browser could be started" in run.stderr


def test_a_history_of_thousands_of_hostile_jobs(cli: CLI, home: Path, work: Path) -> None:
    clip = work / "clip.mp4"
    clip.write_bytes(VIDEO)
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(1)>\x1b[2J'
    count = 1500
    record_jobs(
        home,
        [
            Recorded(
                f"v{index:06d}",
                {"model": f"m{index % 3}", "prompt": f"{hostile} {index}", "duration": 4},
                status=("succeeded", "failed", "queued")[index % 3],
                created=1_790_000_000 + index,
                paths=(str(clip),) if index % 3 == 0 else (),
                urls=(f"https://files.example/{index}.mp4",) if index % 3 == 0 else (),
                error=hostile if index % 3 == 1 else None,
            )
            for index in range(count)
        ],
    )
    started = time.perf_counter()
    run = cli("gallery")
    elapsed = time.perf_counter() - started
    assert run.code == 0, run.stderr
    assert elapsed < 10, f"{count} jobs took {elapsed:.1f} s"
    page = work / "lumen-gallery.html"
    cards = _cards(page)
    assert len(cards) == count
    assert cards[0] == f"v{count - 1:06d}"  # newest first
    html = page.read_text()
    assert html.count("<script>") == 1
    assert "<img" not in html
    assert "\x1b" not in html
    assert html.count('<a class="video" href="./clip.mp4"') == count // 3
