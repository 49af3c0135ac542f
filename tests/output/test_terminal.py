"""What a person sees on a terminal: tables, the live wait view, download progress bars.

Each test renders into a buffer through an ``Output`` that is told it is a terminal, the way
gh's tests use ``iostreams.Test()``, and reads the text a person would read.
"""

from __future__ import annotations

import io
import re
import time

from lumen_cli.api.models import Job
from lumen_cli.output import Output
from lumen_cli.output.progress import DownloadProgress

LONG_ID = "v" + "0123456789abcdef" * 2
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal(width: int = 100) -> tuple[Output, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    return Output(stdout=stdout, stderr=stderr, tty=True, width=width), stdout, stderr


def plain(text: str) -> str:
    return ANSI.sub("", text)


def test_a_table_keeps_ids_whole_and_hides_columns_from_the_right_with_a_note() -> None:
    out, stdout, stderr = terminal(width=70)
    rows = [[LONG_ID, "succeeded", "seedance-2-fast", "text-to-video", "a cat " * 10]]
    out.table(["ID", "STATUS", "MODEL", "MODE", "PROMPT"], rows)
    header, row = plain(stdout.getvalue()).splitlines()
    assert header.split() == ["ID", "STATUS", "MODEL"]
    assert row.split() == [LONG_ID, "succeeded", "seedance-2-fast"]  # the id whole
    assert "hidden to fit the terminal: MODE, PROMPT" in plain(stderr.getvalue())


def test_a_pipe_gets_tab_separated_lines_and_no_header() -> None:
    stdout = io.StringIO()
    out = Output(stdout=stdout, stderr=io.StringIO(), tty=False)
    out.table(["ID", "PROMPT"], [[LONG_ID, "two\nlines\tand a tab"]])
    # A value can add no field and no line: its tab and newline are shown escaped.
    assert stdout.getvalue() == f"{LONG_ID}\ttwo\\nlines\\tand a tab\n"


def test_the_wait_view_spinner_turns_and_finished_jobs_show_their_mark() -> None:
    out, _, _ = terminal()
    display = out.wait_display()
    now = int(time.time())
    display.update(Job(id=LONG_ID, status="processing", created=now), None)
    display.update(Job(id="v-done", status="succeeded", created=now), None)
    console = out.console()

    def frame() -> str:
        with console.capture() as captured:
            console.print(display.render())
        return plain(captured.get())

    first = frame()
    time.sleep(0.25)  # "dots" moves every 80 ms
    second = frame()
    spinner = [line[0] for line in (first, second) for line in line.splitlines() if LONG_ID in line]
    assert spinner[0] != spinner[1]  # the spinner turned
    assert LONG_ID in first
    assert "✓" in first
    assert "1 processing, 1 succeeded" in first


def test_the_live_wait_view_draws_on_stderr_and_notes_stay_above_it() -> None:
    out, stdout, stderr = terminal()
    with out.wait_display() as display:
        display.update(Job(id=LONG_ID, status="queued", created=int(time.time())), None)
        display.note(LONG_ID, "saved clips/cat.mp4")
    shown = plain(stderr.getvalue())
    assert f"{LONG_ID}  saved clips/cat.mp4" in shown
    assert LONG_ID in shown.split("saved clips/cat.mp4")[1]  # the table is redrawn below
    assert stdout.getvalue() == ""


def test_without_a_terminal_the_wait_view_is_one_line_per_change() -> None:
    stderr = io.StringIO()
    out = Output(stdout=io.StringIO(), stderr=stderr, tty=False)
    with out.wait_display() as display:
        display.update(Job(id="v1", status="queued"), None)
        display.update(Job(id="v1", status="failed", error="boom"), "queued")
    assert stderr.getvalue() == "v1  queued\nv1  queued -> failed: boom\n"


def test_download_progress_shows_the_file_its_size_and_retry_notes() -> None:
    out, _, stderr = terminal()
    progress = DownloadProgress(out.console())
    task = progress.track("cat.mp4", 2 << 20, 0)
    progress.advance(task, 1 << 20)
    progress.note("cat.mp4: retrying in 1.0 s (2/6): the connection closed")
    progress.close()
    shown = plain(stderr.getvalue())
    assert "cat.mp4" in shown
    assert "MB" in shown
    assert "retrying in 1.0 s (2/6)" in shown


def test_no_progress_bars_off_a_terminal_or_when_quiet() -> None:
    assert Output(stdout=io.StringIO(), stderr=io.StringIO(), tty=False).download_progress() is None
    quiet = Output(stdout=io.StringIO(), stderr=io.StringIO(), tty=True)
    quiet.quiet = True
    assert quiet.download_progress() is None


def test_the_wait_view_keeps_its_order_shows_prompts_and_run_times() -> None:
    out, _, _ = terminal(width=120)
    now = int(time.time())
    display = out.wait_display(["v-b", "v-a"], {"v-a": "a cat\x1b[2J", "v-b": "a dog " * 20})
    display.update(Job(id="v-a", status="succeeded", created=now - 90), None)  # seen ended
    display.update(Job(id="v-b", status="processing", created=now - 30), None)
    display.ended_at["v-b"] = now  # pretend it ends now, after 30 s of running
    display.update(Job(id="v-b", status="succeeded", created=now - 30), "processing")
    console = out.console()
    with console.capture() as captured:
        console.print(display.render())
    rows = [line for line in plain(captured.get()).splitlines() if " v-" in line]
    assert [row.split()[1] for row in rows] == ["v-b", "v-a"]  # as given, not re-sorted
    assert "30s" in rows[0]  # its run time, not the time since creation
    assert "1m30s" not in rows[1]  # ended before we looked: its run time is unknown
    assert "a dog a dog" in rows[0]
    assert rows[0].rstrip().endswith("…")
    assert "a cat\\x1b[2J" in rows[1]
