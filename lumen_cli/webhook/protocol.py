"""The webhook wire protocol, exactly as the vendor's page defines it.

Signature = ``"sha256=" + hex(HMAC-SHA256(secret, raw_body))``, sent in ``X-Lumen-Signature``,
with the send time in ``X-Lumen-Timestamp``. Always verify the raw bytes received:
re-serialising JSON changes them. This module is all the sandbox takes from the CLI side,
so it stays small and imports nothing of lumen's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

SIGNATURE_HEADER = "X-Lumen-Signature"
TIMESTAMP_HEADER = "X-Lumen-Timestamp"
_PREFIX = "sha256="
_ASCII_SPACE = " \t\r\n\x0b\x0c"  # what bytes.strip() removes
_TIMESTAMP = re.compile(r"[0-9]{1,15}")  # ASCII digits only: "²".isdigit() is True


def sign(secret: str, body: bytes) -> str:
    """Return the ``X-Lumen-Signature`` header value for *body*."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(secret: str, body: bytes, signature_header: str | bytes | None) -> bool:
    """True only when *signature_header* is the exact signature of *body*.

    Never raises: a missing, non-ASCII, truncated or malformed header is simply invalid.
    The comparison is over bytes and takes constant time.
    """
    if not signature_header or not secret:
        return False
    try:
        # Only ASCII whitespace is trimmed (as HTTP does): str.strip() would also drop
        # U+00A0 and friends, and then a header that is not the signature would pass.
        if isinstance(signature_header, str):
            received = signature_header.strip(_ASCII_SPACE).encode("ascii")
        else:
            received = signature_header.strip()
        expected = sign(secret, body).encode("ascii")
    except UnicodeEncodeError:  # a non-ASCII header, or a secret with lone surrogates
        return False
    return hmac.compare_digest(expected, received)


def check_timestamp(header: str | bytes | None, now: float, tolerance: float) -> str | None:
    """The reason *header* (``X-Lumen-Timestamp``) is unacceptable at *now*, or None if it is fine.

    A tolerance of 0 (or less) switches the check off. Otherwise the header must be a Unix time
    in whole seconds, no more than *tolerance* seconds before or after *now*.
    """
    if tolerance <= 0:
        return None
    if isinstance(header, bytes):
        try:
            header = header.decode("ascii")
        except UnicodeDecodeError:
            return f"{TIMESTAMP_HEADER} is not an integer"
    if header is None or not header.strip():
        return f"{TIMESTAMP_HEADER} is missing"
    text = header.strip()
    if not _TIMESTAMP.fullmatch(text):
        return f"{TIMESTAMP_HEADER} is not an integer"
    skew = now - int(text)
    if skew > tolerance:
        return f"{TIMESTAMP_HEADER} is {skew:.0f} s old (tolerance {tolerance:g} s)"
    if -skew > tolerance:
        return f"{TIMESTAMP_HEADER} is {-skew:.0f} s in the future (tolerance {tolerance:g} s)"
    return None


def sample_event(
    job_id: str, status: str, video_url: str | None = None, *, test: bool = True
) -> bytes:
    """A job event body shaped like the API's, for ``lumen webhook send``.

    ``"test": true`` (signed with the rest) tells lumen's own listener not to record it.
    """
    payload: dict[str, Any] = {"id": job_id, "status": status}
    if test:
        payload["test"] = True
    if status == "succeeded":
        payload["data"] = [{"url": video_url or f"https://video.example/{job_id}.mp4"}]
    elif status in ("failed", "cancelled"):
        payload["error"] = {"message": f"test delivery: generation {status}"}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
