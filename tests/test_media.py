"""Telling images and videos apart by their first bytes (lumen and the sandbox share it)."""

from __future__ import annotations

import pytest

from lumen_cli import media
from lumen_cli.sandbox.files import asset_bytes
from tests.support import GIF, JPEG, MOV, PNG, WEBM, WEBP


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (PNG, "png"),
        (JPEG, "jpeg"),
        (GIF, "gif"),
        (b"GIF87a" + bytes(10), "gif"),
        (WEBP, "webp"),
        (asset_bytes("16x9.mp4")[: media.SNIFF_BYTES], "mp4"),
        (MOV, "mov"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "mov"),
        (WEBM, "webm"),
    ],
)
def test_each_kind_is_told_by_its_first_bytes(head: bytes, kind: str) -> None:
    assert media.sniff(head) == kind


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, world",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",  # EBML, but MKV
        b"\x89PNG",  # cut short
        b"%PDF-1.7",
    ],
)
def test_other_bytes_are_no_kind(head: bytes) -> None:
    assert media.sniff(head) is None


def test_kinds_read_well_in_messages() -> None:
    assert media.describe("png") == "a PNG image"
    assert media.describe("mp4") == "an MP4 video"
    assert media.names(media.IMAGE) == "PNG, JPEG, WebP or GIF"
    assert media.names(media.VIDEO) == "MP4, MOV or WebM"
    assert media.kind_of_extension("ab12.JPG") == "jpeg"
    assert media.kind_of_extension("notes.txt") is None
