"""Webhook signatures, exactly as the vendor's page defines them, and the listener.

Signature = ``"sha256=" + hex(HMAC-SHA256(secret, raw_body))``, sent in ``X-Lumen-Signature``.
Always verify the raw bytes received: re-serialising JSON changes them.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Lumen-Signature"
TIMESTAMP_HEADER = "X-Lumen-Timestamp"
_PREFIX = "sha256="


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
    if isinstance(signature_header, str):
        try:
            received = signature_header.strip().encode("ascii")
        except UnicodeEncodeError:
            return False
    else:
        received = signature_header.strip()
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, received)
