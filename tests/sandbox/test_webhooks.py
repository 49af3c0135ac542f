"""Webhook deliveries: signed, retried after 5xx and network errors, once per job."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lumen_cli.sandbox import SandboxServer
from lumen_cli.webhook.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.sandbox.conftest import (
    AUTH,
    BACKOFF,
    SIGNING_KEY,
    Clocked,
    create,
    http_client,
    sandbox_config,
)
from tests.support import Receiver, free_port, wait_for


def delivery_of(server: SandboxServer, job_id: str, timeout: float = 3.0) -> dict[str, Any]:
    """The delivery record of *job_id* once it is done."""

    def finished() -> dict[str, Any] | None:
        records = server.deliveries()
        return next((r for r in records if r["job_id"] == job_id and r["done"]), None)

    wait_for(lambda: finished() is not None, seconds=timeout, what=f"delivery of {job_id}")
    record = finished()
    assert record is not None
    return record


def test_webhook_is_signed_and_delivered(
    sandbox: SandboxServer, client: httpx.Client, receiver: Receiver
) -> None:
    job_id = create(client, webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    call = receiver.next_call()
    headers, body = call.headers, call.body
    assert call.path == "/hook"
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
    body = receiver.next_call().body
    assert json.loads(body) == {
        "id": job_id,
        "status": "failed",
        "error": {"message": "generation failed (sandbox: prompt asked to fail)"},
    }


def test_webhook_retries_after_503(sandbox: SandboxServer, client: httpx.Client) -> None:
    with Receiver([503, 503, 200]) as hook:
        job_id = create(client, webhook_url=hook.url, webhook_secret=SIGNING_KEY)
        bodies = [hook.next_call().body for _ in range(3)]
        assert bodies[0] == bodies[1] == bodies[2]
        record = delivery_of(sandbox, job_id)
        assert (record["attempts"], record["last_status"], record["delivered"]) == (3, 200, True)


def test_webhook_4xx_is_not_retried(sandbox: SandboxServer, client: httpx.Client) -> None:
    with Receiver([400]) as hook:
        job_id = create(client, webhook_url=hook.url, webhook_secret=SIGNING_KEY)
        record = delivery_of(sandbox, job_id)
        assert (record["attempts"], record["last_status"], record["delivered"]) == (1, 400, False)
        assert len(hook.received) == 1


def test_webhook_gives_up_after_all_attempts_when_refused(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    port = free_port()  # nothing listens there
    job_id = create(client, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret=SIGNING_KEY)
    record = delivery_of(sandbox, job_id)
    assert record["attempts"] == len(BACKOFF) + 1
    assert record["last_status"] is None
    assert "refused" in record["last_error"].lower()
    assert record["delivered"] is False


def test_webhook_retry_reaches_a_receiver_that_comes_up(tmp_path: Path) -> None:
    port = free_port()
    config = sandbox_config(job_seconds=0.0, webhook_backoff=(0.3, 0.3, 0.3, 0.3))
    with SandboxServer(config) as server, http_client(server.url, AUTH) as http:
        job_id = create(
            http, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret=SIGNING_KEY
        )
        time.sleep(0.1)  # the first attempt is refused
        with Receiver([200], port=port) as hook:
            body = hook.next_call().body
            assert json.loads(body)["id"] == job_id
            record = delivery_of(server, job_id)
            assert record["attempts"] >= 2
            assert record["delivered"] is True


def test_delivery_waits_for_a_job_that_has_not_quite_ended(
    clocked: Clocked, receiver: Receiver
) -> None:
    server, clock, http = clocked
    job_id = create(http, webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    clock.advance(9.5)
    # Not ended yet: try again in 0.5 s.
    assert server.store.prepare_delivery(job_id, server.url) == pytest.approx(0.5)
    forever = create(http, "forever", webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    # Only a forced finish ends it.
    assert server.store.prepare_delivery(forever, server.url) is None
    clock.advance(0.5)
    delivery = server.store.prepare_delivery(job_id, server.url)
    assert not isinstance(delivery, (float, type(None)))
    assert json.loads(delivery.body)["status"] == "succeeded"


def test_natural_end_does_not_add_attempts_to_a_forced_delivery() -> None:
    config = sandbox_config(job_seconds=0.2, webhook_backoff=(0.5,))
    with Receiver([503, 200]) as hook:
        with SandboxServer(config) as server, http_client(server.url, AUTH) as http:
            job_id = create(http, webhook_url=hook.url, webhook_secret=SIGNING_KEY)
            http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
            record = delivery_of(server, job_id)  # 503 at once, then the retry 0.5 s later
            assert (record["attempts"], record["last_status"]) == (2, 200)
            assert len(hook.received) == 2
            # The job's natural end (0.2 s) must not have triggered the second attempt early.
            assert hook.received[1].at - hook.received[0].at >= 0.45


def test_forced_finish_delivers_once(clocked: Clocked, receiver: Receiver) -> None:
    server, _, http = clocked
    job_id = create(http, "forever", webhook_url=receiver.url, webhook_secret=SIGNING_KEY)
    http.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "cancelled"})
    call = receiver.next_call()
    assert json.loads(call.body)["status"] == "cancelled"
    assert verify(SIGNING_KEY, call.body, call.headers[SIGNATURE_HEADER])
    assert delivery_of(server, job_id)["attempts"] == 1
    with pytest.raises(queue.Empty):
        receiver.next_call(timeout=0.2)
