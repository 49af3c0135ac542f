"""``lumen download`` as users run it: names, resume, exit codes, JSON, sidecars."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import (
    JOB_SHAPE,
    JOBS_PATH,
    VIDEO,
    VIDEO_SHA,
    Seen,
    file_gets,
    make_job,
    wait_for,
)


def test_default_name_is_byte_exact_and_leaves_nothing_else(
    cli: CLI, api: httpx.Client, work: Path, seen: Seen
) -> None:
    job_id = make_job(api)
    run = cli("download", job_id)
    assert run.code == 0, run.stderr
    target = work / f"{job_id}.mp4"
    assert target.read_bytes() == VIDEO
    assert sorted(p.name for p in work.iterdir()) == [target.name]  # no .part, no .part.json
    # Data for scripts: the job's plain line, whose last field is the saved path.
    fields = run.stdout.rstrip("\n").split("\t")
    assert (fields[0], fields[1], fields[-1]) == (job_id, "succeeded", str(target))
    assert run.stdout.count("\n") == 1
    assert run.stderr == ""
    # The download client never carries the API key (or any cookie).
    assert [(r["Authorization"], r["Cookie"]) for r in seen] == [(None, None)]


def test_template_placeholders(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api, "A Cat, running!")
    created = api.get(f"{JOBS_PATH}/{job_id}").json()["created"]
    day = time.strftime("%Y-%m-%d", time.localtime(created))
    run = cli("download", job_id, "-o", "out/{model}/{date}/{prompt}_{id}_{index}.mp4")
    assert run.code == 0, run.stderr
    target = work / "out" / "seedance-2" / day / f"a-cat-running_{job_id}_1.mp4"
    assert target.read_bytes() == VIDEO


def test_directory_output(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api)
    (work / "existing").mkdir()
    assert cli("download", job_id, "-o", "existing").code == 0
    assert (work / "existing" / f"{job_id}.mp4").read_bytes() == VIDEO
    assert cli("download", job_id, "-o", "fresh/deeper/").code == 0  # created, trailing /
    assert (work / "fresh" / "deeper" / f"{job_id}.mp4").read_bytes() == VIDEO


def test_several_results_get_numbered(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api, n=2)
    run = cli("download", job_id, "--json")
    assert run.code == 0, run.stderr
    document = json.loads(run.stdout)
    paths = [Path(item["path"]) for item in document["files"]]
    assert paths == [work / f"{job_id}-1.mp4", work / f"{job_id}-2.mp4"]
    assert document["paths"] == [str(path) for path in paths]
    assert all(path.read_bytes() == VIDEO for path in paths)
    run = cli("download", job_id, "-o", "clip{index}")  # {index}: no extra suffix
    assert run.code == 0, run.stderr
    assert (work / "clip1.mp4").read_bytes() == VIDEO
    assert (work / "clip2.mp4").read_bytes() == VIDEO


def test_configured_output_template_applies(cli: CLI, api: httpx.Client, work: Path) -> None:
    assert cli("config", "set", "output", "videos/{model}-{id}.mp4").code == 0
    job_id = make_job(api)
    assert cli("download", job_id).code == 0
    assert (work / "videos" / f"seedance-2-{job_id}.mp4").read_bytes() == VIDEO
    assert cli("download", job_id, "-o", "flag-wins.mp4").code == 0
    assert (work / "flag-wins.mp4").read_bytes() == VIDEO


def test_prompt_slug_cannot_escape_the_directory(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api, "../../etc/passwd Café 猫 ☃\u202e")
    run = cli("download", job_id, "-o", "{prompt}")
    assert run.code == 0, run.stderr
    assert sorted(p.name for p in work.iterdir()) == ["etc-passwd-café-猫.mp4"]


def test_unknown_placeholder_is_bad_input(cli: CLI, api: httpx.Client, work: Path) -> None:
    run = cli("download", make_job(api), "-o", "{title}.mp4")
    assert run.code == 2
    assert "{title}" in run.stderr
    assert list(work.iterdir()) == []


def test_complete_file_is_not_fetched_again_unless_forced(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    job_id = make_job(api)
    target = work / f"{job_id}.mp4"
    assert cli("download", job_id).code == 0
    inode = target.stat().st_ino
    again = cli("download", job_id)
    assert again.code == 0
    assert again.stderr.strip() == f"already saved: {target.name}"  # relative: shorter
    assert target.stat().st_ino == inode  # untouched
    forced = cli("download", job_id, "--force", "--json")
    assert forced.code == 0
    assert json.loads(forced.stdout)["files"][0]["skipped"] is False
    assert target.stat().st_ino != inode  # a new file, renamed into place
    assert target.read_bytes() == VIDEO


def test_a_different_existing_file_is_left_alone(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api)
    target = work / f"{job_id}.mp4"
    target.write_bytes(b"my own notes")
    run = cli("download", job_id)
    assert run.code == 2
    assert "differs" in run.stderr
    assert "--force" in run.stderr
    assert target.read_bytes() == b"my own notes"
    assert sorted(p.name for p in work.iterdir()) == [target.name]
    assert cli("download", job_id, "--force").code == 0
    assert target.read_bytes() == VIDEO


def test_json_is_the_job_with_its_files_and_checksums(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    job_id = make_job(api)
    first = json.loads(cli("download", job_id, "--json").stdout)
    second_run = cli("download", job_id, "--json")
    second = json.loads(second_run.stdout)  # stdout holds the document and nothing else
    url = api.get(f"{JOBS_PATH}/{job_id}").json()["data"][0]["url"]
    path = str(work / f"{job_id}.mp4")
    expected = {"id": job_id, "url": url, "path": path, "bytes": len(VIDEO), "sha256": VIDEO_SHA}
    assert first["files"] == [{**expected, "skipped": False}]
    assert second["files"] == [{**expected, "skipped": True}]
    assert set(first) == {*JOB_SHAPE, "files"}  # the one job shape, plus the files
    assert (first["id"], first["status"], first["paths"]) == (job_id, "succeeded", [path])
    assert first["data"] == [{"url": url}]
    several = json.loads(cli("download", job_id, make_job(api), "--json").stdout)
    assert [set(document) for document in several] == [{*JOB_SHAPE, "files"}] * 2


def test_sidecar_and_history(
    cli: CLI, api: httpx.Client, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec-not-in-sidecar")
    prompt = "a heron that waits forever"  # ends only when the test says so
    submitted = cli("submit", prompt, "-d", "6", "--webhook-url", "http://127.0.0.1:9/h", "-q")
    job_id = submitted.stdout.strip()
    api.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"}).raise_for_status()
    run = cli("download", job_id, "--sidecar")
    assert run.code == 0, run.stderr
    target = work / f"{job_id}.mp4"
    text = (work / f"{job_id}.mp4.json").read_text()
    sidecar = json.loads(text)
    assert "whsec-not-in-sidecar" not in text
    assert sidecar["id"] == job_id
    assert sidecar["model"] == "seedance-2"
    assert sidecar["prompt"] == prompt
    assert sidecar["request"]["duration"] == 6
    assert sidecar["request"]["webhook_url"] == "http://127.0.0.1:9/h"
    assert sidecar["url"].endswith(f"/files/{job_id}/0.mp4")
    assert (sidecar["bytes"], sidecar["sha256"]) == (len(VIDEO), VIDEO_SHA)
    assert sidecar["created"].endswith("Z")
    records = json.loads(cli("list", "--json").stdout)
    assert [record["paths"] for record in records if record["id"] == job_id] == [[str(target)]]


@pytest.mark.parametrize(
    ("end", "code", "words"), [("failed", 7, "failed"), ("cancelled", 8, "was cancelled")]
)
def test_failed_and_cancelled_jobs(
    cli: CLI, api: httpx.Client, work: Path, end: str, code: int, words: str
) -> None:
    job_id = make_job(api, "a cat running forever", end=end)  # never ends by itself
    run = cli("download", job_id)
    assert run.code == code
    assert f"job {job_id} {words}" in run.stderr
    assert "sandbox: forced" in run.stderr  # the job's own error message
    assert list(work.iterdir()) == []


def test_running_job_is_exit_2_with_a_hint(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api, "a cat forever", end="")
    run = cli("download", job_id)
    assert run.code == 2
    assert "still" in run.stderr
    assert f"wait {job_id} --download" in run.stderr


def test_unknown_job_is_exit_5(cli: CLI, work: Path) -> None:
    run = cli("download", "vnope")
    assert run.code == 5


def test_several_ids_do_all_and_exit_with_the_worst(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    good = make_job(api)
    running = make_job(api, "forever", end="")
    failed = make_job(api, "a cat running forever", end="failed")
    run = cli("download", running, "vnope", good, failed, "--json")
    assert run.code == 7  # failed outranks not found (5) and still running (2)
    assert [item["id"] for item in json.loads(run.stdout)] == [good]
    assert "error: vnope: task not found" in run.stderr
    assert f"error: job {running} is still" in run.stderr
    assert f"error: job {failed} failed" in run.stderr
    assert (work / f"{good}.mp4").read_bytes() == VIDEO


def test_cut_connection_resumes_with_range(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path, seen: Seen
) -> None:
    job_id = make_job(api)
    sandbox.faults.add("cut", at=4000)
    run = cli("download", job_id)
    assert run.code == 0, run.stderr
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO
    assert [r["Range"] for r in seen] == [None, "bytes=4000-"]
    assert seen[1]["If-Range"] is not None  # the sandbox's strong ETag
    assert len(run.clock.sleeps) == 1  # one backoff, on the fake clock


def test_ignored_range_restarts_cleanly(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path, seen: Seen
) -> None:
    job_id = make_job(api)
    sandbox.faults.add("cut", at=3000)
    sandbox.faults.add("ignore_range")  # answers 200 with the whole file
    assert cli("download", job_id).code == 0
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO  # not 3000 bytes + the whole file
    assert [r["Range"] for r in seen] == [None, "bytes=3000-"]


def test_changed_etag_restarts_from_zero(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path, seen: Seen
) -> None:
    job_id = make_job(api)
    etag = api.head(f"/files/{job_id}/0.mp4").headers["ETag"]
    seen.clear()
    sandbox.faults.add("cut", at=5000)
    sandbox.faults.add("change_etag")  # If-Range no longer matches: 200, whole file
    assert cli("download", job_id).code == 0
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO
    assert seen[1]["If-Range"] == etag
    assert len(seen) == 2


def test_wrong_offset_restarts_once_then_fails(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    job_id = make_job(api)
    target = work / f"{job_id}.mp4"
    sandbox.faults.add("cut", at=2000)
    sandbox.faults.add("wrong_offset")  # a 206 from byte 0 when asked from 2000
    assert cli("download", job_id).code == 0
    assert target.read_bytes() == VIDEO
    target.unlink()
    sandbox.faults.add("cut", at=2000)
    sandbox.faults.add("wrong_offset", count=5)
    run = cli("download", job_id)
    assert run.code == 6
    assert "offset" in run.stderr
    assert not target.exists()


def test_server_errors_are_retried_with_retry_after(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    job_id = make_job(api)
    sandbox.faults.add("status", path="/files/", status=503, count=2, retry_after="7")
    sandbox.faults.add("status", path="/files/", status=429, count=1)
    run = cli("download", job_id)
    assert run.code == 0, run.stderr
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO
    assert run.clock.sleeps[:2] == [7.0, 7.0]
    assert len(run.clock.sleeps) == 3


def test_not_found_fails_at_once(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    job_id = make_job(api)
    before = file_gets(sandbox)
    sandbox.faults.add("status", path="/files/", status=404, count=3)
    run = cli("download", job_id)
    assert run.code == 6
    assert "HTTP 404" in run.stderr
    assert run.clock.sleeps == []
    assert file_gets(sandbox) - before == 1
    assert list(work.iterdir()) == []  # not even an empty .part


def test_expired_url_hints_at_a_rerun(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    job_id = make_job(api)
    sandbox.faults.add("status", path="/files/", status=410)
    run = cli("download", job_id)
    assert run.code == 6
    assert "HTTP 410" in run.stderr
    assert f"rerun `lumen download {job_id}`" in run.stderr


def test_a_short_body_is_an_error_not_a_success(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    job_id = make_job(api)
    target = work / f"{job_id}.mp4"
    sandbox.faults.add("cut", at=6000, count=50)  # never gets past byte 6000
    run = cli("download", job_id)
    assert run.code == 6
    assert "gave up after 6 attempts" in run.stderr
    assert "rerun" in run.stderr
    assert not target.exists()
    part = work / f"{job_id}.mp4.part"
    assert part.read_bytes() == VIDEO[:6000]
    sandbox.faults.clear()
    assert cli("download", job_id).code == 0  # and it resumes later
    assert target.read_bytes() == VIDEO
    assert not part.exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_download_resumes_on_rerun(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path, seen: Seen
) -> None:
    job_id = make_job(api)
    sandbox.faults.add("slow", path=f"/files/{job_id}/", bytes_per_second=4000)
    process = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli", "download", job_id],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    part = work / f"{job_id}.mp4.part"
    try:
        wait_for(lambda: part.exists() and part.stat().st_size > 0, seconds=10)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    kept = part.stat().st_size
    assert 0 < kept < len(VIDEO)
    assert not (work / f"{job_id}.mp4").exists()
    run = cli("download", job_id)
    assert run.code == 0, run.stderr
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO
    resumed = str(seen[-1]["Range"])
    assert resumed.startswith("bytes=")
    assert int(resumed[6:-1]) >= kept  # resumed, did not start over
    assert seen[-1]["If-Range"] is not None  # the ETag kept in NAME.part.json
    assert sorted(p.name for p in work.iterdir()) == [f"{job_id}.mp4"]


def test_human_download_skips_the_checksum_json_has_it(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    job_id = make_job(api)
    first = json.loads(cli("download", job_id, "--json").stdout)
    assert first["files"][0]["sha256"] == hashlib.sha256(VIDEO).hexdigest()
    again = cli("download", job_id, "--force")
    assert again.code == 0
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO
