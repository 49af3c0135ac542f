"""The sandbox emulator over real HTTP on 127.0.0.1: the vendor's rules, files, faults, webhooks."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from lumen_cli import __version__
from lumen_cli.net import is_loopback
from lumen_cli.sandbox import SANDBOX_KEY, SandboxConfig, SandboxServer, SandboxStateError
from lumen_cli.sandbox.files import RangeNotSatisfiable, asset_bytes, blob_bytes, parse_range
from lumen_cli.sandbox.jobs import ApiError, validate_generation
from lumen_cli.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": f"Bearer {SANDBOX_KEY}"}
JOB_SECONDS = 0.2
BACKOFF = (0.02, 0.02, 0.02, 0.02)
GENERATIONS = "/v1/videos/generations"
SIGNING_KEY = "hook-k3y-ü"
# Loading the CA bundle costs ~30 ms per client; every client here shares one (unused) context.
TLS = ssl.create_default_context()


def _config(**changes: Any) -> SandboxConfig:
    settings: dict[str, Any] = {
        "port": 0,
        "job_seconds": JOB_SECONDS,
        "webhook_backoff": BACKOFF,
        "webhook_timeout": 2.0,
    }
    settings.update(changes)
    return SandboxConfig(**settings)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """One server for the module (starting one per test would cost more than the tests)."""
    with SandboxServer(_config()) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


def http_client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=headers, timeout=5.0, verify=TLS)


@pytest.fixture(scope="module")
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An authenticated client, shared: its pooled keep-alive connections are exercised too."""
    with http_client(sandbox.url, AUTH) as http:
        yield http


@pytest.fixture(scope="module")
def anonymous(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with http_client(sandbox.url) as http:
        yield http


class FakeClock:
    """Wall time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked() -> Iterator[tuple[SandboxServer, FakeClock, httpx.Client]]:
    """A server whose jobs take 10 fake seconds, with the clock that drives them."""
    clock = FakeClock()
    with (
        SandboxServer(_config(job_seconds=10.0), clock=clock) as server,
        http_client(server.url, AUTH) as http,
    ):
        yield server, clock, http


def create(client: httpx.Client, prompt: str = "a cat running", **fields: Any) -> str:
    response = client.post(GENERATIONS, json={"model": "seedance-2", "prompt": prompt, **fields})
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    assert isinstance(job_id, str)
    return job_id


def job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"{GENERATIONS}/{job_id}")
    assert response.status_code == 200, response.text
    document = response.json()
    assert isinstance(document, dict)
    return document


def wait_terminal(client: httpx.Client, job_id: str, timeout: float = 3.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        document = job(client, job_id)
        if document["status"] in ("succeeded", "failed", "cancelled"):
            return document
        assert time.monotonic() < deadline, f"job still {document['status']}"
        time.sleep(0.02)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object, after checking the shape every error answer shares."""
    document = response.json()
    assert set(document) == {"error"}
    error = document["error"]
    assert isinstance(error, dict)
    assert isinstance(error["message"], str)
    assert isinstance(error["type"], str)
    assert error["code"] == response.status_code
    return error


def requests_seen(server: SandboxServer, key: str) -> int:
    return int(server.stats()["requests"].get(key, 0))


# --- health and routing ---------------------------------------------------------------------


def test_health_identifies_the_sandbox(anonymous: httpx.Client) -> None:
    response = anonymous.get("/_sandbox/health")
    assert response.json() == {"lumen_sandbox": True, "pid": os.getpid(), "version": __version__}


def test_unknown_route_is_a_json_404_and_wrong_method_a_405(client: httpx.Client) -> None:
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404
    assert "no such route" in error_of(missing)["message"]
    wrong = client.delete(GENERATIONS)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"
    error_of(wrong)


def test_connection_is_kept_alive_across_requests(sandbox: SandboxServer) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        body = json.dumps({"model": "seedance-2", "prompt": "a cat"})
        connection.request("POST", GENERATIONS, body=body, headers=AUTH)
        first = connection.getresponse()
        job_id = json.loads(first.read())["id"]
        sock = connection.sock
        connection.request("GET", f"{GENERATIONS}/{job_id}", headers=AUTH)
        second = connection.getresponse()
        assert json.loads(second.read())["id"] == job_id
        assert sock is not None
        assert connection.sock is sock  # no reconnect happened
    finally:
        connection.close()


def _raw_exchange(server: SandboxServer, request: bytes) -> bytes:
    """Send *request* bytes on a fresh connection; return all bytes until the server closes."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: 99999999", b"413"),
        (b"Content-Length: -1", b"400"),
        (b"Transfer-Encoding: chunked", b"411"),
    ],
)
def test_unreadable_bodies_are_refused_and_the_connection_closed(
    sandbox: SandboxServer, headers: bytes, status: bytes
) -> None:
    request = b"POST /v1/videos/generations HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n\r\n"
    answer = _raw_exchange(sandbox, request)  # returns only because the server hangs up
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in head
    assert json.loads(body)["error"]["code"] == int(status)


def test_requests_are_not_logged(client: httpx.Client, capfd: pytest.CaptureFixture[str]) -> None:
    client.get("/nowhere")
    client.post(GENERATIONS, json={"model": "seedance-2"})
    client.get("/_sandbox/health")
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


# --- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing API key"),
        ("Bearer nope", "invalid API key"),
        ("Basic sk-lumen-abc", "invalid API key"),
        ("Bearer sk-lumen-", "invalid API key"),
        ("Bearer sk-lumen-revoked", "key revoked"),
    ],
)
def test_bad_keys_are_401(anonymous: httpx.Client, authorization: str | None, message: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = {"model": "seedance-2", "prompt": "a cat"}
    for response in (
        anonymous.post(GENERATIONS, json=body, headers=headers),
        anonymous.get(f"{GENERATIONS}/v{'0' * 24}", headers=headers),
    ):
        assert response.status_code == 401
        assert message in error_of(response)["message"]
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_nocredit_key_cannot_submit_but_can_read(client: httpx.Client) -> None:
    job_id = create(client)
    poor = {"Authorization": "Bearer sk-lumen-nocredit"}
    refused = client.post(GENERATIONS, json={"model": "seedance-2", "prompt": "x"}, headers=poor)
    assert refused.status_code == 402
    assert error_of(refused)["type"] == "insufficient_credits"
    assert client.get(f"{GENERATIONS}/{job_id}", headers=poor).status_code == 200


# --- validation -----------------------------------------------------------------------------

VALID = {"model": "seedance-2", "prompt": "a cat"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompt": None}, "prompt is required"),
        ({"prompt": 5}, "prompt must be a string"),
        ({"prompt": "   "}, "prompt must not be blank"),
        ({"prompt": "a BLOCKED scene"}, "content blocked by the safety policy"),
        ({"duration": "5"}, "duration must be an integer"),
        ({"duration": True}, "duration must be an integer"),
        ({"duration": 4.5}, "duration must be an integer"),
        ({"duration": 3}, "at least 4"),
        ({"resolution": "4k"}, "resolution must be one of"),
        ({"aspect_ratio": "2:1"}, "aspect_ratio must be one of"),
        ({"generate_audio": "yes"}, "generate_audio must be true or false"),
        ({"image_url": "ftp://x/y.png"}, "image_url must be an http(s) URL"),
        ({"last_image_url": "not a url"}, "last_image_url must be an http(s) URL"),
        ({"reference_video_url": 7}, "reference_video_url must be an http(s) URL"),
        ({"reference_image_urls": "https://a/b.png"}, "reference_image_urls must be a list"),
        ({"reference_image_urls": ["https://a/b.png", 3]}, "reference_image_urls must be a list"),
        ({"webhook_url": "https://hook.example/cb"}, "webhook_secret is required"),
        ({"webhook_url": "file:///etc/passwd", "webhook_secret": "s"}, "webhook_url must be"),
        ({"model": None}, "model is required"),
        ({"model": 7}, "model must be a string"),
        ({"n": 5}, "n (sandbox only)"),
        ({"image_url": "https://a/1.png", "first_frame_url": "https://a/2.png"}, "both set"),
    ],
)
def test_invalid_requests_are_400(
    client: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    body = {**VALID, **changes}
    response = client.post(GENERATIONS, json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400
    error = error_of(response)
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b"", b"\xff\xfe"])
def test_body_must_be_a_json_object(client: httpx.Client, raw: bytes) -> None:
    response = client.post(GENERATIONS, content=raw)
    assert response.status_code == 400
    assert "JSON" in error_of(response)["message"]


def test_unknown_model_is_404(client: httpx.Client) -> None:
    response = client.post(GENERATIONS, json={"model": "sora-9", "prompt": "a cat"})
    assert response.status_code == 404
    assert "no such video model" in error_of(response)["message"]


def test_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get(f"{GENERATIONS}/v{'f' * 24}")
    assert response.status_code == 404
    assert error_of(response)["message"] == "task not found"


def test_validation_rejects_before_the_safety_check() -> None:
    with pytest.raises(ApiError) as caught:
        validate_generation({"model": "seedance-2", "prompt": "blocked", "duration": 2})
    assert caught.value.status == 400
    assert "duration" in caught.value.message


# --- creating and reading jobs --------------------------------------------------------------


def test_create_answers_a_queued_job(client: httpx.Client) -> None:
    before = int(time.time())
    response = client.post(GENERATIONS, json={"model": "veo-3-1", "prompt": "a cat"})
    document = response.json()
    assert set(document) == {"id", "object", "status", "created", "model"}
    assert re.fullmatch(r"v[0-9a-f]{24}", document["id"])
    assert document["object"] == "video.generation"
    assert document["status"] == "queued"
    assert before <= document["created"] <= int(time.time())
    assert document["model"] == "veo-3-1"


def test_defaults_are_filled_in(client: httpx.Client) -> None:
    document = job(client, create(client))
    assert document["resolution"] == "720p"
    assert document["aspect_ratio"] == "16:9"
    assert document["duration"] == 5
    assert document["mode"] == "text-to-video"
    assert document["prompt"] == "a cat running"


def test_explicit_fields_are_kept(client: httpx.Client) -> None:
    job_id = create(
        client, model="seedance-2-fast", resolution="1080p", aspect_ratio="21:9", duration=8,
        generate_audio=False,
    )  # fmt: skip
    document = job(client, job_id)
    assert (document["model"], document["resolution"]) == ("seedance-2-fast", "1080p")
    assert (document["aspect_ratio"], document["duration"]) == ("21:9", 8)


@pytest.mark.parametrize(
    ("fields", "mode"),
    [
        ({"first_frame_url": "https://img/first.png"}, "image-to-video"),
        ({"last_frame_url": "https://img/last.png"}, "image-to-video"),
        ({"reference_images": ["https://img/ref.png"]}, "image-to-video"),
        ({"image_url": "https://img/a.png", "video_url": "https://vid/ref.mp4"}, "video-to-video"),
        ({"reference_video_url": "http://vid/ref.mp4"}, "video-to-video"),
        ({"reference_image_urls": []}, "text-to-video"),
    ],
)
def test_aliases_are_accepted_and_set_the_mode(
    client: httpx.Client, fields: dict[str, Any], mode: str
) -> None:
    assert job(client, create(client, **fields))["mode"] == mode


def test_status_moves_with_the_clock(
    clocked: tuple[SandboxServer, FakeClock, httpx.Client],
) -> None:
    _, clock, http = clocked
    job_id = create(http)
    assert job(http, job_id)["status"] == "queued"
    clock.now += 2.5  # past 20% of the 10 s
    processing = job(http, job_id)
    assert processing["status"] == "processing"
    assert "data" not in processing
    assert "error" not in processing
    clock.now += 7.6
    done = job(http, job_id)
    assert done["status"] == "succeeded"
    assert done["created"] == 1_700_000_000
    assert len(done["data"]) == 1


@pytest.mark.parametrize(
    ("prompt", "status", "message"),
    [
        ("please FAIL now", "failed", "generation failed (sandbox: prompt asked to fail)"),
        ("cancel me", "cancelled", "generation cancelled (sandbox: prompt asked to cancel)"),
    ],
)
def test_prompt_chooses_a_failed_or_cancelled_end(
    clocked: tuple[SandboxServer, FakeClock, httpx.Client], prompt: str, status: str, message: str
) -> None:
    _, clock, http = clocked
    job_id = create(http, prompt)
    clock.now += 10
    document = job(http, job_id)
    assert document["status"] == status
    assert document["error"] == {"message": message}
    assert "data" not in document


def test_forever_jobs_stay_processing_until_finished(
    clocked: tuple[SandboxServer, FakeClock, httpx.Client],
) -> None:
    server, clock, http = clocked
    job_id = create(http, "loop forever")
    clock.now += 86_400
    assert job(http, job_id)["status"] == "processing"
    finished = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
    assert finished.json()["status"] == "succeeded"
    assert job(http, job_id)["data"][0]["url"] == f"{server.url}/files/{job_id}/0.mp4"


def test_finish_endpoint_rules(clocked: tuple[SandboxServer, FakeClock, httpx.Client]) -> None:
    _, clock, http = clocked
    job_id = create(http)
    bad = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "done"})
    assert bad.status_code == 400
    failed = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "failed"})
    assert failed.json()["error"]["message"].startswith("generation failed (sandbox: forced")
    clock.now += 100  # a forced status does not change when the natural end passes
    assert job(http, job_id)["status"] == "failed"
    again = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
    assert again.status_code == 409
    assert http.post(f"/_sandbox/jobs/v{'0' * 24}/finish", json={}).status_code == 404


def test_jobs_end_in_real_time(sandbox: SandboxServer, client: httpx.Client) -> None:
    job_id = create(client, n=3)
    document = wait_terminal(client, job_id)
    assert document["status"] == "succeeded"
    urls = [item["url"] for item in document["data"]]
    assert urls == [f"{sandbox.url}/files/{job_id}/{i}.mp4" for i in range(3)]


# --- result files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_job(sandbox: SandboxServer) -> str:
    """A succeeded 16:9 job with two result files."""
    with http_client(sandbox.url, AUTH) as http:
        job_id = create(http, n=2)
        wait_terminal(http, job_id)
    return job_id


def test_result_is_a_real_mp4_served_without_auth(
    anonymous: httpx.Client, finished_job: str
) -> None:
    response = anonymous.get(f"/files/{finished_job}/1.mp4")
    assert response.status_code == 200
    assert response.content[4:8] == b"ftyp"
    assert response.content == asset_bytes("16x9.mp4")
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["ETag"])
    assert response.headers["Last-Modified"].endswith(" GMT")


@pytest.mark.parametrize(
    ("ratio", "asset"),
    [("9:16", "9x16.mp4"), ("1:1", "1x1.mp4"), ("3:4", "9x16.mp4"), ("21:9", "16x9.mp4")],
)
def test_file_matches_the_aspect_ratio(client: httpx.Client, ratio: str, asset: str) -> None:
    job_id = create(client, aspect_ratio=ratio)
    finished = client.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
    url = finished.json()["data"][0]["url"]
    assert client.get(url).content == asset_bytes(asset)


def test_assets_are_small_distinct_mp4s() -> None:
    assets = [asset_bytes(name) for name in ("16x9.mp4", "9x16.mp4", "1x1.mp4")]
    assert len(set(assets)) == 3
    for data in assets:
        assert data[4:8] == b"ftyp"
        assert len(data) < 40_000


def test_missing_files_are_404(client: httpx.Client, finished_job: str) -> None:
    assert client.get(f"/files/{finished_job}/2.mp4").status_code == 404  # n was 2
    assert client.get(f"/files/v{'0' * 24}/0.mp4").status_code == 404
    unfinished = create(client, "wait forever")
    assert client.get(f"/files/{unfinished}/0.mp4").status_code == 404


def test_range_requests(client: httpx.Client, finished_job: str) -> None:
    url = f"/files/{finished_job}/0.mp4"
    data = asset_bytes("16x9.mp4")
    size = len(data)
    tail = client.get(url, headers={"Range": "bytes=100-"})
    assert tail.status_code == 206
    assert tail.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    assert tail.content == data[100:]
    middle = client.get(url, headers={"Range": "bytes=10-19"})
    assert (middle.status_code, middle.content) == (206, data[10:20])
    suffix = client.get(url, headers={"Range": "bytes=-10"})
    assert suffix.content == data[-10:]
    beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    error_of(beyond)
    malformed = client.get(url, headers={"Range": "bytes=abc"})
    assert (malformed.status_code, malformed.content) == (200, data)


def test_if_range(client: httpx.Client, finished_job: str) -> None:
    url = f"/files/{finished_job}/0.mp4"
    etag = client.head(url).headers["ETag"]
    same = client.get(url, headers={"Range": "bytes=5-", "If-Range": etag})
    assert same.status_code == 206
    stale = client.get(url, headers={"Range": "bytes=5-", "If-Range": '"0123"'})
    assert stale.status_code == 200
    assert stale.content == asset_bytes("16x9.mp4")


def test_head_has_headers_and_no_body(client: httpx.Client, finished_job: str) -> None:
    response = client.head(f"/files/{finished_job}/0.mp4")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(asset_bytes("16x9.mp4")))
    assert response.content == b""
    assert client.get("/_sandbox/health").status_code == 200  # the connection is still in sync


def test_blob_is_deterministic_and_ranged(client: httpx.Client) -> None:
    size = 200_000
    whole = client.get(f"/files/blob/{size}.bin")
    assert whole.headers["Content-Type"] == "application/octet-stream"
    assert whole.content == blob_bytes(size)
    assert len(whole.content) == size
    assert whole.content[:65536] != whole.content[1:65537]  # not a constant fill
    part = client.get(f"/files/blob/{size}.bin", headers={"Range": "bytes=70000-70099"})
    assert part.content == blob_bytes(size, 70000, 70100) == whole.content[70000:70100]
    assert part.headers["ETag"] == whole.headers["ETag"]
    assert client.get("/files/blob/1000.bin").headers["ETag"] != whole.headers["ETag"]
    assert blob_bytes(1000) != blob_bytes(size)[:1000]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=10-20", (10, 20)),
        ("bytes=10-500", (10, 99)),
        ("bytes=-30", (70, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=20-10", None),
        ("bytes=1-2,5-6", None),
        ("items=0-5", None),
        ("bytes=x-", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=-5", 0)]
)
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_set_over_http(client: httpx.Client) -> None:
    job_id = create(client)
    fault = {
        "kind": "status", "method": "GET", "path": GENERATIONS, "status": 503, "count": 2,
        "retry_after": 1, "body": "<html>down</html>", "content_type": "text/html",
    }  # fmt: skip
    armed = client.post("/_sandbox/faults", json=[fault])
    assert armed.json()["faults"][0]["count"] == 2
    for _ in range(2):
        response = client.get(f"{GENERATIONS}/{job_id}")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.headers["Content-Type"] == "text/html"
        assert response.text == "<html>down</html>"
    assert client.get(f"{GENERATIONS}/{job_id}").status_code == 200
    assert client.get("/_sandbox/faults").json() == {"faults": []}


def test_status_fault_default_body_is_a_json_error(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    sandbox.faults.add("status", method="POST", status=429)
    response = client.post(GENERATIONS, json=VALID)
    assert response.status_code == 429
    assert error_of(response)["type"] == "rate_limit_error"


def test_faults_match_method_and_path(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.faults.add("status", method="POST", path=GENERATIONS, status=500)
    assert client.get(f"{GENERATIONS}/v{'0' * 24}").status_code == 404  # GET: not matched
    assert client.get("/files/blob/10.bin").status_code == 200
    assert client.post(GENERATIONS, json=VALID).status_code == 500  # consumed here
    assert client.post(GENERATIONS, json=VALID).status_code == 200


def test_sandbox_routes_are_never_faulted(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.faults.add("status", path="/", status=500, count=5)
    assert client.get("/_sandbox/health").status_code == 200
    assert client.get("/_sandbox/stats").status_code == 200
    assert len(sandbox.faults) == 1
    assert sandbox.faults.snapshot()[0]["count"] == 5


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "status", "count": 0},
        {"kind": "status", "status": 99},
        {"kind": "delay", "seconds": "long"},
        {"kind": "cut", "at": -1},
        {"kind": "status", "colour": "red"},
        {"path": "/"},
    ],
)
def test_bad_faults_are_refused(client: httpx.Client, fault: dict[str, Any]) -> None:
    client.post("/_sandbox/faults", json={"kind": "empty"})
    response = client.post("/_sandbox/faults", json={"faults": [fault]})
    assert response.status_code == 400
    assert "fault" in error_of(response)["message"]
    assert len(client.get("/_sandbox/faults").json()["faults"]) == 1  # the old set is kept


def test_delete_clears_faults(client: httpx.Client) -> None:
    client.post("/_sandbox/faults", json=[{"kind": "empty"}, {"kind": "drop"}])
    assert len(client.get("/_sandbox/faults").json()["faults"]) == 2
    assert client.delete("/_sandbox/faults").json() == {"faults": []}
    assert client.get(f"{GENERATIONS}/v{'0' * 24}").status_code == 404


def test_garbage_empty_and_wrong_types(sandbox: SandboxServer, client: httpx.Client) -> None:
    job_id = create(client)
    path = f"{GENERATIONS}/{job_id}"
    sandbox.faults.replace([{"kind": "garbage"}, {"kind": "empty"}, {"kind": "wrong_types"}])
    garbage = client.get(path)
    assert garbage.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(garbage.content)
    empty = client.get(path)
    assert (empty.status_code, empty.content) == (200, b"")
    wrong = client.get(path).json()
    assert isinstance(wrong["id"], int)
    assert isinstance(wrong["status"], list)
    assert job(client, job_id)["id"] == job_id  # all three used up


def test_drop_sends_nothing_and_does_nothing(sandbox: SandboxServer, client: httpx.Client) -> None:
    jobs = sandbox.stats()["jobs"]
    posts = requests_seen(sandbox, f"POST {GENERATIONS}")
    sandbox.faults.add("drop", method="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(GENERATIONS, json=VALID)
    assert sandbox.stats()["jobs"] == jobs
    assert requests_seen(sandbox, f"POST {GENERATIONS}") == posts + 1


def test_drop_after_create_creates_the_job_once(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    jobs = sandbox.stats()["jobs"]
    posts = requests_seen(sandbox, f"POST {GENERATIONS}")
    client.post("/_sandbox/faults", json={"kind": "drop_after_create", "method": "POST"})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(GENERATIONS, json=VALID)
    assert sandbox.stats()["jobs"] == jobs + 1  # the outcome-unknown case: it was created
    assert requests_seen(sandbox, f"POST {GENERATIONS}") == posts + 1
    assert client.post(GENERATIONS, json=VALID).status_code == 200  # the connection recovers


def test_delay_causes_a_read_timeout(sandbox: SandboxServer, client: httpx.Client) -> None:
    job_id = create(client)
    sandbox.faults.add("delay", method="GET", seconds=0.5)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{GENERATIONS}/{job_id}", timeout=0.1)
    assert time.monotonic() - started < 0.4
    assert job(client, job_id)["id"] == job_id


def _drain(response: httpx.Response, into: bytearray) -> None:
    for chunk in response.iter_raw():
        into += chunk


@pytest.mark.parametrize(("start", "expected_length"), [(0, 1000), (400, 600)])
def test_cut_download_stops_at_the_offset(
    sandbox: SandboxServer,
    client: httpx.Client,
    finished_job: str,
    start: int,
    expected_length: int,
) -> None:
    data = asset_bytes("16x9.mp4")
    sandbox.faults.add("cut", at=1000)
    received = bytearray()
    headers = {"Range": f"bytes={start}-"} if start else {}
    with client.stream("GET", f"/files/{finished_job}/0.mp4", headers=headers) as response:
        assert response.headers["Content-Length"] == str(len(data) - start)  # promises it all
        with pytest.raises(httpx.RemoteProtocolError):
            _drain(response, received)
    assert bytes(received) == data[start:1000]
    assert len(received) == expected_length


def test_ignore_range(sandbox: SandboxServer, client: httpx.Client, finished_job: str) -> None:
    sandbox.faults.add("ignore_range")
    response = client.get(f"/files/{finished_job}/0.mp4", headers={"Range": "bytes=100-"})
    assert response.status_code == 200
    assert response.content == asset_bytes("16x9.mp4")


def test_change_etag(sandbox: SandboxServer, client: httpx.Client, finished_job: str) -> None:
    url = f"/files/{finished_job}/0.mp4"
    etag = client.head(url).headers["ETag"]
    sandbox.faults.add("change_etag", method="GET")
    response = client.get(url, headers={"Range": "bytes=100-", "If-Range": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert client.head(url).headers["ETag"] == etag  # one use only


def test_wrong_offset(sandbox: SandboxServer, client: httpx.Client, finished_job: str) -> None:
    data = asset_bytes("16x9.mp4")
    sandbox.faults.add("wrong_offset")
    response = client.get(f"/files/{finished_job}/0.mp4", headers={"Range": "bytes=100-"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 0-{len(data) - 1}/{len(data)}"
    assert response.content == data


def test_slow_download(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.faults.add("slow", bytes_per_second=10_000)
    started = time.monotonic()
    response = client.get("/files/blob/3000.bin")
    assert time.monotonic() - started >= 0.25
    assert response.content == blob_bytes(3000)


def test_stats_count_each_route(sandbox: SandboxServer, client: httpx.Client) -> None:
    before = client.get("/_sandbox/stats").json()
    job_id = create(client)
    job(client, job_id)
    job(client, job_id)
    after = client.get("/_sandbox/stats").json()
    assert after["jobs"] == before["jobs"] + 1
    for key, added in ((f"POST {GENERATIONS}", 1), (f"GET {GENERATIONS}/{{id}}", 2)):
        assert after["requests"][key] == before["requests"].get(key, 0) + added


# --- life cycle and persistence -------------------------------------------------------------


def test_state_file_keeps_jobs_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state" / "jobs.json"
    config = _config(state_file=state, job_seconds=0.0)
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
        SandboxServer(_config(state_file=state))


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="job_seconds"):
        SandboxConfig(job_seconds=-1)
    with pytest.raises(ValueError, match="port"):
        SandboxConfig(port=70_000)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.2", False), ("::ffff:10.0.0.2", False), ("fe80::1", False), ("nonsense", False)],
)  # fmt: skip
def test_only_loopback_may_shut_down(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_shutdown_endpoint_stops_the_server() -> None:
    server = SandboxServer(_config()).start()
    url = server.url
    runner = threading.Thread(target=server.serve_forever)
    runner.start()
    assert httpx.post(url + "/_sandbox/shutdown").json() == {"stopping": True}
    runner.join(timeout=5)
    assert not runner.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_sandbox/health")


def test_a_stopped_server_can_start_again(receiver: Receiver) -> None:
    server = SandboxServer(_config(job_seconds=0.0))
    server.start()
    server.stop()
    with server, http_client(server.url, AUTH) as http:
        create(http, webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
        _, body = receiver.next_call()  # the webhook thread came back too
        assert json.loads(body)["status"] == "succeeded"


def test_stop_does_not_wait_for_idle_keep_alive_connections() -> None:
    server = SandboxServer(_config()).start()
    with http_client(server.url) as http:
        assert http.get("/_sandbox/health").status_code == 200  # leaves a pooled connection
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
    server.stop()  # idempotent


def _read_line(stream: Any, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output in time"
    line = stream.readline()
    assert isinstance(line, str)
    return line


def test_module_runs_in_the_foreground_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "lumen_cli.sandbox", "--port", "0", "--job-seconds", "0.1"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        line = _read_line(process.stderr, 10.0)
        match = re.fullmatch(r"lumen sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        health = httpx.get(match.group(1) + "/_sandbox/health").json()
        assert health["pid"] == process.pid
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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


# --- webhooks -------------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint on loopback: records each delivery, answers from a script of statuses."""

    def __init__(self, statuses: list[int], port: int = 0) -> None:
        self.statuses = statuses
        self.calls: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.times: list[float] = []  # monotonic arrival of each call
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.times.append(time.monotonic())
                receiver.calls.put((dict(self.headers.items()), body))
                script = receiver.statuses
                status = script.pop(0) if len(script) > 1 else script[0]  # the last one repeats
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def next_call(self, timeout: float = 3.0) -> tuple[dict[str, str], bytes]:
        return self.calls.get(timeout=timeout)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver([200])
    yield hook
    hook.close()


def delivery_of(server: SandboxServer, job_id: str, timeout: float = 3.0) -> dict[str, Any]:
    """The delivery record of *job_id* once it is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in server.deliveries():
            if record["job_id"] == job_id and record["done"]:
                return record
        time.sleep(0.01)
    raise AssertionError(f"no finished delivery for {job_id}: {server.deliveries()}")


def test_webhook_is_signed_and_delivered(
    sandbox: SandboxServer, client: httpx.Client, receiver: Receiver
) -> None:
    job_id = create(client, webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    headers, body = receiver.next_call()
    assert verify(SIGNING_KEY, body, headers[SIGNATURE_HEADER])
    assert not verify("other", body, headers[SIGNATURE_HEADER])
    assert headers["Content-Type"] == "application/json"
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 5
    document = json.loads(body)
    assert document == {
        "id": job_id,
        "status": "succeeded",
        "data": [{"url": f"{sandbox.url}/files/{job_id}/0.mp4"}],
    }
    assert body == json.dumps(document, separators=(",", ":")).encode()  # compact
    record = delivery_of(sandbox, job_id)
    assert (record["attempts"], record["last_status"], record["delivered"]) == (1, 200, True)
    assert record["url"] == receiver.url
    response = client.get("/_sandbox/deliveries")
    assert any(item["job_id"] == job_id for item in response.json())


def test_webhook_for_a_failed_job(
    sandbox: SandboxServer, client: httpx.Client, receiver: Receiver
) -> None:
    job_id = create(client, "fail", webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    _, body = receiver.next_call()
    assert json.loads(body) == {
        "id": job_id,
        "status": "failed",
        "error": {"message": "generation failed (sandbox: prompt asked to fail)"},
    }


def test_webhook_retries_after_503(sandbox: SandboxServer, client: httpx.Client) -> None:
    hook = Receiver([503, 503, 200])
    try:
        job_id = create(client, webhook_url=hook.url, webhook_secret=SIGNING_KEY)
        bodies = [hook.next_call()[1] for _ in range(3)]
        assert bodies[0] == bodies[1] == bodies[2]
        record = delivery_of(sandbox, job_id)
        assert (record["attempts"], record["last_status"], record["delivered"]) == (3, 200, True)
    finally:
        hook.close()


def test_webhook_4xx_is_not_retried(sandbox: SandboxServer, client: httpx.Client) -> None:
    hook = Receiver([400])
    try:
        job_id = create(client, webhook_url=hook.url, webhook_secret=SIGNING_KEY)
        record = delivery_of(sandbox, job_id)
        assert (record["attempts"], record["last_status"], record["delivered"]) == (1, 400, False)
        assert hook.calls.qsize() == 1
    finally:
        hook.close()


def test_webhook_gives_up_after_all_attempts_when_refused(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job_id = create(client, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret=SIGNING_KEY)
    record = delivery_of(sandbox, job_id)
    assert record["attempts"] == len(BACKOFF) + 1
    assert record["last_status"] is None
    assert "refused" in record["last_error"].lower()
    assert record["delivered"] is False


def test_webhook_retry_reaches_a_receiver_that_comes_up(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(job_seconds=0.0, webhook_backoff=(0.3, 0.3, 0.3, 0.3))
    with SandboxServer(config) as server, http_client(server.url, AUTH) as http:
        job_id = create(
            http, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret=SIGNING_KEY
        )
        time.sleep(0.1)  # the first attempt is refused
        hook = Receiver([200], port=port)
        try:
            _, body = hook.next_call()
            assert json.loads(body)["id"] == job_id
            record = delivery_of(server, job_id)
            assert record["attempts"] >= 2
            assert record["delivered"] is True
        finally:
            hook.close()


def test_delivery_waits_for_a_job_that_has_not_quite_ended(
    clocked: tuple[SandboxServer, FakeClock, httpx.Client], receiver: Receiver
) -> None:
    server, clock, http = clocked
    job_id = create(http, webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    clock.now += 9.5
    # Not ended yet: try again in 0.5 s.
    assert server.store.prepare_delivery(job_id, server.url) == pytest.approx(0.5)
    forever = create(http, "forever", webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    # Only a forced finish ends it.
    assert server.store.prepare_delivery(forever, server.url) is None
    clock.now += 0.5
    delivery = server.store.prepare_delivery(job_id, server.url)
    assert not isinstance(delivery, (float, type(None)))
    assert json.loads(delivery.body)["status"] == "succeeded"


def test_natural_end_does_not_add_attempts_to_a_forced_delivery() -> None:
    hook = Receiver([503, 200])
    config = _config(job_seconds=0.2, webhook_backoff=(0.5,))
    try:
        with SandboxServer(config) as server, http_client(server.url, AUTH) as http:
            job_id = create(http, webhook_url=hook.url, webhook_secret=SIGNING_KEY)
            http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
            record = delivery_of(server, job_id)  # 503 at once, then the retry 0.5 s later
            assert (record["attempts"], record["last_status"]) == (2, 200)
            assert hook.calls.qsize() == 2
            # The job's natural end (0.2 s) must not have triggered the second attempt early.
            assert hook.times[1] - hook.times[0] >= 0.45
    finally:
        hook.close()


def test_forced_finish_delivers_once(
    clocked: tuple[SandboxServer, FakeClock, httpx.Client], receiver: Receiver
) -> None:
    server, _, http = clocked
    job_id = create(http, "forever", webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "cancelled"})
    headers, body = receiver.next_call()
    assert json.loads(body)["status"] == "cancelled"
    assert verify(SIGNING_KEY, body, headers[SIGNATURE_HEADER])
    assert delivery_of(server, job_id)["attempts"] == 1
    with pytest.raises(queue.Empty):
        receiver.next_call(timeout=0.2)
