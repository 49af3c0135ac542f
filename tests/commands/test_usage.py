"""``lumen usage`` as users run it: from the history alone, plain, JSON, a table and a chart."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import httpx

from lumen_cli.output import Output
from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import Recorded, finish_job, record_jobs, write_config

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _terminal(cli: CLI, *args: str, width: int = 80) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    run = cli("usage", *args, output=Output(stdout=stdout, stderr=stderr, tty=True, width=width))
    return run.code, ANSI.sub("", stdout.getvalue()), ANSI.sub("", stderr.getvalue())


def test_usage_of_sandbox_jobs_asks_nothing_of_the_api(
    cli: CLI, api: httpx.Client, home: Path, sandbox: SandboxServer
) -> None:
    ends = {"a cat": "succeeded", "a dog": "failed", "a cow": "cancelled"}
    for prompt, end in ends.items():
        job_id = cli("submit", prompt, "-q", "-d", "8").stdout.strip()
        finish_job(api, job_id, end)
        cli("status", job_id)
    cli("submit", "a fox", "-q", "-m", "veo-3-1", "-r", "1080p")  # still running
    write_config(home)
    requests = sandbox.stats()["requests"]
    run = cli("usage")
    assert run.code == 0, run.stderr
    assert sandbox.stats()["requests"] == requests  # from the history alone
    # Piped: a tab-separated line per model, by seconds of video.
    assert run.stdout.splitlines() == [
        "seedance-2\t3\t1\t1\t1\t0\t0\t24\t8\t8\t160\t80",
        "veo-3-1\t1\t0\t0\t0\t0\t1\t5\t0\t0\t200\t0",
    ]
    document = json.loads(cli("usage", "--json").stdout)
    assert document["by"] == "model"
    assert document["prices"] == str(home / "config" / "config.toml")
    assert document["total"]["credits_estimate"] == 360
    assert document["total"]["credits_refunded_estimate"] == 80
    assert document["total"]["seconds_refunded"] == 8


def test_a_table_and_a_chart_on_a_terminal(cli: CLI, home: Path) -> None:
    day = 86_400
    noon = time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, -1))
    record_jobs(
        home,
        [
            Recorded(
                "v1", {"model": "seedance-2", "prompt": "a", "duration": 10}, created=int(noon)
            ),
            Recorded(
                "v2",
                {"model": "seedance-2", "prompt": "b", "duration": 10},
                status="failed",
                created=int(noon),
            ),
            Recorded(
                "v3",
                {"model": "\x1b[2Jveo-3-1", "prompt": "c", "duration": 5},
                created=int(noon + 2 * day),
            ),
        ],
    )
    code, stdout, stderr = _terminal(cli)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].split() == ["MODEL", "JOBS", "OK", "FAILED", "SECONDS", "DELIVERED", "REFUNDED"]
    assert lines[1].split() == ["seedance-2", "2", "1", "1", "20", "s", "10", "s", "10", "s"]
    assert lines[2].split()[0] == "\\x1b[2Jveo-3-1"  # escaped: the screen is not cleared
    assert lines[4].split()[:4] == ["total", "3", "2", "1"]
    assert max(len(line) for line in lines) <= 80
    assert "[prices]" in stderr  # how to get estimates
    # The chart: a bar a day, the day between with none, delivered then the rest.
    title = "seconds of video per day (█ delivered, ░ failed, cancelled, running or unknown)"
    chart = lines[lines.index(title) + 1 :]
    assert [line.split()[0] for line in chart] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    first, empty, last = chart
    assert first.count("█") == first.count("░") > 0
    assert first.endswith(" 20 s")
    assert empty.split()[1:] == ["0", "s"]
    # 5 s is a quarter of 20 s (bars are rounded to whole characters).
    assert abs(last.count("█") * 4 - (first.count("█") + first.count("░"))) <= 4
    assert "░" not in last

    write_config(home)
    code, stdout, stderr = _terminal(cli)
    assert stdout.splitlines()[0].split()[-2:] == ["CREDITS", "(EST.)"]
    assert stdout.splitlines()[1].split()[-1] == "100"  # the failed job's 100 are not counted
    assert "credits are estimates" in " ".join(stderr.split())
    assert "failed jobs' 100 credits were refunded" in " ".join(stderr.split())
    assert "no price for \\x1b[2Jveo-3-1 (5 s of video)" in stderr


def test_by_day_profile_batch_and_since(cli: CLI, home: Path, work: Path) -> None:
    old = int(time.time()) - 10 * 86_400
    record_jobs(
        home,
        [
            Recorded("v-old", {"model": "seedance-2", "prompt": "a"}, created=old),
            Recorded("v-work", {"model": "seedance-2", "prompt": "b"}, profile="work"),
        ],
    )
    (work / "shots.txt").write_text("one\ntwo\n")
    assert cli("batch", "shots.txt", "-d", "4").code == 0

    def groups(*args: str) -> list[tuple[str | None, int]]:
        run = cli("usage", "--json", *args)
        assert run.code == 0, run.stderr
        document = json.loads(run.stdout)
        return [(g[document["by"]], g["seconds_requested"]) for g in document["groups"]]

    assert groups("--by", "batch") == [("shots", 8), (None, 5)]
    assert groups("--by", "profile") == [("default", 13), ("work", 5)]  # every profile
    assert groups("--by", "DAY", "--since", "2d") == [(time.strftime("%Y-%m-%d"), 8)]
    assert groups("--since", "2999-01-01") == []
    assert cli("usage", "--since", "2999-01-01").stderr == "no jobs match\n"
    assert cli("usage", "--by", "week").code == 2


def test_a_bad_price_table_names_the_file(cli: CLI, home: Path) -> None:
    config = write_config(home, "[prices]\nseedance-2 = 'ten'\n")
    record_jobs(home, [Recorded("v1", {"model": "seedance-2", "prompt": "a"})])
    run = cli("usage")
    assert run.code == 2
    assert f"[prices] in {config}: seedance-2 must be credits per second" in run.stderr
    # A bad table never stops a submit: it is read only where prices are used.
    assert cli("submit", "a cat", "-q").code == 0


def test_a_history_of_thousands_of_jobs(cli: CLI, home: Path) -> None:
    count = 2000
    start = int(time.time()) - count * 60
    record_jobs(
        home,
        [
            Recorded(
                f"v{index:06d}",
                {"model": f"m{index % 7}\x1b[31m", "prompt": "<b>x</b>", "duration": 4 + index % 3},
                status=("succeeded", "failed", "unknown", "cancelled")[index % 4],
                created=start + index * 60,
            )
            for index in range(count)
        ],
    )
    write_config(home, "[prices]\n" + "".join(f'"m{i}\\u001b[31m" = {i}\n' for i in range(7)))
    started = time.perf_counter()
    run = cli("usage", "--json")
    elapsed = time.perf_counter() - started
    assert run.code == 0, run.stderr
    assert elapsed < 5, f"{count} jobs took {elapsed:.1f} s"
    document = json.loads(run.stdout)
    assert document["total"]["jobs"] == count
    assert document["unpriced"] == {}
    code, stdout, stderr = _terminal(cli, width=100)
    assert code == 0
    assert "\x1b" not in stdout + stderr
    assert len(stdout.splitlines()) < 60  # 7 models, a total, at most 31 days of chart


def test_usage_by_batch_on_either_history(cli: CLI, work: Path, any_history: str) -> None:
    (work / "shots.txt").write_text("one\ntwo\n")
    assert cli("batch", "shots.txt", "-d", "4").code == 0
    assert cli("submit", "alone", "-d", "6").code == 0
    run = cli("usage", "--json", "--by", "batch")
    assert run.code == 0, run.stderr
    groups = json.loads(run.stdout)["groups"]
    assert [(g["batch"], g["jobs"], g["seconds_requested"]) for g in groups] == [
        ("shots", 2, 8),
        (None, 1, 6),
    ]
