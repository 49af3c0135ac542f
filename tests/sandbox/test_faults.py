"""Injected faults, armed in-process or over HTTP: status, garbage, drops, delays, downloads,
rate limits."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from lumen_cli.clock import FakeClock
from lumen_cli.sandbox import SandboxServer
from lumen_cli.sandbox.files import asset_bytes, blob_bytes
from tests.sandbox.conftest import (
    AUTH,
    GENERATIONS,
    VALID,
    Clocked,
    create,
    error_of,
    http_client,
    job,
    requests_seen,
    sandbox_config,
)


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
        {"kind": "rate_limit", "per_second": 0},
        {"kind": "rate_limit", "per_second": 1.5},
        {"kind": "rate_limit", "count": 3},
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


# --- rate limits (a standing fault, measured by the sandbox's clock) --------------------------


def test_rate_limit_refuses_submits_beyond_the_limit_per_second(clocked: Clocked) -> None:
    server, clock, http = clocked
    armed = http.post("/_sandbox/faults", json={"kind": "rate_limit", "per_second": 2})
    (limit,) = armed.json()["faults"]
    assert (limit["kind"], limit["per_second"]) == ("rate_limit", 2)
    assert (limit["method"], limit["path"]) == ("POST", GENERATIONS)  # submits, by default
    jobs, posts = server.stats()["jobs"], requests_seen(server, f"POST {GENERATIONS}")

    first = create(http)
    create(http)
    refused = http.post(GENERATIONS, json=VALID)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    error = error_of(refused)
    assert error["type"] == "rate_limit_error"
    assert "2 per second" in error["message"]
    assert server.stats()["jobs"] == jobs + 2  # the refused submit created nothing...
    assert requests_seen(server, f"POST {GENERATIONS}") == posts + 3  # ...and was counted
    assert job(http, first)["status"] == "queued"  # reads are not limited

    clock.advance(0.5)
    assert http.post(GENERATIONS, json=VALID).status_code == 429  # still within the second
    clock.advance(0.5)
    # A second after the first two, two more go through: the refused ones did not count.
    create(http)
    create(http)
    assert http.post(GENERATIONS, json=VALID).status_code == 429
    assert server.stats()["jobs"] == jobs + 4
    assert requests_seen(server, f"POST {GENERATIONS}") == posts + 7
    assert len(server.faults) == 1  # never used up


def test_rate_limit_window_slides(clocked: Clocked) -> None:
    server, clock, http = clocked
    server.faults.add("rate_limit", per_second=2)
    create(http)
    clock.advance(0.6)
    create(http)
    clock.advance(0.6)  # the first submit left the window, the second has not
    create(http)
    assert http.post(GENERATIONS, json=VALID).status_code == 429


def test_rate_limit_matches_method_and_path(clocked: Clocked) -> None:
    server, _, http = clocked
    job_id = create(http)
    server.faults.add("rate_limit", method="GET", path=GENERATIONS, per_second=1)
    assert http.get(f"{GENERATIONS}/{job_id}").status_code == 200
    assert http.get(f"{GENERATIONS}/{job_id}").status_code == 429
    assert http.get("/files/blob/10.bin").status_code == 200  # another path
    create(http)  # another method
    assert http.get("/_sandbox/health").status_code == 200  # never limited


def test_submit_rate_limit_from_the_config() -> None:
    clock = FakeClock()
    config = sandbox_config(submit_rate_limit=1)
    with SandboxServer(config, clock=clock) as server, http_client(server.url, AUTH) as http:
        (limit,) = server.faults.snapshot()
        assert (limit["kind"], limit["method"], limit["per_second"]) == ("rate_limit", "POST", 1)
        create(http)
        refused = http.post(GENERATIONS, json=VALID)
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
        clock.advance(1.0)
        create(http)
        assert server.stats()["jobs"] == 2
        http.delete("/_sandbox/faults")  # the switch is a fault like the others
        create(http)
        create(http)
