"""``NAME.mp4.json``: what made a video, where it came from, and its checksum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lumen_cli.fsutil import atomic_write

SIDECAR_SUFFIX = ".json"  # NAME.mp4.json: never collides with a video called NAME.json


def sidecar_path(video: Path) -> Path:
    """``NAME.mp4`` -> ``NAME.mp4.json``."""
    return video.with_name(video.name + SIDECAR_SUFFIX)


def write_sidecar(video: Path, document: dict[str, Any]) -> Path:
    """Write *document* beside *video*, atomically; returns the sidecar's path."""
    path = sidecar_path(video)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, text.encode("utf-8"), mode=0o644)
    return path
