"""Small answers about addresses and URLs, shared by every part of lumen (the sandbox too)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from lumen_cli.errors import BadInput


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (IPv4, IPv6, IPv4-mapped IPv6)."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def is_http_url(value: object) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" in the host, or a bad port
        return False
    return parts.scheme in ("http", "https") and bool(host)


def public_url(url: str) -> str:
    """*url* as it may be shown or kept beside a file: scheme, host, port and path only.

    A user name and password, a signed query (``?token=…``) and a fragment are dropped.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(value: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL, as libpq reads them."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


def hide_password(url: str) -> str:
    """*url* as it may be shown: its password, in the user part or a ``password=``
    parameter, replaced by ``***`` (the rest is kept: it says which server and database)."""
    import re

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query, flags=re.IGNORECASE)
    return parts._replace(netloc=netloc, query=query).geturl()


def check_http_url(what: str, value: str, *, hint: str | None = None) -> str:
    """*value* if it is an http(s) URL; else ``BadInput`` naming *what* (a flag, a field)."""
    if not is_http_url(value):
        raise BadInput(f"{what} must be an http(s) URL, got {value!r}", hint=hint)
    return value


def bound_url(address: tuple[object, ...]) -> str:
    """``http://HOST:PORT`` for a bound server *address*; wildcard hosts read as loopback."""
    host, port = str(address[0]), int(str(address[1]))
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
