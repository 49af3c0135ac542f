"""Every example of every ``--help`` page and of README's command sections runs.

Each page's examples (and each README code block) run in order as one bash script, in a
home of their own, against the test sandbox: ids like ``v1a2b3c4d5`` become jobs that
exist, files such as ``prompts.txt`` are there, servers (``webhook listen``, ``sandbox
serve``) run in the background until the script ends. An example exits 0 unless it says
otherwise in a trailing comment (``# exit 1 when none is running``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lumen_cli.api.models import Job
from lumen_cli.app import help_pages
from lumen_cli.history import History
from lumen_cli.sandbox import SandboxConfig, SandboxServer
from lumen_cli.sandbox.files import asset_bytes
from lumen_cli.webhook.protocol import sample_event, sign
from tests.support import (
    PNG,
    PRICES,
    ROOT,
    TEST_KEY,
    WHSEC,
    Receiver,
    free_port,
    make_job,
    write_config,
)

BIN = str(Path(sys.executable).parent)
SERVERS = re.compile(r"^lumen (--sandbox )?(webhook listen|sandbox serve)\b")
EXPECTED_EXIT = re.compile(r"#.*?\bexits? (\d+)")
# Placeholders of the examples, and what runs in their place.
PLACEHOLDERS = {
    "sha256=5d2c…": "$SIG",
    "sha256=…": "$SIG",
    "curl -s … | LUMEN_WEBHOOK_SECRET=… ": "cat body.json | ",
    "https://your.app/callback": "$RECEIVER",
    "http://127.0.0.1:8787/hook": "http://127.0.0.1:$LISTEN_PORT/hook",
    "notify-send": "echo",
    "--port 8765": "--port $SERVE_PORT",
    "http://127.0.0.1:8765": "http://127.0.0.1:$SERVE_PORT",
    "postgresql://lumen@db.example/lumen": "$HISTORY_URL",  # the test's PostgreSQL server
}
IDS = {"v1a2b3c4d5": "$ID1", "v6e7f8a9b0": "$ID2", "v123": "$ID1"}


def _help_scenarios() -> Iterator[tuple[str, list[str]]]:
    for page in help_pages():
        if page.examples:
            yield f"help: {page.path}", page.examples


def _readme_scenarios() -> Iterator[tuple[str, list[str]]]:
    """The code blocks of README's sections about commands (not installing or developing)."""
    section = ""
    for block in re.finditer(r"^(## [^\n]*)$|^```sh\n(.*?)^```", _readme(), re.M | re.S):
        if block.group(1):
            section = block.group(1)[3:]
            continue
        if section in ("Quick start", "Installing", "Development"):
            continue
        lines = [line for line in block.group(2).splitlines() if re.search(r"\blumen ", line)]
        if lines:
            yield f"README: {section}: {lines[0][:40]}", lines


def _readme() -> str:
    return (ROOT / "README.md").read_text()


SCENARIOS = [*_help_scenarios(), *_readme_scenarios()]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs end at once: an example that waits waits for one poll."""
    with SandboxServer(SandboxConfig(port=0, job_seconds=0)) as server:
        yield server


@pytest.fixture
def scene(home: Path, sandbox: SandboxServer, api: httpx.Client) -> dict[str, str]:
    """The test's home with what the examples name: two succeeded jobs in the history and on
    the sandbox, a batch, batch files, prices, a signed webhook body, folders for completion
    scripts."""
    work = home / "work"
    work.mkdir()
    history = History(home / "data" / "history.sqlite3")
    ids = []
    try:
        for prompt in ("a cat running", "a slow pan over a city"):
            job_id = make_job(api, prompt)
            local = history.record_submitting(
                profile="default",
                base_url=sandbox.url,
                request={"model": "seedance-2", "prompt": prompt},
                mode="text-to-video",
            )
            history.resolve_submitted(local, Job(job_id, "queued"))
            ids.append(job_id)
        with history.lock_batch("default", "shots"):
            lines = [("id:fox", 1, "fox"), ("id:owl", 2, "owl")]
            history.open_batch("default", "shots", source="shots.jsonl", base_url="", lines=lines)
    finally:
        history.close()
    write_config(home, PRICES + "seedance-2-fast = 6\n")  # for --max-credits and estimates
    (work / "prompts.txt").write_text("a cat on the grass\na dog on the beach\n")
    shots = [{"custom_id": "fox", "prompt": "a red fox"}, {"custom_id": "owl", "prompt": "an owl"}]
    (work / "shots.jsonl").write_text("".join(json.dumps(line) + "\n" for line in shots))
    (work / "shots.csv").write_text("custom_id,prompt\nfox,a red fox\nowl,an owl\n")
    body = sample_event(ids[0], "succeeded", test=False)
    (work / "body.json").write_bytes(body)
    (work / "me.png").write_bytes(PNG)
    (work / "dance.mp4").write_bytes(asset_bytes("16x9.mp4"))
    tools = home / "tools"  # README's upload recipes name tools no test can reach
    tools.mkdir()
    (tools / "rclone").write_text("#!/bin/sh\nexit 0\n")
    (tools / "rclone").chmod(0o755)
    (work / "on-video.sh").write_text("#!/bin/sh\ncat > /dev/null\n")
    (work / "on-video.sh").chmod(0o755)
    for folder in (
        ".local/share/bash-completion/completions",
        ".config/fish/completions",
        ".zfunc",
    ):
        (home / "home" / folder).mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home / "home"),
        "PATH": os.pathsep.join([BIN, str(tools), os.environ.get("PATH", "")]),
        "ID1": ids[0],
        "ID2": ids[1],
        "SIG": sign(WHSEC, body),
        "SIGNATURE": sign(WHSEC, body),
        "LUMEN_WEBHOOK_SECRET": WHSEC,
        "SECRET": WHSEC,
        "LUMEN_KEY_FROM_VAULT": TEST_KEY,
        "LISTEN_PORT": str(free_port()),
        "SERVE_PORT": str(free_port()),
        "LUMEN_SANDBOX_PORT": str(free_port()),
        "LUMEN_SANDBOX_JOB_SECONDS": "0",
        "WORK": str(work),
    }


@pytest.mark.parametrize(("name", "examples"), SCENARIOS, ids=[name for name, _ in SCENARIOS])
def test_every_example_runs(
    name: str, examples: list[str], scene: dict[str, str], request: pytest.FixtureRequest
) -> None:
    if any("postgresql://" in example for example in examples):
        scene["HISTORY_URL"] = request.getfixturevalue("postgres_url")
    with Receiver() as receiver:
        env = {**os.environ, **scene, "RECEIVER": receiver.url}
        del env["LUMEN_SANDBOX_URL"]  # --sandbox starts its own, on LUMEN_SANDBOX_PORT
        result = subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", _script(examples)],
            cwd=scene["WORK"],
            env=env,
            input=TEST_KEY + "\n",  # for `lumen auth login`
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, f"{name}\n{result.stderr[-3000:]}"


def _script(examples: list[str]) -> str:
    """The examples as one bash script that stops at the first unexpected exit code."""
    lines = ["set -o pipefail", "servers=()"]
    placeholders = {**PLACEHOLDERS, **IDS}
    if not any("webhook listen" in example for example in examples):
        placeholders["http://127.0.0.1:8787/hook"] = "$RECEIVER"  # no listener: a handler
    for example in examples:
        command = example
        for placeholder, value in placeholders.items():
            command = command.replace(placeholder, value)
        if SERVERS.match(command):
            if "webhook listen" in command and "--port" not in command:
                command = command.replace("webhook listen", "webhook listen --port $LISTEN_PORT")
            port = "$SERVE_PORT" if "sandbox serve" in command else "$LISTEN_PORT"
            lines += [
                # Server examples are alternatives: the one before stops (checked alive first).
                'for pid in "${servers[@]}"; do kill -0 "$pid" 2>/dev/null || {'
                ' echo "a server ended early:" >&2; cat server.err >&2; exit 1; };'
                ' kill "$pid"; wait "$pid" 2>/dev/null; done; servers=()',
                f"{command.rstrip(' &')} </dev/null >/dev/null 2>>server.err &",
                "servers+=($!)",
                f"for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null"
                " && break; sleep 0.05; done",
            ]
            continue
        expected = EXPECTED_EXIT.search(example)
        code = expected.group(1) if expected else "0"
        quoted = example.replace("'", "'\\''")
        lines += [
            command,
            f"rc=$?; if [ $rc -ne {code} ]; then echo 'exit '$rc' (not {code}) from: {quoted}' >&2;"
            " exit 1; fi",
        ]
    lines += [
        'for pid in "${servers[@]}"; do',
        '  kill -0 "$pid" 2>/dev/null || { echo "a server ended early:" >&2; cat server.err >&2;'
        " exit 1; }",
        '  kill "$pid"; wait "$pid" 2>/dev/null',
        "done",
        "lumen sandbox stop >/dev/null 2>&1",  # one an example started in the background
        "exit 0",
    ]
    return textwrap.dedent("\n".join(lines))


def test_scenarios_cover_every_page_with_examples_and_readme() -> None:
    pages = [page for page in help_pages() if page.path.count(" ") <= 1]
    assert all(page.examples for page in pages), [p.path for p in pages if not p.examples]
    assert any(name.startswith("README: Webhooks") for name, _ in SCENARIOS)
    assert len(SCENARIOS) > 30
