"""The sandbox's own file host: where ``lumen --sandbox`` puts local input files.

``PUT /uploads/{sha256}{ext}`` stores a file (the sandbox checks the name against the bytes)
and answers its URL, ``/files/uploads/{sha256}{ext}``, which ``HEAD`` and ``GET`` serve for as
long as the sandbox runs. Nothing here holds the API key: a file host is another host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lumen_cli.errors import BadInput, UploadFailed, describe_exception
from lumen_cli.net import is_http_url
from lumen_cli.text import shorten

if TYPE_CHECKING:
    import httpx

UPLOAD_PATH = "/uploads/"
FILES_PATH = "/files/uploads/"
PUT_TIMEOUT = 120.0  # seconds to send one file to a sandbox on this machine


class SandboxFileHost:
    """Stores files on the sandbox at *base_url*; use as a context manager (or ``close``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http: httpx.Client | None = None

    def __enter__(self) -> SandboxFileHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def url_of(self, name: str) -> str:
        return f"{self.base_url}{FILES_PATH}{name}"

    def find(self, name: str) -> str | None:
        """The URL of file *name* if the sandbox holds it (None too when none answers)."""
        import httpx

        try:
            response = self._client().head(self.url_of(name))
        except httpx.HTTPError:
            return None
        return self.url_of(name) if response.status_code == 200 else None

    def put(self, name: str, chunks: Iterable[bytes], size: int) -> str:
        """Store *size* bytes (given as *chunks*) as *name*; returns the URL that serves them."""
        import httpx

        try:
            response = self._client().put(
                f"{self.base_url}{UPLOAD_PATH}{name}",
                content=chunks,
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            )
        except httpx.HTTPError as exc:
            raise UploadFailed(
                f"could not send the file to the sandbox at {self.base_url}: "
                f"{describe_exception(exc)}"
            ) from None
        if response.status_code == 413:
            raise BadInput(f"the sandbox refused the file: {_message(response)}")
        if response.status_code not in (200, 201):
            raise UploadFailed(
                f"the sandbox answered HTTP {response.status_code} to the upload: "
                f"{_message(response)}"
            )
        try:
            url = response.json().get("url")
        except (ValueError, AttributeError):
            url = None
        if not isinstance(url, str) or not is_http_url(url):
            raise UploadFailed("the sandbox's answer to the upload holds no URL")
        return url

    def _client(self) -> httpx.Client:
        if self._http is None:
            from lumen_cli.api.transport import new_client

            self._http = new_client(read_timeout=PUT_TIMEOUT, max_connections=4)
        return self._http


def _message(response: httpx.Response) -> str:
    from lumen_cli.api.models import error_message_from_body

    return shorten(error_message_from_body(response.content, response.reason_phrase), 200)
