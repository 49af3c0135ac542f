"""README's upload recipes, run as written: each through ``lumen submit --image`` against the
sandbox, for a file whose name a shell would misread, with its URL's host pointed at a local
file host. ``aws`` and ``gcloud`` run for real where installed (made-up credentials, local
stand-ins for S3 and the Cloud Storage JSON API), ``curl`` for real; ``rclone``, ``scp``
and missing tools are stand-ins (``tests/fake_cloud.py``)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lumen_cli.sandbox import SandboxConfig, SandboxServer
from tests.conftest import CLI
from tests.support import HOSTILE_NAME, PNG, ROOT, FileHost

TOOLS = ("aws", "rclone", "gcloud", "scp", "curl")
REAL = ("aws", "gcloud", "curl")  # run for real when installed
TOKEN = "t0ken-for-the-put-endpoint"  # noqa: S105 - a test's own
# Each recipe's public URL base, and where the local file host serves the same files.
PUBLIC = {
    "https://clips.example.com": "/clips",
    "https://storage.googleapis.com": "",
    "https://www.example.com": "/var/www",
    "https://files.example.com": "",
}


def recipes() -> dict[str, str]:
    """README's ``upload_command`` recipes, by the tool each runs first."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Local files\n", 1)[1].split("\n## ", 1)[0]
    found = {}
    for line in section.splitlines():
        if line.startswith("lumen config set upload_command "):
            command = shlex.split(line)[4]
            found[command.split()[0]] = command
    return found


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(port=0, job_seconds=0)) as server:
        yield server


def test_readme_has_a_recipe_for_each_host() -> None:
    assert sorted(recipes()) == sorted(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_each_recipe_uploads_a_file_with_a_hostile_name(
    cli: CLI,
    tool: str,
    file_host: FileHost,
    sandbox: SandboxServer,
    work: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command = recipes()[tool]
    for public, served in PUBLIC.items():
        command = command.replace(public, file_host.url + served)
    monkeypatch.setenv("LUMEN_UPLOAD_COMMAND", command)
    monkeypatch.setenv("PATH", f"{_stand_ins(tmp_path / 'bin', tool)}:{_path()}")
    _point_clouds_at(file_host, tmp_path, monkeypatch)
    if tool == "curl":
        file_host.token = TOKEN
        monkeypatch.setenv("UPLOAD_TOKEN", TOKEN)
    monkeypatch.chdir(work)
    (work / HOSTILE_NAME).write_bytes(PNG)

    run = cli("submit", "make it wave", "--image", HOSTILE_NAME, "--wait", "--json")
    assert run.code == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["status"] == "succeeded"  # the sandbox fetched the URL and found a PNG
    url = job["request"]["image_url"]
    assert url.startswith(file_host.url)
    stored = [path for path in file_host.root.rglob("*") if path.is_file()]
    assert [path.read_bytes() for path in stored] == [PNG]
    assert re.fullmatch(r"[0-9a-f]{64}\.png", stored[0].name)
    assert not (work / "pwned").exists()
    if tool == "curl":
        assert file_host.puts[0]["Content-Type"] == "image/png"


def _stand_ins(folder: Path, tool: str) -> Path:
    """A folder of stand-ins for the tools that are not run for real."""
    folder.mkdir()
    script = ROOT / "tests" / "fake_cloud.py"
    for name in TOOLS:
        if name in REAL and shutil.which(name, path=_path()):
            continue
        stand_in = folder / name
        stand_in.write_text(f'#!/bin/sh\nexec {sys.executable} {script} {name} "$@"\n')
        stand_in.chmod(0o755)
    return folder


def _point_clouds_at(host: FileHost, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real (or stand-in) cloud tools talk to *host*, with made-up credentials, and never
    read or write the machine's own cloud configuration."""
    token = scratch / "gcloud-token"
    token.write_text("made-up-token\n")
    for name, value in {
        "FAKE_CLOUD_ROOT": str(host.root),
        "AWS_ENDPOINT_URL": host.url,
        "AWS_ACCESS_KEY_ID": "AKIAMADEUP",
        "AWS_SECRET_ACCESS_KEY": "made-up",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(scratch / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "aws-credentials"),
        "CLOUDSDK_CONFIG": str(scratch / "gcloud"),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": host.url + "/",
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
        "CLOUDSDK_CORE_PROJECT": "made-up",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")
