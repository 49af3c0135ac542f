"""Job requests: the vendor's validation rules, and a job's life from queued to its end."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from lumen_cli.sandbox import SandboxServer
from lumen_cli.sandbox.jobs import ApiError, validate_generation
from tests.sandbox.conftest import (
    GENERATIONS,
    VALID,
    Clocked,
    create,
    error_of,
    job,
    wait_terminal,
)


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
    clocked: Clocked,
) -> None:
    _, clock, http = clocked
    job_id = create(http)
    assert job(http, job_id)["status"] == "queued"
    clock.advance(2.5)  # past 20% of the 10 s
    processing = job(http, job_id)
    assert processing["status"] == "processing"
    assert "data" not in processing
    assert "error" not in processing
    clock.advance(7.6)
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
    clocked: Clocked, prompt: str, status: str, message: str
) -> None:
    _, clock, http = clocked
    job_id = create(http, prompt)
    clock.advance(10)
    document = job(http, job_id)
    assert document["status"] == status
    assert document["error"] == {"message": message}
    assert "data" not in document


def test_forever_jobs_stay_processing_until_finished(
    clocked: Clocked,
) -> None:
    server, clock, http = clocked
    job_id = create(http, "loop forever")
    clock.advance(86_400)
    assert job(http, job_id)["status"] == "processing"
    finished = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
    assert finished.json()["status"] == "succeeded"
    assert job(http, job_id)["data"][0]["url"] == f"{server.url}/files/{job_id}/0.mp4"


def test_finish_endpoint_rules(clocked: Clocked) -> None:
    _, clock, http = clocked
    job_id = create(http)
    bad = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "done"})
    assert bad.status_code == 400
    failed = http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "failed"})
    assert failed.json()["error"]["message"].startswith("generation failed (sandbox: forced")
    clock.advance(100)  # a forced status does not change when the natural end passes
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
