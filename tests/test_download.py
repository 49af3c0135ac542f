"""``lumen download`` and the Downloader, against the real sandbox and small stdlib servers.

What the server saw is read from the sandbox itself: a thin wrapper around its file handler
records the request headers (Range, If-Range, Authorization) of every file request.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import pytest
from rich.console import Console

from lumen_cli.api.models import Job
from lumen_cli.api.retry import RetryPolicy
from lumen_cli.clock import FakeClock
from lumen_cli.download.fetch import Downloader, Saved, parse_content_range
from lumen_cli.download.names import output_paths, slugify, url_extension
from lumen_cli.download.part import PartFile
from lumen_cli.output.progress import DownloadProgress
from lumen_cli.services.fetch import save_job_files
from lumen_cli.errors import BadInput, DownloadError
from lumen_cli.sandbox import SandboxServer
from lumen_cli.sandbox import server as sandbox_server
from lumen_cli.sandbox.files import asset_bytes, blob_bytes
from tests.conftest import CLI

JOBS = "/v1/videos/generations"
VIDEO = asset_bytes("16x9.mp4")  # what a default (16:9) sandbox job serves
VIDEO_SHA = hashlib.sha256(VIDEO).hexdigest()
FILE_ROUTE = "GET /files/{id}/{index}.mp4"
Seen = list[dict[str, Any]]


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture
def work(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory of the command: where default names land."""
    folder = home / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Headers of every file request the sandbox serves from now on, in order."""
    records: Seen = []
    original = sandbox_server._Handler._serve

    def recording(handler: Any, content: Any) -> None:
        names = ("Range", "If-Range", "Authorization", "Cookie")
        record = {name: handler.headers.get(name) for name in names}
        record["path"] = urlsplit(handler.path).path
        records.append(record)
        original(handler, content)

    monkeypatch.setattr(sandbox_server._Handler, "_serve", recording)
    return records


def make_job(
    api: httpx.Client, prompt: str = "a cat running", *, n: int = 1, end: str = "succeeded"
) -> str:
    """A job created straight through the API and forced to its end at once."""
    response = api.post(JOBS, json={"model": "seedance-2", "prompt": prompt, "n": n})
    response.raise_for_status()
    job_id = str(response.json()["id"])
    if end:
        finish = api.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": end})
        if finish.status_code == 409:  # a slow machine: the sandbox ended it first, by itself
            assert api.get(f"{JOBS}/{job_id}").json()["status"] == end
        else:
            finish.raise_for_status()
    return job_id


def file_gets(sandbox: SandboxServer) -> int:
    requests = sandbox.stats()["requests"]
    assert isinstance(requests, dict)
    return int(requests.get(FILE_ROUTE, 0))


def blob_job(sandbox: SandboxServer, size: int) -> Job:
    url = f"{sandbox.url}/files/blob/{size}.bin"
    return Job(id="vblob", status="succeeded", urls=(url,))


def downloader(clock: FakeClock | None = None, **options: Any) -> Downloader:
    return Downloader(clock=clock or FakeClock(), **options)


# -- names -----------------------------------------------------------------------------


def test_default_name_is_byte_exact_and_leaves_nothing_else(
    cli: CLI, api: httpx.Client, work: Path, seen: Seen
) -> None:
    job_id = make_job(api)
    run = cli("download", job_id)
    assert run.code == 0, run.stderr
    target = work / f"{job_id}.mp4"
    assert target.read_bytes() == VIDEO
    assert sorted(p.name for p in work.iterdir()) == [target.name]  # no .part, no .part.json
    assert run.stdout == f"{target}\n"  # data: the path, for scripts
    assert run.stderr == ""
    # The download client never carries the API key (or any cookie).
    assert [(r["Authorization"], r["Cookie"]) for r in seen] == [(None, None)]


def test_template_placeholders(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api, "A Cat, running!")
    created = api.get(f"{JOBS}/{job_id}").json()["created"]
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
    paths = [Path(item["path"]) for item in json.loads(run.stdout)]
    assert paths == [work / f"{job_id}-1.mp4", work / f"{job_id}-2.mp4"]
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


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("..", ""),
        ("../../etc", "etc"),
        ("a/b\\c\x00d", "a-b-c-d"),
        (".hidden", "hidden"),
        ("\uff26\uff35\uff2c\uff2c\u3000\uff57\uff49\uff44\uff54\uff48", "full-width"),
        ("x" * 200, "x" * 60),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_output_paths_keep_values_inside_the_directory(tmp_path: Path) -> None:
    paths = output_paths(
        "{id}/{model}/{prompt}",
        job_id="../../x",
        count=2,
        model="..",
        prompt="/" * 10,
        created=0.0,
        base_dir=tmp_path,
        extensions=[".webm"],
    )
    assert paths == [
        tmp_path / "x" / "model" / "untitled-1.webm",
        tmp_path / "x/model/untitled-2.mp4",
    ]
    with pytest.raises(BadInput, match="placeholder"):
        output_paths("{id.__class__}", job_id="v1", count=1, model=None, prompt=None,
                     created=None, base_dir=tmp_path)  # fmt: skip
    with pytest.raises(BadInput, match="too long"):
        output_paths("{prompt}" * 5, job_id="v1", count=1, model=None, prompt="猫" * 60,
                     created=None, base_dir=tmp_path)  # fmt: skip


@pytest.mark.parametrize(
    ("url", "ext"),
    [
        ("https://cdn.example/v/abc.MP4?sig=1", ".mp4"),
        ("https://cdn.example/v/abc.webm", ".webm"),
        ("https://cdn.example/v/abc", ".mp4"),
        ("https://cdn.example/v/abc.tar.gz", ".gz"),
        ("https://cdn.example/v/abc.toolongext", ".mp4"),
        ("https://cdn.example/v/abc.m%2Fp4", ".mp4"),
        ("https://cdn.example/v/a.b/", ".mp4"),
    ],
)
def test_url_gives_only_a_whitelisted_extension(url: str, ext: str) -> None:
    assert url_extension(url) == ext


def test_parse_content_range() -> None:
    assert parse_content_range("bytes 10-19/100") == (10, 19, 100)
    assert parse_content_range("bytes 10-19/*") == (10, 19, None)
    assert parse_content_range("bytes 19-10/100") is None
    assert parse_content_range("bytes 10-100/100") is None
    assert parse_content_range(None) is None


def test_unknown_placeholder_is_bad_input(cli: CLI, api: httpx.Client, work: Path) -> None:
    run = cli("download", make_job(api), "-o", "{title}.mp4")
    assert run.code == 2
    assert "{title}" in run.stderr
    assert list(work.iterdir()) == []


# -- existing files, --force, --json, --sidecar, history --------------------------------


def test_complete_file_is_not_fetched_again_unless_forced(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    job_id = make_job(api)
    target = work / f"{job_id}.mp4"
    assert cli("download", job_id).code == 0
    inode = target.stat().st_ino
    again = cli("download", job_id)
    assert again.code == 0
    assert again.stderr.strip() == f"already saved: {target}"
    assert target.stat().st_ino == inode  # untouched
    forced = cli("download", job_id, "--force", "--json")
    assert forced.code == 0
    assert json.loads(forced.stdout)[0]["skipped"] is False
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


def test_json_is_one_array_with_checksums(cli: CLI, api: httpx.Client, work: Path) -> None:
    job_id = make_job(api)
    first = json.loads(cli("download", job_id, "--json").stdout)
    second_run = cli("download", job_id, "--json")
    second = json.loads(second_run.stdout)  # stdout holds the document and nothing else
    url = api.get(f"{JOBS}/{job_id}").json()["data"][0]["url"]
    expected = {
        "id": job_id,
        "url": url,
        "path": str(work / f"{job_id}.mp4"),
        "bytes": len(VIDEO),
        "sha256": VIDEO_SHA,
    }
    assert first == [{**expected, "skipped": False}]
    assert second == [{**expected, "skipped": True}]


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


# -- job states and several ids --------------------------------------------------------


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


# -- faults ----------------------------------------------------------------------------


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


# -- resume across runs, locking -------------------------------------------------------


def test_complete_part_is_renamed_without_a_body(
    sandbox: SandboxServer, tmp_path: Path, seen: Seen
) -> None:
    size = 100_000
    job = blob_job(sandbox, size)
    target = tmp_path / "blob.bin"
    with downloader() as first:
        first.fetch(job.urls[0], target)
    # As if killed after the last byte and before the rename:
    os.replace(target, tmp_path / "blob.bin.part")
    (tmp_path / "blob.bin.part.json").write_text(json.dumps({"total": size, "validator": None}))
    with downloader() as again:
        saved = again.fetch(job.urls[0], target)
    assert target.read_bytes() == blob_bytes(size)
    assert saved.sha256 == hashlib.sha256(blob_bytes(size)).hexdigest()
    assert seen[-1]["Range"] == f"bytes={size}-"  # answered 416: nothing left to send


def test_part_without_its_sidecar_starts_over(
    sandbox: SandboxServer, tmp_path: Path, seen: Seen
) -> None:
    job = blob_job(sandbox, 50_000)
    (tmp_path / "x.bin.part").write_bytes(b"bytes of who knows what")
    with downloader() as fetcher:
        fetcher.fetch(job.urls[0], tmp_path / "x.bin")
    assert (tmp_path / "x.bin").read_bytes() == blob_bytes(50_000)
    assert seen[-1]["Range"] is None


def test_big_blob_with_progress_on_a_terminal(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PartFile, "write_behind", 512 << 10)  # exercise the write-behind
    size = 3 << 20
    job = blob_job(sandbox, size)
    sandbox.faults.add("cut", path="/files/blob/", at=1 << 20)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    progress = DownloadProgress(console)
    with Downloader(clock=FakeClock(), progress=progress, chunk_size=256 << 10) as d:
        saved = save_job_files(d, job, None, template=None, base_dir=tmp_path)
    expected = blob_bytes(size)
    assert saved == [
        Saved("vblob", job.urls[0], tmp_path / "vblob.bin", size,
              hashlib.sha256(expected).hexdigest(), False)
    ]  # fmt: skip
    assert (tmp_path / "vblob.bin").read_bytes() == expected
    assert "retrying in" in screen.getvalue()
    assert "vblob.bin" in screen.getvalue()


def test_two_downloads_of_one_file_take_turns(sandbox: SandboxServer, tmp_path: Path) -> None:
    size = 40_000
    job = blob_job(sandbox, size)
    sandbox.faults.add("slow", path="/files/blob/", bytes_per_second=200_000)
    target = tmp_path / "same.bin"
    results: list[Saved] = []

    def fetch() -> None:
        with downloader() as fetcher:
            results.append(fetcher.fetch(job.urls[0], target))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(10)
    assert sorted(item.skipped for item in results) == [False, True]
    assert target.read_bytes() == blob_bytes(size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.bin"]


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


def wait_for(condition: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- no credentials, ever: redirects through a recording server -------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Redirects /start -> (other server) /hop -> /file, planting cookies on the way."""

    protocol_version = "HTTP/1.1"
    log: ClassVar[Seen] = []
    other = ""
    body = b"redirected video bytes" * 100

    def do_GET(self) -> None:
        self.log.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path == "/start":
            self._redirect(f"{self.other}/hop")
        elif self.path == "/hop":
            self._redirect("/file")
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Set-Cookie", "session=secret; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorders() -> Iterator[tuple[str, str]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    first, second = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    _Recorder.log = []
    _Recorder.other = second
    yield first, second
    for server in servers:
        server.shutdown()
        server.server_close()


def test_redirect_hops_carry_no_credentials(recorders: tuple[str, str], tmp_path: Path) -> None:
    first, _ = recorders
    url = first.replace("http://", "http://user:pw@") + "/start"  # userinfo would be Basic auth
    with downloader() as fetcher:
        saved = fetcher.fetch(url, tmp_path / "r.mp4")
    assert saved.bytes == len(_Recorder.body)
    assert (tmp_path / "r.mp4").read_bytes() == _Recorder.body
    assert [entry["path"] for entry in _Recorder.log] == ["/start", "/hop", "/file"]
    for entry in _Recorder.log:
        assert "authorization" not in entry
        assert "cookie" not in entry
        assert entry["accept-encoding"] == "identity"


# -- a lying server: lengths that do not add up ---------------------------------------


class _Liar(BaseHTTPRequestHandler):
    """/short promises 1000 bytes and sends 500; /range answers 206 with a bad length."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.close_connection = True
        self.send_response(206 if self.path == "/range" else 200)
        self.send_header("Content-Length", "1000")
        if self.path == "/range":
            self.send_header("Content-Range", "bytes 0-499/500")
        self.end_headers()
        self.wfile.write(b"x" * 500)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def liar() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "message"), [("/short", "gave up"), ("/range", "Content-Length")])
def test_length_mismatch_is_an_error(liar: str, tmp_path: Path, path: str, message: str) -> None:
    clock = FakeClock()
    with downloader(clock, retry=RetryPolicy(max_attempts=3)) as fetcher:
        with pytest.raises(DownloadError, match=message):
            fetcher.fetch(liar + path, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()
    assert len(clock.sleeps) <= 2


class _Capped(BaseHTTPRequestHandler):
    """Answers every request with at most 300 bytes, as a 206 (some CDNs cap ranges)."""

    protocol_version = "HTTP/1.1"
    data = bytes(range(256)) * 8
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        asked = self.headers.get("Range")
        self.ranges.append(asked)
        first = int(asked[6:-1]) if asked else 0
        last = min(first + 299, len(self.data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(self.data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("ETag", '"capped"')
        self.end_headers()
        self.wfile.write(self.data[first : last + 1])

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_capped_ranges_are_followed_to_the_end(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capped)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    _Capped.ranges = []
    try:
        with downloader() as fetcher:
            saved = fetcher.fetch(f"http://127.0.0.1:{server.server_address[1]}/v", tmp_path / "v")
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp_path / "v").read_bytes() == _Capped.data
    assert saved.sha256 == hashlib.sha256(_Capped.data).hexdigest()
    assert _Capped.ranges == [None, *(f"bytes={n}-" for n in range(300, 2048, 300))]


# -- import cost -------------------------------------------------------------------------


def test_importing_the_module_stays_cheap() -> None:
    code = "import sys, lumen_cli.download.fetch, lumen_cli.services.fetch; print(sorted({'httpx', 'rich'} & set(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_without_checksum_a_cut_download_still_resumes_byte_exact(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    size = 3 << 20
    job = blob_job(sandbox, size)
    sandbox.faults.add("cut", path="/files/blob/", at=1 << 20)
    with downloader(checksum=False, chunk_size=256 << 10) as d:
        saved = save_job_files(d, job, None, template=None, base_dir=tmp_path)
    assert [(item.bytes, item.sha256) for item in saved] == [(size, None)]
    assert (tmp_path / "vblob.bin").read_bytes() == blob_bytes(size)


def test_human_download_skips_the_checksum_json_has_it(
    cli: CLI, api: httpx.Client, work: Path
) -> None:
    job_id = make_job(api)
    first = json.loads(cli("download", job_id, "--json").stdout)
    assert first[0]["sha256"] == hashlib.sha256(VIDEO).hexdigest()
    again = cli("download", job_id, "--force")
    assert again.code == 0
    assert (work / f"{job_id}.mp4").read_bytes() == VIDEO
