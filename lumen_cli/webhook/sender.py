"""Sending deliveries: ``lumen webhook send`` (a signed test event) and the listener's
``--forward-to`` (the raw body and its signature headers, passed on unchanged).

Both POST once through the one transport (``api/transport.py``): no key, no redirects (the
API does not follow them either), credential headers stripped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lumen_cli.errors import Unavailable, describe_exception
from lumen_cli.webhook.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

TIMEOUT = 10.0  # seconds for a handler to answer a delivery


@dataclass(frozen=True)
class Answer:
    """What a handler answered to a delivery."""

    status: int
    reason: str
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Sender:
    """POSTs deliveries over one keyless client; use as a context manager."""

    def __init__(self, *, timeout: float = TIMEOUT) -> None:
        self._timeout = timeout
        self._http: httpx.Client | None = None

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST *body* to *url* once; ``Unavailable`` when the handler cannot be reached."""
        import httpx

        if self._http is None:
            from lumen_cli.api.transport import new_client

            self._http = new_client(read_timeout=self._timeout)
        try:
            response = self._http.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"could not deliver to {url}: {describe_exception(exc)}",
                hint="Is the handler running and listening on that address?",
            ) from None
        return Answer(response.status_code, response.reason_phrase, response.text)

    def send_signed(self, url: str, secret: str, body: bytes, *, timestamp: int) -> Answer:
        """POST *body* signed as the API signs it, with *timestamp* as its send time."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            TIMESTAMP_HEADER: str(timestamp),
        }
        return self.post(url, body, headers)
