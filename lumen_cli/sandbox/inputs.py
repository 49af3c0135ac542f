"""Can each input URL of a job be fetched? The sandbox checks before it creates the job.

The real API fetches ``image_url``, ``last_image_url``, ``reference_image_urls`` and
``reference_video_url`` itself; an input it cannot fetch fails the request. The sandbox
checks the same way, within limits that keep it offline and its tests free of a network:

* ``loopback`` (the default): URLs on this machine (``127.0.0.1``, ``::1``, ``localhost``)
  are fetched; other hosts (``https://img.example/1.png``) are taken on trust, unfetched.
* ``all``: every URL is fetched (``--fetch-inputs all``: the sandbox then needs the network).
* ``none``: nothing is fetched.

A file on the sandbox's own file host (``/files/uploads/…``) is looked up in memory. Other
URLs are asked for their first bytes (``Range: bytes=0-63``, a 5 s timeout, no redirects
followed). The input must answer 2xx and start like an image (PNG, JPEG, WebP, GIF) or, for
``reference_video_url``, a video (MP4, MOV, WebM); otherwise the request is answered 400,
naming the field, and no job is created (nothing is billed).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from lumen_cli.media import IMAGE, SNIFF_BYTES, VIDEO, category, names, sniff
from lumen_cli.net import is_loopback, public_url
from lumen_cli.sandbox.files import UploadStore
from lumen_cli.sandbox.jobs import ApiError

FETCH_TIMEOUT = 5.0
UPLOADS_PATH = "/files/uploads/"


def check_inputs(spec: Mapping[str, Any], *, mode: str, own_url: str, uploads: UploadStore) -> None:
    """Raise ``ApiError`` 400 for the first input of *spec* that cannot be fetched, or is
    not the image or video its field asks for (see the module docstring for *mode*)."""
    if mode == "none":
        return
    for field, url in _inputs(spec):
        parts = urlsplit(url)
        if mode == "loopback" and not is_loopback(parts.hostname or ""):
            continue
        shown = public_url(url)
        if _is_own(parts.netloc, own_url) and parts.path.startswith(UPLOADS_PATH):
            stored = uploads.get(parts.path[len(UPLOADS_PATH) :])
            if stored is None:
                raise ApiError(400, f"{field} could not be fetched: HTTP 404 ({shown})")
            head = stored[0][:SNIFF_BYTES]
        else:
            head = _first_bytes(field, url, shown, loopback_only=mode == "loopback")
        wanted = VIDEO if field == "reference_video_url" else IMAGE
        kind = sniff(head)
        if kind is None or category(kind) != wanted:
            what = "an image" if wanted == IMAGE else "a video"
            raise ApiError(
                400, f"{field} is not {what} ({names(wanted)}): {shown} starts otherwise"
            )


def _inputs(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for field in ("image_url", "last_image_url", "reference_video_url"):
        if spec.get(field):
            yield field, str(spec[field])
    for url in spec.get("reference_image_urls") or []:
        yield "reference_image_urls", str(url)


def _is_own(netloc: str, own_url: str) -> bool:
    return netloc == urlsplit(own_url).netloc


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is then an HTTPError: the input is not fetched elsewhere


def _first_bytes(field: str, url: str, shown: str, *, loopback_only: bool) -> bytes:
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if loopback_only:
        handlers.append(urllib.request.ProxyHandler({}))  # this machine, never through a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 - http(s) only: checked when validated
        url, headers={"Range": f"bytes=0-{SNIFF_BYTES - 1}", "User-Agent": "lumen-sandbox"}
    )
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT) as response:
            return bytes(response.read(SNIFF_BYTES))
    except urllib.error.HTTPError as exc:
        raise ApiError(400, f"{field} could not be fetched: HTTP {exc.code} ({shown})") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ApiError(400, f"{field} could not be fetched: {reason} ({shown})") from None
