"""Fixtures and helpers for the sandbox's tests: a sandbox over real HTTP on 127.0.0.1.

``sandbox`` here overrides the session-wide one of ``tests/conftest.py`` for this package, with
quicker jobs and webhook retries; that conftest's autouse fixture clears its faults around
every test.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lumen_cli.clock import FakeClock
from lumen_cli.sandbox import SANDBOX_KEY, SandboxConfig, SandboxServer
from tests.support import JOBS_PATH, Receiver

AUTH = {"Authorization": f"Bearer {SANDBOX_KEY}"}
JOB_SECONDS = 0.2
BACKOFF = (0.02, 0.02, 0.02, 0.02)
GENERATIONS = JOBS_PATH
SIGNING_KEY = "hook-k3y-ü"
VALID = {"model": "seedance-2", "prompt": "a cat"}
# Loading the CA bundle costs ~30 ms per client; every client here shares one (unused) context.
TLS = ssl.create_default_context()

Clocked = tuple[SandboxServer, FakeClock, httpx.Client]


def sandbox_config(**changes: Any) -> SandboxConfig:
    """The configuration of these tests' sandboxes: quick jobs, quick webhook retries."""
    settings: dict[str, Any] = {
        "port": 0,
        "job_seconds": JOB_SECONDS,
        "webhook_backoff": BACKOFF,
        "webhook_timeout": 2.0,
    }
    settings.update(changes)
    return SandboxConfig(**settings)


@pytest.fixture(scope="package")
def sandbox() -> Iterator[SandboxServer]:
    """One server for the package (starting one per test would cost more than the tests)."""
    with SandboxServer(sandbox_config()) as server:
        yield server


def http_client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=headers, timeout=5.0, verify=TLS)


@pytest.fixture(scope="package")
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An authenticated client, shared: its pooled keep-alive connections are exercised too."""
    with http_client(sandbox.url, AUTH) as http:
        yield http


@pytest.fixture(scope="package")
def anonymous(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with http_client(sandbox.url) as http:
        yield http


@pytest.fixture
def clocked() -> Iterator[Clocked]:
    """A server whose jobs take 10 fake seconds, with the clock that drives them."""
    clock = FakeClock()
    with (
        SandboxServer(sandbox_config(job_seconds=10.0), clock=clock) as server,
        http_client(server.url, AUTH) as http,
    ):
        yield server, clock, http


@pytest.fixture(scope="package")
def finished_job(sandbox: SandboxServer) -> str:
    """A succeeded 16:9 job with two result files."""
    with http_client(sandbox.url, AUTH) as http:
        job_id = create(http, n=2)
        wait_terminal(http, job_id)
    return job_id


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint that accepts every delivery."""
    with Receiver([200]) as hook:
        yield hook


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
