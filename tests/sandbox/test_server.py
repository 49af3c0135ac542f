"""The server's life cycle: the state file, stop and restart, ``python -m lumen_cli.sandbox``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lumen_cli.sandbox import SandboxConfig, SandboxServer, SandboxStateError
from lumen_cli.sandbox.files import asset_bytes
from tests.sandbox.conftest import (
    AUTH,
    SIGNING_KEY,
    create,
    http_client,
    job,
    sandbox_config,
)
from tests.support import ROOT, Receiver


def test_state_file_keeps_jobs_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state" / "jobs.json"
    config = sandbox_config(state_file=state, job_seconds=0.0)
    with SandboxServer(config) as first, http_client(first.url, AUTH) as http:
        kept = create(http, "a kept cat", aspect_ratio="1:1")
        failed = create(http, "fail please")
    saved = json.loads(state.read_text())
    assert {item["id"] for item in saved["jobs"]} == {kept, failed}
    assert [p.name for p in state.parent.iterdir()] == ["jobs.json"]  # no temp file left over

    with SandboxServer(config) as second, http_client(second.url, AUTH) as http:
        document = job(http, kept)
        assert (document["prompt"], document["status"]) == ("a kept cat", "succeeded")
        assert document["data"][0]["url"].startswith(second.url)
        assert http.get(document["data"][0]["url"]).content == asset_bytes("1x1.mp4")
        assert job(http, failed)["status"] == "failed"
        create(http)
    assert len(json.loads(state.read_text())["jobs"]) == 3


def test_unreadable_state_file_is_an_error(tmp_path: Path) -> None:
    state = tmp_path / "jobs.json"
    state.write_text("{oops")
    with pytest.raises(SandboxStateError, match="not a lumen sandbox state file"):
        SandboxServer(sandbox_config(state_file=state))


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="job_seconds"):
        SandboxConfig(job_seconds=-1)
    with pytest.raises(ValueError, match="port"):
        SandboxConfig(port=70_000)


@pytest.mark.parametrize("limit", [0, -3, True, 2.5])
def test_submit_rate_limit_is_checked(limit: Any) -> None:
    with pytest.raises(ValueError, match="submit_rate_limit"):
        SandboxConfig(submit_rate_limit=limit)


def test_shutdown_endpoint_stops_the_server() -> None:
    server = SandboxServer(sandbox_config()).start()
    url = server.url
    runner = threading.Thread(target=server.serve_forever)
    runner.start()
    assert httpx.post(url + "/_sandbox/shutdown").json() == {"stopping": True}
    runner.join(timeout=5)
    assert not runner.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_sandbox/health")


def test_a_stopped_server_can_start_again(receiver: Receiver) -> None:
    server = SandboxServer(sandbox_config(job_seconds=0.0))
    server.start()
    server.stop()
    with server, http_client(server.url, AUTH) as http:
        create(http, webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
        body = receiver.next_call().body  # the webhook thread came back too
        assert json.loads(body)["status"] == "succeeded"


def test_stop_does_not_wait_for_idle_keep_alive_connections() -> None:
    server = SandboxServer(sandbox_config()).start()
    with http_client(server.url) as http:
        assert http.get("/_sandbox/health").status_code == 200  # leaves a pooled connection
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
    server.stop()  # idempotent


@contextlib.contextmanager
def sandbox_module(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m lumen_cli.sandbox --port 0 ARGS``: the process and the URL it announces."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "lumen_cli.sandbox", "--port", "0", *args]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 10.0)
        assert ready, "no output in time"
        line = process.stderr.readline()
        match = re.fullmatch(r"lumen sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_module_runs_in_the_foreground_until_sigterm() -> None:
    with sandbox_module("--job-seconds", "0.1") as (process, url):
        health = httpx.get(url + "/_sandbox/health").json()
        assert health["pid"] == process.pid
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


def test_module_arms_the_submit_rate_limit() -> None:
    with sandbox_module("--submit-rate-limit", "3") as (process, url):
        (limit,) = httpx.get(url + "/_sandbox/faults").json()["faults"]
        assert (limit["kind"], limit["per_second"]) == ("rate_limit", 3)
        assert (limit["method"], limit["path"]) == ("POST", "/v1/videos/generations")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


def test_module_refuses_a_bad_submit_rate_limit() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "lumen_cli.sandbox", "--port", "0", "--submit-rate-limit", "0"],
        capture_output=True, text=True, env=env, timeout=10, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot start: submit_rate_limit must be at least 1" in result.stderr


def test_module_reports_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-m", "lumen_cli.sandbox", "--port", str(port)],
            capture_output=True, text=True, env=env, timeout=10, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert "cannot start" in result.stderr
