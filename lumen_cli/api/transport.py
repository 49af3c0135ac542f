"""The one place an ``httpx.Client`` is built: for the API, downloads, webhook sends and forwards.

Every client gets the same User-Agent, the same timeout policy, no cookie jar, and the same
answer about the environment: proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
``NO_PROXY``) and CA bundles (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) are honoured, as curl and
gh do, except that loopback addresses are always reached directly: a key sent over plain
http to 127.0.0.1 never passes through a proxy. Every request can be given a deadline that
bounds it whole, however slowly a server trickles (``api/network.py``).

Credentials never cross hosts: a client that holds the API key never follows a redirect,
and a client without one strips every credential header on every hop (redirects included).
"""

from __future__ import annotations

import functools
import platform
from typing import TYPE_CHECKING

from lumen_cli import __version__
from lumen_cli.errors import ConfigError

if TYPE_CHECKING:
    import ssl

    import httpx

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
TRUST_ENV = True  # decided once, stated in README: proxies and CA bundles from the environment
MAX_REDIRECTS = 10
# Headers that could identify or authenticate the user: a keyless client never sends them.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
READ_SIZE = 1 << 20  # bytes per socket read (see _widen_socket_reads)


def user_agent() -> str:
    return f"lumen-cli/{__version__} (Python {platform.python_version()}; {platform.system()})"


def new_client(
    *,
    base_url: str = "",
    api_key: str | None = None,
    follow_redirects: bool = False,
    headers: dict[str, str] | None = None,
    read_timeout: float = READ_TIMEOUT,
    max_connections: int = 10,
    refuse_link_local: bool = False,
) -> httpx.Client:
    """An ``httpx.Client`` with lumen's one policy (see the module docstring).

    With *api_key* the client sends ``Authorization: Bearer …`` and may not follow
    redirects; without one it may (downloads do), and credential headers are stripped.
    *refuse_link_local* (downloads) refuses link-local and cloud-metadata addresses, on
    every redirect hop. Requests made inside ``network.deadline(seconds)`` end by then.
    Raises ``ConfigError`` when the proxy settings of the environment are unusable.
    """
    import http.cookiejar

    import httpx

    from lumen_cli.api.network import GuardedTransport, environment_proxies

    if api_key and follow_redirects:
        raise ValueError("a client that holds the API key never follows redirects")
    sent = {"User-Agent": user_agent(), **(headers or {})}
    hooks: dict[str, list[object]] = {}
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    else:
        hooks["request"] = [_strip_credentials]
    _widen_socket_reads(READ_SIZE)
    # A jar that accepts no cookie: no answer (or redirect hop) can plant one for the next.
    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    try:
        transport = GuardedTransport(
            ssl_context=_ssl_context,
            limits=limits,
            proxies=environment_proxies() if TRUST_ENV else {},
            refuse_link_local=refuse_link_local,
        )
        return httpx.Client(
            base_url=base_url,
            headers=sent,
            cookies=jar,
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
            follow_redirects=follow_redirects,
            max_redirects=MAX_REDIRECTS,
            transport=transport,
            trust_env=False,  # the transport reads the environment (proxies) itself
            event_hooks=hooks,  # type: ignore[arg-type]
        )
    except (ImportError, RuntimeError, ValueError, httpx.InvalidURL) as exc:
        raise ConfigError(
            f"the proxy settings in the environment are unusable: {exc}",
            hint="Check HTTPS_PROXY, HTTP_PROXY and ALL_PROXY (a socks:// proxy needs "
            "`pip install 'httpx[socks]'`).",
        ) from None


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """The TLS settings of every client, made once, for the first https request: loading the
    CA certificates costs about 20 ms, which a run on plain http (the sandbox) never needs."""
    import httpx

    try:
        return httpx.create_ssl_context(trust_env=TRUST_ENV)  # SSL_CERT_FILE, SSL_CERT_DIR
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(
            f"the CA certificates are unusable: {exc}",
            hint="Check SSL_CERT_FILE and SSL_CERT_DIR, or unset them to use the defaults.",
        ) from None


def _strip_credentials(request: httpx.Request) -> None:
    """Request hook, run on every hop (redirects too): no credential header ever leaves."""
    for name in CREDENTIAL_HEADERS:
        if name in request.headers:
            del request.headers[name]


def _widen_socket_reads(size: int) -> None:
    """Let httpcore read up to *size* bytes per ``recv`` instead of 64 KiB.

    For a large body most of the CPU goes into per-read work (h11 event parsing, buffer
    copies); reading 1 MiB at a time cut a 256 MiB local download from 0.7 s to 0.4 s of
    CPU. ``READ_NUM_BYTES`` is not public API, so this is best effort: if it is gone the
    download is merely slower. Larger reads cost nothing for small JSON answers, since
    ``recv`` returns what is there.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout
        return
    current = getattr(HTTP11Connection, "READ_NUM_BYTES", None)
    if isinstance(current, int) and current < size:
        HTTP11Connection.READ_NUM_BYTES = size
