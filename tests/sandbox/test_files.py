"""Result files: real MP4s, ranges, If-Range, HEAD, deterministic blobs."""

from __future__ import annotations

import re

import httpx
import pytest

from lumen_cli.sandbox.files import RangeNotSatisfiable, asset_bytes, blob_bytes, parse_range
from tests.sandbox.conftest import (
    create,
    error_of,
)


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
