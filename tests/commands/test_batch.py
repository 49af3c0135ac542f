"""``lumen batch`` as users run it: formats, checks before sending, re-runs, results, --wait,
``batch status`` / ``batch list`` / ``list --batch``."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lumen_cli.sandbox import SandboxConfig, SandboxServer
from tests.conftest import CLI
from tests.support import PNG, FakeUploader, FileHost, post_count, write_config

RESULT_KEYS = {"line", "custom_id", "id", "status", "error", "paths", "host"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs end at once (the first poll sees them ended): --wait costs no time."""
    with SandboxServer(SandboxConfig(port=0, job_seconds=0)) as server:
        yield server


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def jsonl(path: Path, *documents: dict[str, Any]) -> Path:
    return write(path, *(json.dumps(document) for document in documents))


def results(text: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in text.splitlines()]
    assert all(set(document) == RESULT_KEYS for document in documents)
    return sorted(documents, key=lambda document: document["line"])


def test_a_text_file_is_sent_once_and_a_rerun_sends_nothing(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    prompts = write(work / "prompts.txt", "# tuesday", "a cat running", "", "a dog running")
    before = post_count(sandbox)
    run = cli("batch", str(prompts))
    assert run.code == 0, run.stderr
    assert post_count(sandbox) - before == 2
    rows = [line.split("\t") for line in run.stdout.splitlines()]
    assert sorted((row[0], row[3]) for row in rows) == [("2", "queued"), ("4", "queued")]
    assert "batch prompts: 2 lines: 2 queued" in run.stderr
    again = cli("batch", str(prompts), "--json")
    assert again.code == 0, again.stderr
    assert post_count(sandbox) - before == 2  # nothing twice
    assert sorted(d["id"] for d in results(again.stdout)) == sorted(row[2] for row in rows)


def test_jsonl_results_on_stdout_and_in_the_results_file(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    shots = jsonl(
        work / "shots.jsonl",
        {"prompt": "a red fox", "custom_id": "fox", "duration": 6},
        {"prompt": "a sloth", "model": "veo-3-1", "first_frame_url": "https://img.example/a.png"},
    )
    run = cli("batch", str(shots), "--json", "--results", str(work / "results.jsonl"))
    assert run.code == 0, run.stderr
    documents = results(run.stdout)
    assert [(d["line"], d["custom_id"], d["status"]) for d in documents] == [
        (1, "fox", "queued"),
        (2, None, "queued"),
    ]
    assert results((work / "results.jsonl").read_text()) == documents
    assert "batch shots" in run.stderr  # the summary is on stderr, never stdout
    before = shots.read_text()
    clobber = cli("batch", str(shots), "--results", str(work / "." / "shots.jsonl"))
    assert clobber.code == 2
    assert shots.read_text() == before


def test_csv_and_stdin(cli: CLI, sandbox: SandboxServer, work: Path) -> None:
    table = write(
        work / "shots.csv",
        "custom_id,prompt,duration,reference_image_urls",
        "a,a cat,5,https://img.example/1.png|https://img.example/2.png",
        'b,"a dog, running",,',
    )
    before = post_count(sandbox)
    run = cli("batch", str(table), "--json")
    assert run.code == 0, run.stderr
    assert [(d["line"], d["custom_id"]) for d in results(run.stdout)] == [(2, "a"), (3, "b")]
    piped = cli("batch", "-", "--name", "piped", "-q", input="one\ntwo\n")
    assert piped.code == 0, piped.stderr
    assert len(piped.stdout.split()) == 2
    assert all(line.startswith("v") for line in piped.stdout.split())
    assert post_count(sandbox) - before == 4
    nameless = cli("batch", "-", input="three\n")
    assert nameless.code == 2
    assert "--name" in nameless.stderr


def test_bad_lines_are_listed_and_nothing_is_sent(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    shots = write(
        work / "mixed.jsonl",
        '{"prompt": "a good one", "custom_id": "good"}',
        '{"prompt": "too short", "duration": 3}',
        "this is not json",
        '{"prompt": "another good one"}',
        '{"prompt": "x", "first_frame_url": "first.png"}',
    )
    before = post_count(sandbox)
    run = cli("batch", str(shots), "--json")
    assert run.code == 2
    assert post_count(sandbox) == before
    for line in (2, 3, 5):
        assert f"line {line}: invalid" in run.stderr
    assert "3 of 5 lines are invalid; nothing was sent" in run.stderr
    assert "--skip-invalid" in run.stderr
    assert [d["status"] for d in results(run.stdout)] == [
        "pending",
        "invalid",
        "invalid",
        "pending",
        "invalid",
    ]
    assert cli("batch", "list", "--json").stdout.strip() == "[]"  # not even recorded

    skipping = cli("batch", str(shots), "--skip-invalid", "--json")
    assert skipping.code == 2  # the invalid lines still say so
    assert post_count(sandbox) - before == 2
    statuses = {d["line"]: d["status"] for d in results(skipping.stdout)}
    assert statuses == {1: "queued", 2: "invalid", 3: "invalid", 4: "queued", 5: "invalid"}

    fixed = write(
        work / "mixed.jsonl",
        '{"prompt": "a good one", "custom_id": "good"}',
        '{"prompt": "too short", "duration": 4}',
        '{"prompt": "now json"}',
        '{"prompt": "another good one"}',
        '{"prompt": "x", "first_frame_url": "https://img.example/first.png"}',
    )
    rerun = cli("batch", str(fixed))
    assert rerun.code == 0, rerun.stderr
    assert post_count(sandbox) - before == 5  # only the fixed lines


def test_the_template_is_checked_before_anything_is_sent(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    prompts = write(work / "p.txt", "a cat")
    before = post_count(sandbox)
    run = cli("batch", str(prompts), "-o", "clips/{title}.mp4")
    assert run.code == 2
    assert "unknown placeholder {title}" in run.stderr
    assert "{custom_id} {line}" in run.stderr
    assert post_count(sandbox) == before


def test_dry_run_prints_what_would_be_sent_and_a_summary(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    shots = jsonl(
        work / "plan.jsonl",
        {"prompt": "a", "duration": 8},
        {"prompt": "b", "model": "veo-3-1"},
        {"prompt": "c", "model": "veo-3-1", "duration": 10, "webhook_url": "https://h.example/cb"},
    )
    before = post_count(sandbox)
    secret = ["--webhook-secret", "s3cret"]
    run = cli("batch", str(shots), "--dry-run", "-d", "6", *secret)
    assert run.code == 0, run.stderr
    assert post_count(sandbox) == before
    documents = [json.loads(line) for line in run.stdout.splitlines()]
    assert [d["request"].get("duration") for d in documents] == [8, 6, 10]  # line > flag
    assert documents[2]["request"].get("webhook_secret") == "***"  # redacted
    assert "s3cret" not in run.stdout + run.stderr
    assert "3 lines; 3 to send" in run.stderr
    assert "seedance-2: 1 line, 8 s of video" in run.stderr
    assert "veo-3-1: 2 lines, 16 s of video" in run.stderr
    assert "in all: 24 s of video requested" in run.stderr

    assert cli("batch", str(shots), "-d", "6", *secret).code == 0
    again = cli("batch", str(shots), "--dry-run", "-d", "6", *secret)
    assert again.stdout == ""
    assert "0 to send, 3 already sent in earlier runs" in again.stderr


def test_appended_lines_are_the_only_ones_sent(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    prompts = write(work / "grow.txt", "one", "two", "one")  # the same prompt twice: two lines
    before = post_count(sandbox)
    assert cli("batch", str(prompts)).code == 0
    assert post_count(sandbox) - before == 3
    write(prompts, "one", "two", "one", "three", "one")
    run = cli("batch", str(prompts), "--json")
    assert run.code == 0, run.stderr
    assert post_count(sandbox) - before == 5
    assert [d["line"] for d in results(run.stdout)] == [1, 2, 3, 4, 5]


def test_wait_and_download_name_files_by_custom_id_and_line(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    shots = jsonl(
        work / "clips.jsonl",
        {"prompt": "a red fox", "custom_id": "shot/fox"},
        {"prompt": "a sloth"},
    )
    run = cli("batch", str(shots), "--wait", "-o", "clips/{custom_id}-{line}.mp4", "--json")
    assert run.code == 0, run.stderr
    fox, sloth = results(run.stdout)
    assert (fox["status"], sloth["status"]) == ("succeeded", "succeeded")
    assert fox["paths"] == [str(work / "clips" / "shot-fox-1.mp4")]
    assert sloth["paths"] == [str(work / "clips" / "2-2.mp4")]  # no custom_id: the line
    assert all(Path(p).stat().st_size > 0 for p in fox["paths"] + sloth["paths"])
    # Piped, batch status prints each line as the run did: the saved paths are its results.
    rows = [row.split("\t") for row in cli("batch", "status", "clips").stdout.splitlines()]
    assert rows == [
        ["1", "shot/fox", fox["id"], "succeeded", *fox["paths"]],
        ["2", "", sloth["id"], "succeeded", *sloth["paths"]],
    ]


def test_wait_exit_codes_and_retry_failed(cli: CLI, sandbox: SandboxServer, work: Path) -> None:
    prompts = write(work / "w.txt", "a cat", "this one will fail")
    before = post_count(sandbox)
    run = cli("batch", str(prompts), "--wait", "--json")
    assert run.code == 7
    documents = results(run.stdout)
    assert [d["status"] for d in documents] == ["succeeded", "failed"]
    assert "prompt asked to fail" in documents[1]["error"]
    assert f"hint: 1 line failed: `lumen batch {prompts} --retry-failed`" in run.stderr
    assert cli("batch", str(prompts)).code == 0  # without --wait: every line was accepted
    assert post_count(sandbox) - before == 2
    retried = cli("batch", str(prompts), "--wait", "--retry-failed", "--json")
    assert retried.code == 7
    assert post_count(sandbox) - before == 3  # only the failed line, once more
    assert "--retry-failed: sending 1 failed line again" in retried.stderr
    new_id = results(retried.stdout)[1]["id"]
    assert new_id != documents[1]["id"]
    status = json.loads(cli("batch", "status", "w", "--json").stdout)
    assert [(line["status"], line["attempts"]) for line in status] == [
        ("succeeded", 1),
        ("failed", 2),
    ]


def test_a_line_the_api_refuses_is_refused_not_billed(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    prompts = write(work / "r.txt", "a cat", "a blocked prompt")
    before = post_count(sandbox)
    run = cli("batch", str(prompts), "--json")
    assert run.code == 2
    refused = results(run.stdout)[1]
    assert (refused["status"], refused["id"]) == ("refused", None)
    assert "safety" in refused["error"]
    assert "refused by the API: fix them" in run.stderr
    assert cli("batch", str(prompts)).code == 2
    assert post_count(sandbox) - before == 3  # a refused line may be sent again: no bill


def test_wait_reattaches_to_jobs_of_an_earlier_run(
    cli: CLI, sandbox: SandboxServer, api: httpx.Client, work: Path
) -> None:
    prompts = write(work / "later.txt", "a cat that runs forever", "a dog")
    first = cli("batch", str(prompts), "--json")
    assert first.code == 0
    forever = results(first.stdout)[0]["id"]
    api.post(f"/_sandbox/jobs/{forever}/finish", json={"status": "succeeded"})
    before = post_count(sandbox)
    run = cli("batch", str(prompts), "--wait", "--json")
    assert run.code == 0, run.stderr
    assert post_count(sandbox) == before
    assert [d["status"] for d in results(run.stdout)] == ["succeeded", "succeeded"]


def test_status_list_and_list_batch(cli: CLI, sandbox: SandboxServer, work: Path) -> None:
    prompts = write(work / "seen.txt", "a cat", "a dog")
    assert cli("batch", "run", str(prompts), "--name", "tuesday").code == 0
    lines = json.loads(cli("batch", "status", "tuesday", "--json").stdout)
    assert [(line["line"], line["status"]) for line in lines] == [(1, "queued"), (2, "queued")]
    assert all(line["key"].startswith("sha256:") for line in lines)
    piped = [row.split("\t") for row in cli("batch", "status", "tuesday").stdout.splitlines()]
    assert piped == [["1", "", lines[0]["id"], "queued"], ["2", "", lines[1]["id"], "queued"]]
    batches = json.loads(cli("batch", "list", "--json").stdout)
    assert [(b["name"], b["lines"], b["counts"]) for b in batches] == [
        ("tuesday", 2, {"queued": 2})
    ]
    name, count, statuses, last_run, source = cli("batch", "list").stdout.strip().split("\t")
    assert (name, count, statuses, source) == ("tuesday", "2", "2 queued", str(prompts))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", last_run)  # as a job line's
    jobs = json.loads(cli("list", "--batch", "tuesday", "--json").stdout)
    assert sorted(job["id"] for job in jobs) == sorted(line["id"] for line in lines)
    assert json.loads(cli("list", "--batch", "nope", "--json").stdout) == []
    missing = cli("batch", "status", "nope")
    assert missing.code == 2
    assert "batch list" in missing.stderr


def test_batch_help_and_run_routing(cli: CLI) -> None:
    help_text = cli("batch", "--help")
    assert help_text.code == 0
    for name in ("run", "status", "list"):
        assert name in help_text.stdout
    assert "lumen batch FILE" in help_text.stdout
    assert cli("batch", "no-such-file.txt").code == 2  # a file, sent to `run`
    assert cli("batch", "--dry-run").code == 2  # options first: `run` with no file


def test_a_file_that_cannot_be_saved_is_its_line_s_outcome(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    shots = jsonl(work / "saves.jsonl", {"prompt": "a cat", "custom_id": "cat"},
                  {"prompt": "a dog", "custom_id": "dog"})  # fmt: skip
    sandbox.faults.add("status", method="GET", path="/files/", status=404, count=1)
    run = cli("batch", str(shots), "--download", "-o", "out/{custom_id}.mp4", "--json")
    assert run.code == 6
    by_id = {d["custom_id"]: d for d in results(run.stdout)}
    assert {d["status"] for d in by_id.values()} == {"succeeded"}
    broken = [d for d in by_id.values() if not d["paths"]]
    assert len(broken) == 1
    assert "HTTP 404" in broken[0]["error"]
    saved = [d for d in by_id.values() if d["paths"]]
    assert Path(saved[0]["paths"][0]).is_file()
    rerun = cli("batch", str(shots), "--download", "-o", "out/{custom_id}.mp4", "--json")
    assert rerun.code == 0, rerun.stderr  # saved now, and nothing sent twice
    assert all(d["paths"] for d in results(rerun.stdout))


def test_wait_timeout_is_exit_9_with_the_running_lines_reported(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    prompts = write(work / "slow.txt", "a cat that runs forever", "a dog")
    run = cli("batch", str(prompts), "--wait", "--timeout", "30", "--json")
    assert run.code == 9
    statuses = {d["line"]: d["status"] for d in results(run.stdout)}
    assert statuses[2] == "succeeded"
    assert statuses[1] in ("queued", "processing")
    assert sum(run.clock.sleeps) <= 30.0 + 1e-6


def test_max_credits_refuses_a_batch_that_costs_more_and_sends_nothing(
    cli: CLI, sandbox: SandboxServer, work: Path, home: Path
) -> None:
    prompts = write(work / "costly.txt", "one", "two", "three")
    before = post_count(sandbox)
    run = cli("batch", str(prompts), "--max-credits", "1000")
    assert run.code == 2
    assert "--max-credits needs prices" in run.stderr
    write_config(home)
    run = cli("batch", str(prompts), "-d", "6", "--max-credits", "179.5")
    assert run.code == 2
    assert "the 3 lines to send would cost about 180 credits, more than --max-credits 179.5" in (
        run.stderr
    )
    run = cli("batch", str(prompts), "-m", "veo-3-1", "-r", "480p", "--max-credits", "1000")
    assert run.code == 2
    assert "no price for veo-3-1 at 480p" in run.stderr
    assert post_count(sandbox) == before  # nothing was sent
    assert cli("batch", "list", "--json").stdout.strip() == "[]"  # nor recorded

    # The dry run shows the estimate, line by line too; within budget, the batch runs.
    dry = cli("batch", str(prompts), "-d", "6", "--dry-run")
    assert [json.loads(line)["credits"] for line in dry.stdout.splitlines()] == [60, 60, 60]
    assert "estimated cost: 180 credits for 18 s of video" in dry.stderr
    assert cli("batch", str(prompts), "-d", "6", "--dry-run", "--max-credits", "100").code == 2
    assert cli("batch", str(prompts), "-d", "6", "--max-credits", "180").code == 0
    assert post_count(sandbox) == before + 3
    # A re-run sends nothing, so it costs nothing, whatever the limit.
    assert cli("batch", str(prompts), "-d", "6", "--max-credits", "0").code == 0


# -- local input files ------------------------------------------------------------------------


def test_local_files_are_checked_with_their_lines_and_uploaded_once_each(
    cli: CLI, uploader: FakeUploader, file_host: FileHost, sandbox: SandboxServer, work: Path
) -> None:
    frames = work / "shots" / "frames"
    frames.mkdir(parents=True)
    (frames / "a.png").write_bytes(PNG)
    (frames / "b.png").write_bytes(PNG + b"b")
    (work / "flag.png").write_bytes(PNG + b"flag")
    lines: list[dict[str, Any]] = [
        {"prompt": f"shot {n}", "image_url": "frames/a.png"} for n in range(12)
    ]
    lines.append({"prompt": "two refs", "reference_images": ["frames/b.png", "frames/a.png"]})
    lines.append({"prompt": "a url", "first_frame_url": "https://img.example/1.png"})
    shots = jsonl(work / "shots" / "shots.jsonl", *lines)
    before = post_count(sandbox)

    # Relative paths in the file are taken from its folder; --ref-image's from here.
    run = cli("batch", str(shots), "-c", "8", "--ref-image", "flag.png", "--wait", "--json")
    assert run.code == 0, run.stderr
    assert post_count(sandbox) - before == 14
    assert sorted(uploader.runs()) == sorted(
        str(path) for path in (frames / "a.png", frames / "b.png", work / "flag.png")
    )  # each distinct file once, whatever the concurrency
    assert all(d["status"] == "succeeded" for d in results(run.stdout))
    jobs = json.loads(cli("list", "--batch", "shots", "--json", "--limit", "20").stdout)
    urls = {url for job in jobs for url in job["request"].get("reference_image_urls", [])}
    assert all(url.startswith(file_host.url) for url in urls if "img.example" not in url)

    rerun = cli("batch", str(shots), "--ref-image", "flag.png", "--json")
    assert rerun.code == 0, rerun.stderr
    assert post_count(sandbox) - before == 14  # the same lines, by their files' content
    assert len(uploader.runs()) == 3


def test_a_bad_local_file_is_an_invalid_line_and_nothing_is_uploaded(
    cli: CLI, uploader: FakeUploader, sandbox: SandboxServer, work: Path
) -> None:
    (work / "good.png").write_bytes(PNG)
    (work / "notes.txt").write_text("not a picture")
    shots = jsonl(
        work / "shots.jsonl",
        {"prompt": "fine", "image_url": "good.png"},
        {"prompt": "not an image", "image_url": "notes.txt"},
        {"prompt": "missing", "reference_video_url": "gone.mp4"},
    )
    before = post_count(sandbox)
    run = cli("batch", str(shots), "--json")
    assert run.code == 2
    assert f"line 2: invalid: --image {work}/notes.txt is not an image" in run.stderr
    assert f"line 3: invalid: --ref-video {work}/gone.mp4: no such file" in run.stderr
    assert uploader.runs() == []
    assert post_count(sandbox) == before


def test_a_failed_upload_sends_no_line(
    cli: CLI, sandbox: SandboxServer, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_UPLOAD_COMMAND", "echo {path} denied >&2; exit 1")
    (work / "a.png").write_bytes(PNG)
    shots = write(work / "shots.csv", "prompt,image_url", "one,a.png", "two,a.png", "three,")
    before = post_count(sandbox)
    run = cli("batch", str(shots), "--json")
    assert run.code == 6
    assert "upload_command failed for" in run.stderr
    assert "denied" in run.stderr
    assert post_count(sandbox) == before  # not even the line without a file
    assert [d["status"] for d in results(run.stdout)] == ["pending"] * 3


def test_batch_dry_run_lists_each_line_s_files(
    cli: CLI, uploader: FakeUploader, file_host: FileHost, work: Path
) -> None:
    (work / "a.png").write_bytes(PNG)
    shots = jsonl(work / "s.jsonl", {"prompt": "x", "image_url": "a.png"}, {"prompt": "y"})
    dry = cli("batch", str(shots), "--dry-run")
    assert dry.code == 0, dry.stderr
    first = json.loads(dry.stdout.splitlines()[0])
    assert first["request"]["image_url"] == str(work / "a.png")
    assert first["files"] == [
        {
            "field": "image_url",
            "path": str(work / "a.png"),
            "sha256": hashlib.sha256(PNG).hexdigest(),
            "size": len(PNG),
            "url": None,
            "uploaded": False,
        }
    ]
    assert "local files: 1 distinct file: 0 with a URL to reuse, 1 to upload" in dry.stderr
    assert uploader.runs() == []
    uploading = cli("batch", str(shots), "--dry-run", "--upload")
    assert json.loads(uploading.stdout.splitlines()[0])["files"][0]["uploaded"] is True
    assert len(uploader.runs()) == 1
    again = cli("batch", str(shots), "--dry-run")
    url = json.loads(again.stdout.splitlines()[0])["request"]["image_url"]
    assert url.startswith(file_host.url)
    assert "1 with a URL to reuse" in again.stderr
