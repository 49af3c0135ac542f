"""One answer, shared by every part of lumen, to "is this address on this machine only?"."""

from __future__ import annotations

import ipaddress


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


def bound_url(address: tuple[object, ...]) -> str:
    """``http://HOST:PORT`` for a bound server *address*; wildcard hosts read as loopback."""
    host, port = str(address[0]), int(str(address[1]))
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
