"""Result file names: templates, slugs and extensions never leave the chosen directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumen_cli.download.names import output_paths, slugify, url_extension
from lumen_cli.errors import BadInput


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
