"""The sandbox's own file host (``PUT /uploads/…``, ``/files/uploads/…``) and its check that
each input URL of a job can be fetched, on loopback only unless asked."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lumen_cli.sandbox import SandboxServer
from lumen_cli.sandbox.files import MAX_UPLOAD, UploadStore, asset_bytes
from tests.sandbox.conftest import (
    AUTH,
    GENERATIONS,
    create,
    error_of,
    http_client,
    requests_seen,
    sandbox_config,
)
from tests.support import PNG, FileHost, raw_exchange, status_of

VIDEO = asset_bytes("16x9.mp4")


def put(client: httpx.Client, data: bytes, ext: str = ".png") -> httpx.Response:
    return client.put(f"/uploads/{hashlib.sha256(data).hexdigest()}{ext}", content=data)


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[FileHost]:
    """A file host on loopback holding ``cat.png``, ``clip.mp4`` and ``notes.txt``."""
    (tmp_path / "cat.png").write_bytes(PNG)
    (tmp_path / "clip.mp4").write_bytes(VIDEO)
    (tmp_path / "notes.txt").write_bytes(b"not a picture")
    with FileHost(tmp_path) as host:
        yield host


def test_a_file_put_is_served_back_with_ranges(anonymous: httpx.Client) -> None:
    stored = put(anonymous, VIDEO, ".mp4")
    assert stored.status_code == 201, stored.text
    url = stored.json()["url"]
    assert url.endswith(f"/files/uploads/{hashlib.sha256(VIDEO).hexdigest()}.mp4")
    assert stored.json()["size"] == len(VIDEO)
    whole = anonymous.get(url)
    assert whole.content == VIDEO
    assert whole.headers["Content-Type"] == "video/mp4"
    part = anonymous.get(url, headers={"Range": "bytes=0-7"})
    assert (part.status_code, part.content) == (206, VIDEO[:8])
    assert anonymous.head(url).status_code == 200
    assert anonymous.get("/files/uploads/" + "0" * 64 + ".png").status_code == 404


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/uploads/cat.png", "upload as /uploads/{sha256}{ext}"),
        ("/uploads/" + hashlib.sha256(PNG).hexdigest() + ".exe", "upload as"),
        ("/uploads/" + "0" * 64 + ".png", "the body's sha256 is not the one in the name"),
    ],
)
def test_an_upload_must_be_named_by_its_content(
    anonymous: httpx.Client, path: str, message: str
) -> None:
    answer = anonymous.put(path, content=PNG)
    assert answer.status_code == 400
    assert message in error_of(answer)["message"]


def test_a_body_over_the_cap_is_refused_before_it_is_read(sandbox: SandboxServer) -> None:
    name = "0" * 64 + ".mp4"
    head = f"PUT /uploads/{name} HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_UPLOAD + 1}\r\n\r\n"
    answer = raw_exchange(sandbox.port, head.encode())  # no body follows: nothing waits for it
    assert status_of(answer) == 413


def test_the_store_keeps_the_newest_files_within_its_cap() -> None:
    store = UploadStore(total=10)
    store.put("a", b"123456", 1.0)
    store.put("b", b"7890", 2.0)
    store.put("c", b"xyz", 3.0)  # 13 bytes in all: the oldest goes
    assert store.get("a") is None
    assert store.get("b") == (b"7890", 2.0)
    assert len(store) == 2


def test_inputs_on_this_machine_are_fetched_before_the_job_is_made(
    client: httpx.Client, hosted: FileHost, sandbox: SandboxServer
) -> None:
    jobs = sandbox.stats()["jobs"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"image_url": f"{hosted.url}/missing.png"}, "image_url could not be fetched: HTTP 404"),
        ({"image_url": f"{hosted.url}/notes.txt"}, "image_url is not an image"),
        ({"reference_image_urls": [f"{hosted.url}/cat.png", f"{hosted.url}/clip.mp4"]},
         "reference_image_urls is not an image"),
        ({"reference_video_url": f"{hosted.url}/cat.png"}, "reference_video_url is not a video"),
        ({"last_image_url": f"{sandbox.url}/files/uploads/{'1' * 64}.png"}, "HTTP 404"),
        ({"image_url": f"http://127.0.0.1:{_closed_port()}/cat.png"}, "could not be fetched"),
    ]  # fmt: skip
    for fields, message in cases:
        answer = client.post(GENERATIONS, json={"model": "seedance-2", "prompt": "x", **fields})
        assert answer.status_code == 400, fields
        assert message in error_of(answer)["message"]
    assert sandbox.stats()["jobs"] == jobs  # nothing was created, nothing billed

    create(client, image_url=f"{hosted.url}/cat.png?X-Amz-Signature=abc")
    create(client, reference_video_url=f"{hosted.url}/clip.mp4", image_url=f"{hosted.url}/cat.png")
    uploaded = put(client, PNG).json()["url"]
    create(client, image_url=uploaded)  # the sandbox's own file host, looked up in memory


def test_other_hosts_are_not_fetched_unless_asked(client: httpx.Client) -> None:
    create(client, image_url="https://img.example/1.png")  # no network: taken on trust
    with (
        SandboxServer(sandbox_config(fetch_inputs="all")) as strict,
        http_client(strict.url, AUTH) as asking,
    ):
        other = _non_loopback_host()
        answer = asking.post(
            GENERATIONS,
            json={"model": "seedance-2", "prompt": "x", "image_url": f"http://{other}:9/x.png"},
        )
        assert answer.status_code == 400
        assert "image_url could not be fetched" in error_of(answer)["message"]
    with (
        SandboxServer(sandbox_config(fetch_inputs="none")) as trusting,
        http_client(trusting.url, AUTH) as sending,
    ):
        create(sending, image_url=f"http://127.0.0.1:{_closed_port()}/x.png")
    with pytest.raises(ValueError, match="fetch_inputs must be one of"):
        sandbox_config(fetch_inputs="some")


def test_uploads_and_fetches_are_counted(sandbox: SandboxServer, anonymous: httpx.Client) -> None:
    before = requests_seen(sandbox, "PUT /uploads/{name}")
    put(anonymous, b"GIF89a" + b"counted")
    assert requests_seen(sandbox, "PUT /uploads/{name}") == before + 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _non_loopback_host() -> str:
    """An address of this machine that is not loopback (nothing of ours listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source
            address = str(probe.getsockname()[0])
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no address besides loopback")
    return address
