"""The benchmark harness (``python -m benchmarks``): it never touches the real config or
history, runs pairs alternately, and its file server serves what the download figures need."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.common import Row, Scratch, alternate, print_table
from tests.support import ROOT


def test_a_scratch_home_passes_on_no_lumen_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", "sk-lumen-real-key")
    monkeypatch.setenv("LUMEN_PROFILE", "work")
    with Scratch() as home:
        env = home.env(LUMEN_BASE_URL="http://127.0.0.1:9")
        assert {name for name in env if name.startswith("LUMEN_")} == {
            "LUMEN_CONFIG_DIR",
            "LUMEN_DATA_DIR",
            "LUMEN_BASE_URL",
        }
        assert Path(env["LUMEN_CONFIG_DIR"]).is_relative_to(home.root)
        assert Path(env["LUMEN_DATA_DIR"]).is_relative_to(home.root)
        assert home.history.is_relative_to(home.root)
        root = home.root
    assert not root.exists()


def test_pairs_alternate_which_side_goes_first(tmp_path: Path) -> None:
    log = tmp_path / "log"

    def side(name: str) -> list[str]:
        return ["sh", "-c", f'echo {name} >> "{log}"']

    pair = alternate(side("ours"), side("base"), rounds=4, warmup=1)
    order = log.read_text().split()
    assert order == ["ours", "base", "base", "ours", "ours", "base", "base", "ours", "ours", "base"]
    assert len(pair.ours) == len(pair.baseline) == len(pair.ours_rss) == 4  # warm-up left out
    assert all(peak > 0 for peak in pair.ours_rss)


def test_the_table_says_fail_and_n_a() -> None:
    lines: list[str] = []
    print_table(
        [
            Row("fast", "1 ms", "2 ms", "0.50x", "<= 1x", True),
            Row("slow", "3 ms", "2 ms", "1.50x", "<= 1x", False, "why it is slow"),
            Row("absent", "-", "-", "-", "-", None),
        ],
        out=lines.append,
    )
    assert [line.split()[-1] for line in lines[2:]] == ["pass", "FAIL", "slow", "n/a"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "video.bin").write_bytes(bytes(range(256)) * 2048)  # 512 KiB
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "job").write_text('{"id": "job"}')
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fileserver", str(tmp_path), "--rate", "2000000"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdout is not None
    try:
        yield server.stdout.readline().split()[-1]
    finally:
        server.terminate()
        server.wait(10)


def test_the_file_server_serves_ranges_json_and_a_held_rate(served: str) -> None:
    started = time.monotonic()
    whole = httpx.get(f"{served}/files/video.bin")
    elapsed = time.monotonic() - started
    assert whole.content == bytes(range(256)) * 2048
    assert elapsed >= 0.2  # 512 KiB at 2 MB/s: a quarter of a second
    part = httpx.get(f"{served}/files/video.bin", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-{512 * 1024 - 1}/{512 * 1024}"
    assert part.content == whole.content[1000:]
    api = httpx.get(f"{served}/v1/job")
    assert api.headers["Content-Type"] == "application/json"
    assert api.json() == {"id": "job"}


def test_the_suite_lists_its_figures_and_refuses_unknown_ones() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names[:6] == ["version", "help", "completion", "status", "list", "list-filter"]
    assert {"download-link", "download-loopback", "wait", "batch"} <= set(names)
    unknown = subprocess.run(
        [sys.executable, "-m", "benchmarks", "nope"], capture_output=True, text=True, cwd=ROOT
    )
    assert unknown.returncode == 2
    assert "no figure nope" in unknown.stderr
