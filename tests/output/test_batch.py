"""What a person sees of a batch on a terminal: one progress line, notes above it, a summary."""

from __future__ import annotations

import io
import json
import re
import time

import pytest

from lumen_cli.api.models import Job
from lumen_cli.output import Output
from lumen_cli.output.batch import BatchDisplay, LineResult, format_seconds
from tests.support import wait_for

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal() -> tuple[Output, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    return Output(stdout=stdout, stderr=stderr, tty=True, width=120), stdout, stderr


def test_the_progress_line_counts_lines_sent_running_and_ended() -> None:
    out, stdout, _ = terminal()
    display = BatchDisplay(out, name="shots")
    display.begin(total=10, to_send=8)
    for n in range(3):
        display.sent_line(Job(id=f"v{n}", status="queued"))
    display.update(Job(id="v0", status="succeeded"), "queued")
    display.result(LineResult(1, "a", "succeeded", id="v0"))
    display.result(LineResult(2, None, "failed", id="v9", error="boom"))
    line = display.progress_line()
    assert line.startswith("2/10 lines · sent 3/8 · running 2 · succeeded 1 · failed 1 · ")
    assert "lines/s" in line
    assert "ETA " in line
    assert stdout.getvalue() == ""  # results go to stdout only as data, not on a terminal


def test_the_live_display_draws_on_stderr_and_the_summary_is_a_table() -> None:
    out, stdout, stderr = terminal()
    with BatchDisplay(out, name="shots") as display:
        display.begin(total=2, to_send=2)
        display.sent_line(Job(id="v1", status="queued"))
        display.sent_line()  # refused: sent, no job
        display.result(LineResult(1, "fox", "queued", id="v1"))
        display.result(LineResult(2, "owl", "refused", error="content blocked"))
    assert display.sent == 2
    display.summary(hint="1 line was refused by the API: fix them and run again.")
    shown = ANSI.sub("", stderr.getvalue())
    assert "warning: line 2 (owl): refused: content blocked" in shown
    assert "batch shots: 2 lines: 1 queued, 1 refused" in shown
    assert "fix them and run again" in shown
    table = ANSI.sub("", stdout.getvalue())
    assert [row.split() for row in table.splitlines()[:4]] == [
        ["STATUS", "LINES"],
        ["queued", "1"],
        ["refused", "1"],
        ["total", "2"],
    ]
    assert "owl" in table  # the problem lines, listed under the counts


def test_pipes_get_one_tab_separated_line_per_result_and_a_results_file() -> None:
    stdout, results = io.StringIO(), io.StringIO()
    out = Output(stdout=stdout, stderr=io.StringIO(), tty=False)
    display = BatchDisplay(out, name="shots", results=results)
    display.result(LineResult(3, "fox", "succeeded", id="v3", paths=["/c/fox.mp4"]))
    assert stdout.getvalue() == "3\tfox\tv3\tsucceeded\t/c/fox.mp4\n"
    document = {"line": 3, "custom_id": "fox", "id": "v3", "status": "succeeded"}
    document |= {"error": None, "paths": ["/c/fox.mp4"], "host": None}
    assert json.loads(results.getvalue()) == document


def test_a_plain_result_keeps_each_path_a_field_and_escapes_what_would_split_it() -> None:
    stdout = io.StringIO()
    out = Output(stdout=stdout, stderr=io.StringIO(), tty=False)
    display = BatchDisplay(out, name="shots")
    paths = ["/c/my fox.mp4", "/c/my fox-2.mp4"]
    display.result(LineResult(3, "fox\tcub", "succeeded", id="v3", paths=paths))
    display.result(LineResult(4, None, "failed", id="v4", error="bad\nthing"))
    assert stdout.getvalue().splitlines() == [
        "3\tfox\\tcub\tv3\tsucceeded\t/c/my fox.mp4\t/c/my fox-2.mp4",
        "4\t\tv4\tfailed\tbad\\nthing",
    ]


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.4, 42, 187, 3725)] == ["0.4s", "42s", "3m07s", "1h02m"]


class PipedTerminal(Output):
    """stderr a terminal, stdout a pipe (``lumen batch f --json > results.jsonl``)."""

    @property
    def stdout_tty(self) -> bool:
        return False


def test_results_piped_away_never_land_in_the_display(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stderr = io.StringIO()
    out = PipedTerminal(stderr=stderr, tty=True, width=100)  # stdout: sys.stdout, captured
    out.json_mode = True
    with BatchDisplay(out, name="shots") as display:
        display.result(LineResult(1, None, "queued", id="v1"))
    assert json.loads(capsys.readouterr().out) == {
        "line": 1, "custom_id": None, "id": "v1", "status": "queued", "error": None, "paths": [],
        "host": None,
    }  # fmt: skip
    assert '"id"' not in stderr.getvalue()


def test_the_follow_service_entering_the_display_again_shares_its_one_live_view() -> None:
    """A run enters its display, and so does the follow service it is handed to: a second
    live view would keep drawing, over the summary, after the first is stopped."""
    stderr = io.StringIO()
    out = Output(stdout=io.StringIO(), stderr=stderr, tty=True, width=100)
    with BatchDisplay(out, name="shots") as display:
        display.begin(2, 2)
        with display:  # as services.follow does
            display.result(LineResult(1, None, "queued", id="v1"))
        drawn = len(stderr.getvalue())
        wait_for(lambda: len(stderr.getvalue()) > drawn, seconds=5, what="a refresh")
    stopped = len(stderr.getvalue())
    time.sleep(0.6)  # more than two refreshes of a live view
    assert len(stderr.getvalue()) == stopped
