"""What the CLI does with each accepted event: history, a line, --exec, --forward-to."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lumen_cli.webhook.protocol import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.support import (
    JOB_SHAPE,
    WHSEC,
    Receiver,
    StartListener,
    event,
    exec_recorder,
    history_records,
    signed,
)


def test_accepted_event_updates_history_and_prints_a_line(
    start_listener: StartListener, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_listener()
    body = event("v-ok")
    response = running.post(body, signed(body), path="/any/path/works")
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    running.settle()
    [line] = capsys.readouterr().out.splitlines()  # the plain line of the job
    fields = line.split("\t")
    assert (fields[0], fields[1], fields[-1]) == (
        "v-ok",
        "succeeded",
        "https://video.example/v-ok.mp4",
    )
    assert len(fields) == 7
    running.listener.stop()  # closes the history on the worker thread
    record = history_records(home)["v-ok"]
    assert record.status == "succeeded"
    assert record.urls == ["https://video.example/v-ok.mp4"]
    assert WHSEC not in json.dumps(record.to_json())


def test_json_mode_prints_each_event_as_one_json_line(
    start_listener: StartListener, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_listener(json_output=True)
    for job_id, status in (("v-a", "succeeded"), ("v-b", "failed")):
        body = event(job_id, status)
        assert running.post(body, signed(body)).status_code == 200
    running.settle()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [set(document) for document in documents] == [JOB_SHAPE, JOB_SHAPE]
    assert [(d["id"], d["status"]) for d in documents] == [("v-a", "succeeded"), ("v-b", "failed")]
    assert documents[0]["data"] == [{"url": "https://video.example/v-a.mp4"}]
    assert documents[1]["error"] == {"message": "test delivery: generation failed"}


def test_exec_gets_the_raw_body_and_env_and_replays_run_once(
    start_listener: StartListener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", WHSEC)  # must not reach the command
    command, bodies, envs = exec_recorder(tmp_path)
    running = start_listener(exec_command=command)
    body = b'{ "status": "failed",  "id": "v-x", "error": {"message": "boom \xc3\xa9"} }'
    first = running.post(body, signed(body))
    # A replay, even with a fresh timestamp, is acknowledged and ignored.
    replay = running.post(body, signed(body, timestamp=int(time.time()) + 5))
    assert first.json() == {"received": True, "duplicate": False}
    assert replay.status_code == 200
    assert replay.json() == {"received": True, "duplicate": True}
    running.settle()
    assert bodies.read_bytes() == body + b"\n"  # byte for byte, not re-serialised
    assert envs.read_text() == "v-x failed no-secret\n"
    assert running.listener.stats.duplicates == 1
    assert any("duplicate delivery of v-x" in line for line in running.logs)


def test_a_new_status_for_the_same_job_is_a_new_event(
    start_listener: StartListener, tmp_path: Path
) -> None:
    command, _, envs = exec_recorder(tmp_path)
    running = start_listener(exec_command=command)
    for status in ("processing", "succeeded", "succeeded"):
        body = event("v-s", status)
        assert running.post(body, signed(body)).status_code == 200
    running.settle()
    assert envs.read_text().splitlines() == ["v-s processing no-secret", "v-s succeeded no-secret"]


def test_a_failing_exec_is_reported_and_the_next_event_still_runs(
    start_listener: StartListener, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    command = (
        f'case "$LUMEN_JOB_ID" in v-exit) echo oops >&2; exit 3;; v-kill) kill -9 $$;; esac; '
        f'echo "$LUMEN_JOB_ID" >> "{marker}"'
    )
    running = start_listener(exec_command=command)
    for job_id in ("v-exit", "v-kill", "v-fine"):
        body = event(job_id)
        assert running.post(body, signed(body)).status_code == 200
    running.settle()
    assert marker.read_text() == "v-fine\n"
    captured = capsys.readouterr()
    assert "v-exit: running --exec failed: the command exited 3" in captured.err
    assert "v-kill: running --exec failed: the command was killed by signal 9" in captured.err
    assert "oops" in captured.err  # the command's own output goes to stderr...
    assert "oops" not in captured.out  # ...never to stdout
    assert captured.out.count("\n") == 3


def test_exec_timeout_kills_the_command(
    start_listener: StartListener, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_listener(exec_command="sleep 30", exec_timeout=0.3)
    body = event("v-slow")
    started = time.monotonic()
    assert running.post(body, signed(body)).status_code == 200
    running.settle()
    assert time.monotonic() - started < 5
    assert "killed after 0.3 s" in capsys.readouterr().err


def test_forward_to_receives_the_raw_body_and_headers(start_listener: StartListener) -> None:
    with Receiver(path="/app/hook") as app:
        running = start_listener(forward_to=app.url)
        body = b'{"id":"v-f","status":"succeeded","data":[{"url":"https://v.example/a.mp4"}]}  '
        headers = signed(body)
        assert running.post(body, headers).status_code == 200
        running.settle()
    [call] = app.received
    path, got, got_body = call.path, call.headers, call.body
    assert path == "/app/hook"
    assert got_body == body
    assert got[SIGNATURE_HEADER] == headers[SIGNATURE_HEADER]
    assert got[TIMESTAMP_HEADER] == headers[TIMESTAMP_HEADER]
    assert got["Content-Type"] == "application/json"
    assert verify(WHSEC, got_body, got[SIGNATURE_HEADER])


def test_a_failed_forward_is_reported(
    start_listener: StartListener, capsys: pytest.CaptureFixture[str]
) -> None:
    with Receiver([502]) as app:
        running = start_listener(forward_to=app.url)
        body = event("v-502")
        assert running.post(body, signed(body)).status_code == 200
        running.settle()
    assert "v-502: " in capsys.readouterr().err
    assert len(app.received) == 1
