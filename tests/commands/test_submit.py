"""``lumen submit`` through the CLI, against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import JOB_SHAPE, JOBS_PATH, TEST_KEY, post_count, write_config

JOBS = "/v1/videos/generations"


def test_submit_prints_one_line_and_records_history(cli: CLI, api: httpx.Client) -> None:
    run = cli("submit", "a cat running on the grass", "-d", "6", "-r", "1080p", "-a", "9:16")
    assert run.code == 0, run.stderr
    [line] = run.stdout.splitlines()  # piped: the plain line (README, "Output for scripts")
    job_id, status, model, mode, created, prompt = line.split("\t")
    assert (status, model, mode) == ("queued", "seedance-2", "text-to-video")
    assert prompt == "a cat running on the grass"
    assert created.endswith("Z")
    listed = cli("list", "--json")
    records = json.loads(listed.stdout)
    assert [r["id"] for r in records] == [job_id]
    assert records[0]["request"]["duration"] == 6
    # The server saw each field under its own name and type.
    server_job = api.get(f"{JOBS_PATH}/{job_id}").json()
    assert server_job["duration"] == 6
    assert server_job["resolution"] == "1080p"
    assert server_job["aspect_ratio"] == "9:16"


def test_quiet_prints_only_the_id(cli: CLI) -> None:
    run = cli("submit", "a cat", "-q")
    assert run.code == 0
    assert run.stdout.strip().startswith("v")
    assert len(run.stdout.strip().splitlines()) == 1
    assert run.stderr == ""


def test_json_prints_the_job_in_the_one_shape(cli: CLI) -> None:
    run = cli("submit", "a cat", "-d", "5", "--json")
    document = json.loads(run.stdout)
    assert set(document) == JOB_SHAPE
    assert (document["status"], document["prompt"], document["mode"]) == (
        "queued",
        "a cat",
        "text-to-video",
    )
    assert document["request"] == {"model": "seedance-2", "prompt": "a cat", "duration": 5}
    assert document["data"] == []
    assert document["error"] is None
    status = json.loads(cli("status", document["id"], "--json").stdout)
    listed = json.loads(cli("list", "--json").stdout)
    assert set(status) == set(listed[0]) == JOB_SHAPE  # the same shape everywhere


def test_prompt_from_stdin(cli: CLI) -> None:
    run = cli("submit", "-", "--json", input="a slow pan over a city at night\n")
    assert run.code == 0
    job_id = json.loads(run.stdout)["id"]
    status = json.loads(cli("status", job_id, "--json").stdout)
    assert status["prompt"] == "a slow pan over a city at night"


@pytest.mark.parametrize("piped", ["", "\n", "  \n\t\n"])
def test_an_empty_prompt_on_stdin_is_named_as_such(
    cli: CLI, sandbox: SandboxServer, piped: str
) -> None:
    before = post_count(sandbox)
    run = cli("submit", "-", input=piped)
    assert run.code == 2
    assert "error: the prompt read from stdin is empty" in run.stderr
    assert "echo" in run.stderr  # the hint shows how to pipe one in
    assert post_count(sandbox) == before


def test_dry_run_sends_nothing_and_redacts_the_secret(cli: CLI, sandbox: SandboxServer) -> None:
    before = post_count(sandbox)
    run = cli(
        "submit", "a cat", "--dry-run", "--json", "--no-audio",
        "--ref-image", "https://img.example/1.png", "--ref-image", "https://img.example/2.png",
        "--image", "https://img.example/first.png",
        "--webhook-url", "https://hooks.example/cb", "--webhook-secret", "s3cret-value",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    body = json.loads(run.stdout)
    assert body == {
        "model": "seedance-2",
        "prompt": "a cat",
        "generate_audio": False,
        "image_url": "https://img.example/first.png",
        "reference_image_urls": ["https://img.example/1.png", "https://img.example/2.png"],
        "webhook_url": "https://hooks.example/cb",
        "webhook_secret": "***",
    }
    assert "s3cret-value" not in run.stdout + run.stderr
    assert "image-to-video" in run.stderr
    assert post_count(sandbox) == before


def test_dry_run_curl_keeps_the_key_in_the_environment(cli: CLI, sandbox: SandboxServer) -> None:
    run = cli(
        "submit", "it's a cat", "--dry-run", "--curl", "--ref-video", "https://v.example/a.mp4"
    )
    assert run.code == 0
    assert "$LUMEN_API_KEY" in run.stdout
    assert TEST_KEY not in run.stdout
    assert f"{sandbox.url}{JOBS}" in run.stdout
    assert "video-to-video" in run.stderr


def test_only_set_fields_are_sent(cli: CLI) -> None:
    body = json.loads(cli("submit", "a cat", "--dry-run", "--json").stdout)
    assert body == {"model": "seedance-2", "prompt": "a cat"}


def test_configured_defaults_apply_and_flags_win(cli: CLI) -> None:
    assert cli("config", "set", "duration", "8").code == 0
    assert cli("config", "set", "resolution", "480p").code == 0
    body = json.loads(cli("submit", "a cat", "--dry-run", "--json", "-r", "720p").stdout)
    assert body["duration"] == 8
    assert body["resolution"] == "720p"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "prompt is empty"),
        (["a cat", "-d", "3"], "--duration must be at least 4"),
        (["a cat", "-d", "4.5"], "integer"),
        (["a cat", "--webhook-url", "https://h.example/cb"], "secret"),
        (["a cat", "--image", "ftp://x/y.png"], "http(s) URL"),
        (["a cat", "-a", "16x9"], "--aspect-ratio must look like 16:9"),
        (["a cat", "-r", "hd"], "--resolution must look like 720p"),
        (["a cat", "--curl"], "--dry-run"),
    ],
)
def test_bad_input_is_exit_2_and_sends_nothing(
    cli: CLI, sandbox: SandboxServer, args: list[str], message: str
) -> None:
    before = post_count(sandbox)
    run = cli("submit", *args)
    assert run.code == 2
    assert message in run.stderr
    assert post_count(sandbox) == before
    assert run.stdout == ""


def test_local_path_gets_a_urls_only_hint(cli: CLI, tmp_path: Path) -> None:
    picture = tmp_path / "first.png"
    picture.write_bytes(b"\x89PNG")
    run = cli("submit", "a cat", "--image", str(picture))
    assert run.code == 2
    assert "URLs only" in run.stderr


@pytest.mark.parametrize(
    ("prompt", "key", "code", "message"),
    [
        ("a blocked prompt", TEST_KEY, 2, "safety"),
        ("a cat", "sk-lumen-revoked", 3, "lumen auth login"),
        ("a cat", "sk-lumen-nocredit", 4, "credits"),
    ],
)
def test_api_errors_map_to_exit_codes(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, prompt: str, key: str, code: int, message: str
) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", key)
    run = cli("submit", prompt)
    assert run.code == code
    assert message in run.stderr
    assert key not in run.stderr
    assert json.loads(cli("list", "--json").stdout) == []  # refused: nothing to track


def test_unknown_model_is_exit_5(cli: CLI) -> None:
    run = cli("submit", "a cat", "-m", "nope-9")
    assert run.code == 5
    assert "model" in run.stderr


def test_no_key_is_exit_3(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", "")  # empty counts as unset
    run = cli("submit", "a cat")
    assert run.code == 3
    assert "no API key" in run.stderr


def test_outcome_unknown_is_kept_in_history_and_exit_6(cli: CLI, sandbox: SandboxServer) -> None:
    before = post_count(sandbox)
    sandbox.faults.add("status", method="POST", path=JOBS, status=502, count=3)
    run = cli("submit", "a cat")
    assert run.code == 6
    assert "unknown" in run.stderr
    assert post_count(sandbox) - before == 1
    records = json.loads(cli("list", "--json", "--status", "unknown").stdout)
    assert len(records) == 1
    assert records[0]["id"].startswith("local-")
    assert records[0]["prompt"] == "a cat"
    status = cli("status", records[0]["id"])
    assert status.code == 2
    assert "outcome is unknown" in status.stderr


def test_json_mode_errors_are_one_json_document(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", "sk-lumen-nocredit")
    run = cli("submit", "a cat", "--json")
    assert run.code == 4
    document = json.loads(run.stdout)
    assert document["error"]["type"] == "insufficient_credits"
    assert document["error"]["exit_code"] == 4
    assert document["error"]["status"] == 402


def test_webhook_secret_is_sent_but_never_stored(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec-do-not-store")
    run = cli("submit", "a cat", "--webhook-url", "http://127.0.0.1:9/cb", "--json")
    assert run.code == 0, run.stderr
    listed = cli("list", "--json").stdout
    assert json.loads(listed)[0]["request"]["webhook_url"] == "http://127.0.0.1:9/cb"
    assert "whsec-do-not-store" not in listed
    for path in (home / "data").rglob("*"):
        if path.is_file():
            assert b"whsec-do-not-store" not in path.read_bytes()


def test_dry_run_curl_runs_as_printed_with_the_secrets_in_the_environment(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec-from-env")
    run = cli(
        "submit", 'it\'s a "cat"', "--webhook-url", "https://h.example/cb", "--dry-run", "--curl"
    )
    assert run.code == 0, run.stderr
    assert "whsec-from-env" not in run.stdout
    assert "***" not in run.stdout  # not a placeholder that cannot run
    # Run the command with a stand-in curl that prints its last argument, the body.
    script = 'curl() { for a; do last=$a; done; printf "%s" "$last"; }\n' + run.stdout
    shell = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": os.environ["PATH"], "LUMEN_WEBHOOK_SECRET": "s3cr3t", "LUMEN_API_KEY": "k"},
        capture_output=True,
        text=True,
        check=True,
    )
    sent = json.loads(shell.stdout)
    assert sent["webhook_secret"] == "s3cr3t"  # noqa: S105 - the test's stand-in
    assert sent["prompt"] == 'it\'s a "cat"'


def test_dry_run_under_sandbox_starts_no_sandbox(
    cli: CLI, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUMEN_SANDBOX_URL")
    monkeypatch.setenv("LUMEN_SANDBOX_PORT", "1")  # nothing may start there
    run = cli("--sandbox", "submit", "a cat", "--dry-run", "--curl")
    assert run.code == 0, run.stderr
    assert "http://127.0.0.1:1/v1/videos/generations" in run.stdout
    assert not (home / "data" / "sandbox" / "state.json").exists()


def test_a_shared_history_that_cannot_be_reached_refuses_the_submit(
    cli: CLI, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import POSTGRES_PASSWORD, free_port

    url = f"postgresql://team:{POSTGRES_PASSWORD}@127.0.0.1:{free_port()}/lumen"
    monkeypatch.setenv("LUMEN_HISTORY_URL", url)
    before = post_count(sandbox)
    run = cli("submit", "a cat", "--json")
    assert run.code == 6  # nothing billed: nothing sent
    assert post_count(sandbox) == before
    error = json.loads(run.stdout)["error"]
    assert error["type"] == "history_unreachable"
    assert "nothing was sent" in error["message"]
    assert POSTGRES_PASSWORD not in run.stdout + run.stderr
    assert not (Path(os.environ["LUMEN_DATA_DIR"]) / "history.sqlite3").exists()  # no fallback


def test_dry_run_estimates_the_cost_from_the_configured_prices(cli: CLI, home: Path) -> None:
    run = cli("submit", "a cat", "--dry-run", "--json")
    assert "no cost estimate" in run.stderr
    assert "has no [prices] table" in run.stderr
    config = write_config(home)
    run = cli("submit", "a cat", "--dry-run", "--json", "-m", "veo-3-1", "-r", "1080p", "-d", "6")
    assert run.code == 0
    assert json.loads(run.stdout)["model"] == "veo-3-1"  # the body alone, as documented
    assert f"estimated cost: 240 credits for 6 s of video ([prices] in {config})" in run.stderr
    run = cli("submit", "a cat", "--dry-run", "-m", "seedance-2-fast")
    assert "no cost estimate: no price for seedance-2-fast (5 s)" in run.stderr
