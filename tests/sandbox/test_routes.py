"""The sandbox's HTTP behaviour: routing, keep-alive, request bodies, keys, stats."""

from __future__ import annotations

import http.client
import json
import os

import httpx
import pytest

from lumen_cli import __version__
from lumen_cli.net import is_loopback
from lumen_cli.sandbox import SandboxServer
from tests.sandbox.conftest import (
    AUTH,
    GENERATIONS,
    create,
    error_of,
    job,
)
from tests.support import raw_exchange


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
    answer = raw_exchange(sandbox.port, request)  # returns only because the server hangs up
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


def test_stats_count_each_route(sandbox: SandboxServer, client: httpx.Client) -> None:
    before = client.get("/_sandbox/stats").json()
    job_id = create(client)
    job(client, job_id)
    job(client, job_id)
    after = client.get("/_sandbox/stats").json()
    assert after["jobs"] == before["jobs"] + 1
    for key, added in ((f"POST {GENERATIONS}", 1), (f"GET {GENERATIONS}/{{id}}", 2)):
        assert after["requests"][key] == before["requests"].get(key, 0) + added


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.2", False), ("::ffff:10.0.0.2", False), ("fe80::1", False), ("nonsense", False)],
)  # fmt: skip
def test_only_loopback_may_shut_down(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback
