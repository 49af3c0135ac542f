"""``lumen webhook listen / verify / send`` as users run them, in-process and as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lumen_cli.sandbox import SandboxServer
from lumen_cli.webhook.protocol import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.conftest import CLI
from tests.support import (
    KAT_BODY,
    KAT_SIGNATURE,
    WHSEC,
    Receiver,
    StartListener,
    event,
    history_records,
    signed,
)


def test_binding_elsewhere_warns_and_a_taken_port_is_exit_2(cli: CLI) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        run = cli("webhook", "listen", "--secret", WHSEC, "--port", port)
        assert run.code == 2
        assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
        run = cli("webhook", "listen", "--secret", WHSEC, "--host", "0.0.0.0", "--port", port)
    assert "reachable from other machines" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no webhook secret"),
        (["--secret", WHSEC, "--forward-to", "ftp://x/y"], "http(s) URL"),
        (["--secret", WHSEC, "-o", "clips/{nope}.mp4"], "placeholder"),
        (["--secret", WHSEC, "--tolerance", "-1"], "tolerance"),
    ],
)
def test_listen_usage_errors_are_exit_2(cli: CLI, args: list[str], message: str) -> None:
    run = cli("webhook", "listen", "--port", "0", *args)
    assert run.code == 2
    assert message in run.stderr


def test_verify_cli_valid_invalid_and_json(cli: CLI, tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(KAT_BODY)
    run = cli("webhook", "verify", "--secret", WHSEC, "--signature", KAT_SIGNATURE, str(body_file))
    assert (run.code, run.stdout) == (0, "valid\n")
    body_file.write_bytes(KAT_BODY + b"\n")
    run = cli("webhook", "verify", "--secret", WHSEC, "-s", KAT_SIGNATURE, str(body_file))
    assert (run.code, run.stdout) == (1, "invalid\n")
    assert "newline" in run.stderr
    run = cli("webhook", "verify", "--secret", WHSEC, "-s", KAT_SIGNATURE, str(body_file), "--json")
    assert (run.code, json.loads(run.stdout)) == (1, {"valid": False})
    assert WHSEC not in run.stdout + run.stderr


def test_verify_cli_reads_stdin_and_takes_the_secret_from_env_or_config(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = KAT_BODY.decode()
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", WHSEC)
    run = cli("webhook", "verify", "-s", KAT_SIGNATURE, "-", "--json", input=body)
    assert (run.code, json.loads(run.stdout)) == (0, {"valid": True})
    # A header pasted whole is understood too.
    run = cli("webhook", "verify", "-s", f"{SIGNATURE_HEADER}: {KAT_SIGNATURE}", input=body)
    assert (run.code, run.stdout) == (0, "valid\n")
    monkeypatch.delenv("LUMEN_WEBHOOK_SECRET")
    assert cli("config", "set", "webhook_secret", "-", input=WHSEC + "\n").code == 0
    run = cli("webhook", "verify", "-s", KAT_SIGNATURE, input=body)
    assert (run.code, run.stdout) == (0, "valid\n")
    # A flag beats the configured secret.
    run = cli("webhook", "verify", "--secret", "other", "-s", KAT_SIGNATURE, input=body)
    assert run.code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", KAT_SIGNATURE, "body.json"], "no webhook secret"),
        (["--secret", WHSEC, "-s", KAT_SIGNATURE, "missing.json"], "cannot read missing.json"),
        (["--secret", WHSEC, "body.json"], "--signature"),
    ],
)
def test_verify_cli_usage_errors_are_exit_2(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "body.json").write_bytes(KAT_BODY)
    run = cli("webhook", "verify", *args)
    assert run.code == 2
    assert message in run.stderr
    assert "valid" not in run.stdout


def test_send_delivers_a_signed_event_to_a_listener(
    cli: CLI, start_listener: StartListener, home: Path
) -> None:
    running = start_listener()
    run = cli("webhook", "send", running.url(), "--secret", WHSEC, "--id", "v-sent")
    assert run.code == 0, run.stderr
    assert "200 OK" in run.stdout.splitlines()
    assert '"duplicate": false' in run.stdout
    assert WHSEC not in run.stdout + run.stderr
    running.settle()
    running.listener.stop()
    assert "v-sent" not in history_records(home)  # a test delivery is no job to record


def test_send_failed_event_as_json(cli: CLI) -> None:
    with Receiver() as app:
        run = cli(
            "webhook", "send", app.url, "--secret", WHSEC, "--id", "v-9", "--status", "failed",
            "--json",
        )  # fmt: skip
    assert run.code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["status_code"] == 200
    assert document["ok"] is True
    [call] = app.received
    headers, body = call.headers, call.body
    assert json.loads(body) == {
        "id": "v-9",
        "status": "failed",
        "test": True,  # signed with the rest: lumen's listener records no test delivery
        "error": {"message": "test delivery: generation failed"},
    }
    assert verify(WHSEC, body, headers[SIGNATURE_HEADER])
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60


def test_send_exit_codes(cli: CLI, start_listener: StartListener) -> None:
    running = start_listener()
    run = cli("webhook", "send", running.url(), "--secret", "wrong", "--id", "v-1")
    assert run.code == 1
    assert run.stdout.startswith("401 Unauthorized")
    assert "secret" in run.stderr
    stale = cli("webhook", "send", running.url(), "--secret", WHSEC, "--id", "v-1",
                "--timestamp", "1000")  # fmt: skip
    assert stale.code == 1
    assert stale.stdout.startswith("400 Bad Request")
    with Receiver([503]) as app:
        run = cli("webhook", "send", app.url, "--secret", WHSEC, "--id", "v-1")
    assert run.code == 6
    assert "upstream broke" in run.stdout
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    run = cli("webhook", "send", f"http://127.0.0.1:{port}/hook", "--secret", WHSEC, "--id", "v")
    assert run.code == 6
    assert "could not deliver" in run.stderr
    run = cli("webhook", "send", "localhost:8787/hook", "--secret", WHSEC, "--id", "v")
    assert run.code == 2


def test_submit_sends_the_configured_webhook_pair(cli: CLI) -> None:
    assert cli("config", "set", "webhook_url", "https://hooks.example/lumen").code == 0
    assert cli("config", "set", "webhook_secret", "-", input="whsec-configured\n").code == 0
    run = cli("submit", "a cat", "--dry-run", "--json")
    assert run.code == 0, run.stderr
    body = json.loads(run.stdout)
    sent = {name: body[name] for name in ("webhook_url", "webhook_secret")}
    assert sent == {"webhook_url": "https://hooks.example/lumen", "webhook_secret": "***"}
    assert "whsec-configured" not in run.stdout + run.stderr


def spawn_listener(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``lumen webhook listen ARGS`` in its own process; return it and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli", "webhook", "listen", "--port", "0", *args],
        env={**os.environ, "LUMEN_WEBHOOK_SECRET": WHSEC},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
    if not match:
        process.kill()
        process.communicate()
    assert match, banner
    return process, match.group(1)


@pytest.mark.slow
def test_sandbox_deliveries_reach_the_listener_end_to_end(
    cli: CLI, sandbox: SandboxServer, tmp_path: Path
) -> None:
    events, envs = tmp_path / "events.jsonl", tmp_path / "envs"
    command = (
        f'cat >> "{events}"; echo >> "{events}"; echo "$LUMEN_JOB_ID $LUMEN_JOB_STATUS" >> "{envs}"'
    )
    clips = str(tmp_path / "clips") + "/"
    process, url = spawn_listener("--json", "--exec", command, "--download", "-o", clips)
    try:
        hook = url + "/hook"

        def submit(prompt: str) -> str:
            run = cli("submit", prompt, "--webhook-url", hook, "--webhook-secret", WHSEC, "-q")
            assert run.code == 0, run.stderr
            return run.stdout.strip()

        ok, failed = submit("a cat running"), submit("a cat that will fail")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if envs.exists() and len(envs.read_text().splitlines()) == 2:
                break
            time.sleep(0.05)
        assert sorted(envs.read_text().splitlines()) == sorted(
            [f"{ok} succeeded", f"{failed} failed"]
        )
        delivered = {d["job_id"]: d for d in sandbox.deliveries()}
        assert delivered[ok]["delivered"]
        assert delivered[ok]["attempts"] == 1
        assert delivered[failed]["delivered"]

        jobs = {job["id"]: job for job in json.loads(cli("list", "--json").stdout)}
        assert jobs[ok]["status"] == "succeeded"
        assert jobs[ok]["data"] == [{"url": f"{sandbox.url}/files/{ok}/0.mp4"}]
        assert jobs[failed]["status"] == "failed"
        assert "fail" in jobs[failed]["error"]["message"]
        saved = Path(jobs[ok]["paths"][0])
        assert saved.parent == tmp_path / "clips"
        assert saved.read_bytes()[4:8] == b"ftyp"  # an MP4 file
        assert jobs[failed]["paths"] == []
        received = [json.loads(line) for line in events.read_text().splitlines()]
        assert {event["id"] for event in received} == {ok, failed}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped: 2 events received" in err
    assert WHSEC not in out + err
    assert {json.loads(line)["id"] for line in out.splitlines()} == {ok, failed}


@pytest.mark.slow
def test_sigterm_drains_and_a_second_interrupt_abandons(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # (A short sleep: if this test fails, the orphaned command holds the pipes that long.)
    process, url = spawn_listener("--exec", f'sleep 8; echo "$LUMEN_JOB_ID" >> "{marker}"')
    try:
        for job_id in ("v-1", "v-2"):
            body = event(job_id)
            response = httpx.post(url + "/hook", content=body, headers=signed(body), timeout=5)
            assert response.status_code == 200
        process.send_signal(signal.SIGTERM)  # as a service manager stops it: drain first
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(4)]
        assert any("finishing 2 received event(s)" in line for line in lines), lines
        with pytest.raises(httpx.ConnectError):  # no longer taking deliveries
            httpx.post(url + "/hook", content=body, headers=signed(body), timeout=5)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)  # Ctrl-C while draining: abandon
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert time.monotonic() - started < 5  # the running --exec was killed, not waited for
    assert "abandoned 2 unfinished event(s)" in err
    assert "killed by signal 9" in err
    assert "Traceback" not in err
    assert not marker.exists()
    [line] = out.splitlines()
    fields = line.split("\t")
    assert (fields[0], fields[1], fields[-1]) == (
        "v-1",
        "succeeded",
        "https://video.example/v-1.mp4",
    )
