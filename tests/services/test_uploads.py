"""Local input files: checked before anything is uploaded or billed, uploaded once each by the
user's ``upload_command`` (or to the sandbox's own file host), never with lumen's secrets, and
stopped cleanly by any way an upload can fail."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lumen_cli.errors import BadInput
from lumen_cli.sandbox import SandboxConfig, SandboxServer
from lumen_cli.sandbox.files import asset_bytes
from lumen_cli.services.shell import Shell
from lumen_cli.services.uploads import (
    LocalFiles,
    LocalInput,
    Resolved,
    fill_command,
    key_body,
    with_urls,
)
from tests.conftest import CLI
from tests.support import (
    GIF,
    HOSTILE_NAME,
    JPEG,
    MOV,
    PNG,
    TEST_KEY,
    WEBM,
    WEBP,
    FakeUploader,
    FileHost,
    fork_lumen,
    history_records,
    post_count,
)

VIDEO = asset_bytes("16x9.mp4")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs end at once: --wait costs no time."""
    with SandboxServer(SandboxConfig(port=0, job_seconds=0)) as server:
        yield server


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def submit_json(run_stdout: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run_stdout)
    return document


# -- checks, before anything is uploaded ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "wanted", "kind"),
    [
        (PNG, "image", "png"),
        (JPEG, "image", "jpeg"),
        (WEBP, "image", "webp"),
        (GIF, "image", "gif"),
        (VIDEO, "video", "mp4"),
        (MOV, "video", "mov"),
        (WEBM, "video", "webm"),
    ],
)
def test_each_kind_is_taken_where_it_belongs(
    tmp_path: Path, data: bytes, wanted: str, kind: str
) -> None:
    file = LocalFiles(1 << 20).check(str(write(tmp_path / "input", data)), "--x", wanted)
    assert (file.kind, file.size) == (kind, len(data))
    other = "video" if wanted == "image" else "image"
    with pytest.raises(BadInput, match=f"--x .* is an? .* {kind.upper()[:2]}|not an? {other}"):
        LocalFiles(1 << 20).check(str(tmp_path / "input"), "--x", other)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just some text\n", "is not an image: it does not start as PNG, JPEG, WebP or GIF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "is not an image"),
        (b"", "is empty"),
    ],
)
def test_what_is_not_an_image_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        LocalFiles(1 << 20).check(str(write(tmp_path / "cat.png", data)), "--image", "image")


def test_a_symlink_is_refused_and_its_target_named(tmp_path: Path) -> None:
    target = write(tmp_path / "real.png", PNG)
    link = tmp_path / "latest.png"
    link.symlink_to(target)
    with pytest.raises(BadInput, match="is a symbolic link") as caught:
        LocalFiles(1 << 20).check(str(link), "--image", "image")
    assert caught.value.hint is not None
    assert str(target) in caught.value.hint
    assert LocalFiles(1 << 20).check(str(target), "--image", "image").kind == "png"


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def check() -> None:
        try:
            LocalFiles(1 << 20).check(str(fifo), "--image", "image")
        except BadInput as error:
            outcome.append(error)

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # opened for reading: blocked until a writer comes
        with open(fifo, "wb"):
            pass
        pytest.fail("the check opened the FIFO and waited for a writer")
    assert outcome
    assert "not a regular file" in str(outcome[0])


def test_a_huge_file_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.mp4"
    with open(huge, "wb") as handle:
        handle.write(VIDEO[:64])
        handle.truncate(64 << 30)  # sparse: 64 GiB that would take minutes to hash
    started = time.monotonic()
    with pytest.raises(BadInput, match=r"is 64.0 GiB: larger than max_upload_size \(100.0 MiB\)"):
        LocalFiles(100 << 20).check(str(huge), "--ref-video", "video")
    assert time.monotonic() - started < 5


def test_a_folder_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is a folder, not a file"):
        LocalFiles(1 << 20).check(str(tmp_path), "--image", "image")
    with pytest.raises(BadInput, match="no such file") as caught:
        LocalFiles(1 << 20).check("example.com/cat.png", "--image", "image")
    assert caught.value.hint is not None
    assert "https://" in caught.value.hint


def test_a_file_is_read_once_however_often_it_is_named(tmp_path: Path) -> None:
    files = LocalFiles(1 << 20)
    path = str(write(tmp_path / "cat.png", PNG))
    first = files.check(path, "--image", "image")
    assert files.check(path, "--ref-image", "image") is first  # not read or hashed again
    write(tmp_path / "cat.png", PNG + b"changed")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert files.check(path, "--image", "image").sha256 != first.sha256


def test_every_unusable_file_of_a_request_is_named_at_once(tmp_path: Path) -> None:
    body = {
        "image_url": str(write(tmp_path / "ok.png", PNG)),
        "reference_image_urls": ["https://img.example/1.png", "missing.png", str(tmp_path)],
        "reference_video_url": str(tmp_path / "ok.png"),
    }
    with pytest.raises(BadInput) as caught:
        LocalFiles(1 << 20).inputs(body)
    message = caught.value.message
    assert message.startswith("--ref-image missing.png: no such file (and 2 more:")
    assert "is a folder" in message
    assert "--ref-video" in message
    assert "is a PNG image, not a video" in message


def test_urls_take_the_place_of_files_and_keys_see_content(tmp_path: Path) -> None:
    file = LocalFiles(1 << 20).check(str(write(tmp_path / "a.png", PNG)), "--image", "image")
    body = {"prompt": "x", "image_url": file.path, "reference_image_urls": ["u", file.path]}
    inputs = [LocalInput("image_url", None, file), LocalInput("reference_image_urls", 1, file)]
    sent = with_urls(body, inputs, {file.sha256: Resolved("https://h/a.png")})
    assert sent["image_url"] == "https://h/a.png"
    assert sent["reference_image_urls"] == ["u", "https://h/a.png"]
    assert body["image_url"] == file.path  # the plan is left as it was
    keyed = key_body(body, inputs)
    assert keyed["image_url"] == f"file:sha256:{file.sha256}"


# -- the command line that runs ---------------------------------------------------------------


def test_placeholders_are_filled_and_paths_quoted_for_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = HOSTILE_NAME + "\nsecond line; rm -rf ~.png"
    file = LocalFiles(1 << 20).check(str(write(tmp_path / name, PNG)), "--image", "image")
    out = tmp_path / "out"
    out.mkdir()
    template = (
        f"printf %s {{path}} > {out}/path; printf %s {{name}} > {out}/name; "
        f"echo {{ext}} {{sha256}} {{size}} {{type}} ${{HOME:+home-kept}} > {out}/rest"
    )
    finished = Shell(fill_command(template, file)).run(timeout=10)
    assert finished.code == 0, finished.stderr
    assert (out / "path").read_text() == str(tmp_path / name)
    assert (out / "name").read_text() == name
    assert (out / "rest").read_text().split() == [
        ".png", file.sha256, str(len(PNG)), "image/png", "home-kept"
    ]  # fmt: skip
    assert not (tmp_path / "pwned").exists()


# -- uploads through the CLI --------------------------------------------------------------------


def test_a_local_image_is_uploaded_once_then_sent_as_its_url(
    cli: CLI, uploader: FakeUploader, file_host: FileHost, sandbox: SandboxServer, work: Path
) -> None:
    write(work / "cat.png", PNG)
    run = cli("submit", "make it wave", "--image", "cat.png", "--wait", "--json")
    assert run.code == 0, run.stderr
    job = submit_json(run.stdout)
    url = job["request"]["image_url"]
    assert url.startswith(file_host.url)  # the sandbox fetched it: the job succeeded
    assert job["status"] == "succeeded"
    assert job["mode"] == "image-to-video"
    assert uploader.runs() == [str(work / "cat.png")]
    assert (file_host.root / url.rsplit("/", 1)[1]).read_bytes() == PNG
    assert f"uploaded cat.png ({len(PNG)} B)" in run.stderr
    records = history_records(work.parent)
    assert [record.request["image_url"] for record in records.values()] == [url]

    again = cli("submit", "make it wave again", "--image", "./cat.png", "--ref-image", "cat.png")
    assert again.code == 0, again.stderr
    assert "reusing the upload of a moment ago" in again.stderr
    assert len(uploader.runs()) == 1  # the same file, by its content: not uploaded again


def test_a_url_older_than_upload_max_age_is_not_reused(
    cli: CLI, uploader: FakeUploader, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(work / "cat.png", PNG)
    assert cli("submit", "one", "--image", "cat.png").code == 0
    assert cli("config", "set", "upload_max_age", "1h").code == 0
    history = work.parent / "data" / "history.sqlite3"
    with sqlite3.connect(history) as conn:  # the upload was made 2 hours ago
        conn.execute("UPDATE uploads SET uploaded_at = uploaded_at - 7200")
    assert cli("submit", "two", "--image", "cat.png").code == 0
    assert len(uploader.runs()) == 2
    assert cli("submit", "three", "--image", "cat.png").code == 0
    assert len(uploader.runs()) == 2  # the new URL is young
    monkeypatch.setenv("LUMEN_UPLOAD_MAX_AGE", "0")  # never reuse
    assert cli("submit", "four", "--image", "cat.png").code == 0
    assert len(uploader.runs()) == 3


def test_the_upload_command_never_sees_lumen_s_secrets(
    cli: CLI, uploader: FakeUploader, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_WEBHOOK_SECRET", "whsec_never_to_the_uploader")
    write(work / "cat.png", PNG)
    run = cli("submit", "a cat", "--image", "cat.png", "--webhook-url", "https://h.example/cb")
    assert run.code == 0, run.stderr
    env = uploader.environment()
    assert "LUMEN_API_KEY" not in env
    assert "LUMEN_WEBHOOK_SECRET" not in env
    assert TEST_KEY not in json.dumps(env)
    assert "whsec_never_to_the_uploader" not in json.dumps(env)
    assert env["LUMEN_DATA_DIR"] == os.environ["LUMEN_DATA_DIR"]  # the rest is passed on


def test_without_upload_command_a_local_file_says_how_to_set_one(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    write(work / "cat.png", PNG)
    before = post_count(sandbox)
    run = cli("submit", "a cat", "--image", "cat.png")
    assert run.code == 2
    assert "local files need upload_command" in run.stderr
    assert "lumen config set upload_command" in run.stderr
    assert "--sandbox" in run.stderr
    assert post_count(sandbox) == before


def test_every_file_is_checked_before_the_first_upload(
    cli: CLI, uploader: FakeUploader, sandbox: SandboxServer, work: Path
) -> None:
    write(work / "good.png", PNG)
    before = post_count(sandbox)
    run = cli("submit", "x", "--image", "good.png", "--ref-video", "good.png")
    assert run.code == 2
    assert "--ref-video good.png is a PNG image, not a video" in run.stderr
    assert uploader.runs() == []
    assert post_count(sandbox) == before


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        ("printf 'fatal: \\033[31mdenied\\033[0m\\n' >&2; exit 3", 6, "it exited 3; its stderr "
         "ends: fatal: \\x1b[31mdenied\\x1b[0m"),
        ("kill -9 $$", 6, "it was killed by signal 9"),
        ("true", 2, "printed no URL"),
        ("echo ftp://files.example/cat.png", 2, "not an http(s) URL: ftp://files.example/cat.png"),
        ("echo file:///etc/passwd", 2, "not an http(s) URL"),
        ("printf 'https://h.example/a.png\\033]0;owned\\007\\n'", 2,
         "not an http(s) URL: https://h.example/a.png\\x1b]0;owned\\x07"),
        ("echo 'https://h.example/a b.png'", 2, "not an http(s) URL"),
        ("head -c 3000000 /dev/zero | tr '\\0' x >&2; exit 1", 6, "it exited 1"),
    ],
)  # fmt: skip
def test_a_failed_upload_stops_before_the_job_is_sent(
    cli: CLI,
    sandbox: SandboxServer,
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    code: int,
    message: str,
) -> None:
    monkeypatch.setenv("LUMEN_UPLOAD_COMMAND", f": {{path}}; {command}")
    write(work / "cat.png", PNG)
    before = post_count(sandbox)
    run = cli("submit", "a cat", "--image", "cat.png")
    assert run.code == code
    assert message in run.stderr
    assert "nothing was sent to the API" in run.stderr
    assert "\x1b" not in run.stderr
    assert "\x07" not in run.stderr
    assert len(run.stderr) < 2000  # a flood of stderr is cut to its end
    assert post_count(sandbox) == before
    assert history_records(work.parent) == {}


def test_a_command_that_hangs_is_stopped_by_upload_timeout(
    cli: CLI, sandbox: SandboxServer, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_UPLOAD_COMMAND", "sleep 60; echo {path}")
    monkeypatch.setenv("LUMEN_UPLOAD_TIMEOUT", "0.5")
    write(work / "cat.png", PNG)
    before = post_count(sandbox)
    started = time.monotonic()
    run = cli("submit", "a cat", "--image", "cat.png", "--json")
    assert time.monotonic() - started < 10
    assert run.code == 6
    error = json.loads(run.stdout)["error"]
    assert error["type"] == "upload"
    assert "ran longer than upload_timeout (0.5 s) and was stopped" in error["message"]
    assert post_count(sandbox) == before


def test_a_file_changed_while_it_was_uploaded_is_not_used(
    cli: CLI, uploader: FakeUploader, sandbox: SandboxServer, work: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LUMEN_UPLOAD_COMMAND", f"echo more >> {{path}}; {uploader.command}")
    write(work / "cat.png", PNG)
    before = post_count(sandbox)
    run = cli("submit", "a cat", "--image", "cat.png")
    assert run.code == 6
    assert "cat.png changed while it was uploaded" in run.stderr
    assert post_count(sandbox) == before


def test_dry_run_shows_the_url_it_would_use_and_uploads_only_with_upload(
    cli: CLI, uploader: FakeUploader, file_host: FileHost, sandbox: SandboxServer, work: Path
) -> None:
    write(work / "cat.png", PNG)
    write(work / "clip.mp4", VIDEO)
    before = post_count(sandbox)
    args = ("submit", "x", "--image", "cat.png", "--ref-video", "clip.mp4", "--dry-run", "--json")
    dry = cli(*args)
    assert dry.code == 0, dry.stderr
    assert submit_json(dry.stdout)["image_url"] == "cat.png"  # no URL yet: the path
    assert f"--image cat.png: would upload ({len(PNG)} B; --upload uploads it now)" in dry.stderr
    assert "dry run: video-to-video" in dry.stderr  # a local video is a reference video
    assert uploader.runs() == []

    uploading = cli(*args, "--upload")
    assert uploading.code == 0, uploading.stderr
    body = submit_json(uploading.stdout)
    assert body["image_url"].startswith(file_host.url)
    assert body["reference_video_url"].startswith(file_host.url)
    assert len(uploader.runs()) == 2

    cached = cli(*args)
    assert submit_json(cached.stdout) == body
    assert "--image cat.png: reusing the upload of a moment ago" in cached.stderr
    assert len(uploader.runs()) == 2
    assert post_count(sandbox) == before

    refused = cli("submit", "x", "--image", "cat.png", "--upload")
    assert refused.code == 2
    assert "--upload goes with --dry-run" in refused.stderr


def test_two_processes_given_the_same_file_upload_it_once(
    home: Path, uploader: FakeUploader, sandbox: SandboxServer, work: Path
) -> None:
    write(work / "cat.png", PNG)
    uploader.delay = 1.0  # the first is still uploading when the second looks
    env = {**os.environ, "LUMEN_UPLOAD_COMMAND": uploader.command}
    children = [
        fork_lumen(["submit", f"cat {n}", "--image", "cat.png", "--json"], env, home / "runs")
        for n in range(2)
    ]
    jobs = []
    for child in children:
        code, out, err = child.wait()
        assert code == 0, err
        jobs.append(json.loads(out))
    assert len(uploader.runs()) == 1
    assert jobs[0]["request"]["image_url"] == jobs[1]["request"]["image_url"]


# -- the sandbox's own file host ----------------------------------------------------------------


def test_the_sandbox_takes_local_files_with_no_set_up(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    write(work / "me.png", PNG)
    run = cli("--sandbox", "submit", "make it wave", "--image", "me.png", "--wait", "--download")
    assert run.code == 0, run.stderr
    saved = list(work.glob("*.mp4"))
    assert len(saved) == 1
    assert saved[0].read_bytes() == VIDEO
    [record] = history_records(work.parent, "sandbox-history.sqlite3").values()
    url = record.request["image_url"]
    assert url.startswith(f"{sandbox.url}/files/uploads/")
    puts = sandbox.stats()["requests"].get("PUT /uploads/{name}", 0)

    again = cli("--sandbox", "submit", "wave again", "--image", "me.png")
    assert again.code == 0, again.stderr
    assert sandbox.stats()["requests"].get("PUT /uploads/{name}", 0) == puts  # found, kept
    assert "reusing the upload" in again.stderr


def test_under_the_sandbox_a_dry_run_starts_nothing(
    cli: CLI, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUMEN_SANDBOX_URL")
    monkeypatch.setenv("LUMEN_SANDBOX_PORT", "9")  # nothing listens there: none must start
    write(work / "me.png", PNG)
    run = cli("--sandbox", "submit", "x", "--image", "me.png", "--dry-run")
    assert run.code == 0, run.stderr
    assert "--image me.png: would upload" in run.stderr
    assert not (work.parent / "data" / "sandbox" / "state.json").exists()


def test_many_reused_uploads_are_counted_not_listed(
    cli: CLI, uploader: FakeUploader, work: Path
) -> None:
    refs = []
    for n in range(5):
        write(work / f"ref{n}.png", PNG + bytes([n]))
        refs += ["--ref-image", f"ref{n}.png"]
    first = cli("submit", "x", *refs)
    assert first.code == 0, first.stderr
    assert first.stderr.count("uploaded ref") == 5
    again = cli("submit", "y", *refs)
    assert again.code == 0, again.stderr
    assert "reusing the uploads of 5 files" in again.stderr
    assert "ref0.png" not in again.stderr
    assert len(uploader.runs()) == 5


def test_a_hostile_file_name_reaches_the_command_whole(
    cli: CLI, uploader: FakeUploader, work: Path
) -> None:
    name = HOSTILE_NAME + "\n; rm -rf ~ #.png"
    write(work / name, PNG)
    run = cli("submit", "a cat", "--image", name)
    assert run.code == 0, run.stderr
    assert uploader.runs() == [str(work / name)]
    assert not (work / "pwned").exists()
    assert "\\n; rm -rf" in run.stderr  # the name is shown escaped, on one line
