"""The network under every lumen client: deadlines that bound a whole request, addresses
that are refused, and proxies from the environment.

httpx's timeouts bound each socket operation, not a request: a server that sends one byte
every 29 s keeps a 30 s read timeout waiting forever, in the body or in the headers. Here
every read, write and connect is given at most the time left before the request's deadline
(set with :func:`deadline` around the request, per thread), so a request ends when its
deadline passes, however the server trickles.

The pieces are httpcore's public extension points: a ``NetworkBackend`` whose streams cap
their timeouts and which checks where it connects, and connection pools built with it. An
httpx transport on top (:class:`GuardedTransport`) picks the pool for each request: direct
for loopback and ``NO_PROXY`` hosts, else the proxy the environment names.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from lumen_cli.net import is_loopback

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable

    from httpcore import SOCKET_OPTION

# Hosts that answer cloud metadata requests (they would hand out the machine's credentials).
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

_state = threading.local()


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound every network operation of this thread's requests to end within *seconds*.

    Nested deadlines keep the earlier one; ``None`` adds no bound.
    """
    previous: float | None = getattr(_state, "deadline", None)
    if seconds is not None:
        ends = time.monotonic() + seconds
        _state.deadline = ends if previous is None else min(previous, ends)
    try:
        yield
    finally:
        _state.deadline = previous


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    """*timeout* cut to the time left before this thread's deadline (raises once past it)."""
    ends: float | None = getattr(_state, "deadline", None)
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise error("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class RefusedAddress(httpx.ConnectError):
    """A download (or a redirect hop of one) led to a link-local or cloud-metadata address."""


class _RefusedAddress(httpcore.ConnectError):
    """The httpcore form of :class:`RefusedAddress`, raised inside the pool."""


def refused_address(host: str) -> str | None:
    """Why *host* (a name or an IP) must not be fetched from, or None if it may be."""
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS:
        return f"{host} is a cloud metadata service"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return f"{host} is a link-local address (cloud metadata services live there)"
    return None


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _GuardedStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects as httpcore's own backend does, within the deadline, refusing (when asked)
    any address that is link-local, checked on the addresses the name resolves to and then
    connected to exactly (no second lookup for a DNS answer to change in between)."""

    def __init__(self, *, refuse_link_local: bool) -> None:
        self._backend = httpcore.SyncBackend()
        self._refuse_link_local = refuse_link_local

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        if self._refuse_link_local:
            host = self._checked_address(host, port)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _GuardedStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - lumen never dials a unix socket
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _GuardedStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)

    @staticmethod
    def _checked_address(host: str, port: int) -> str:
        reason = refused_address(host)
        if reason is not None:
            raise _RefusedAddress(f"refusing to connect: {reason}")
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        addresses = [str(info[4][0]) for info in found]
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                raise _RefusedAddress(f"refusing to connect: {host} resolves to {reason}")
        return addresses[0]


# httpcore's errors, as httpx names them (httpx does the same in its own transport).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (_RefusedAddress, RefusedAddress),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        if hasattr(self._stream, "close"):
            self._stream.close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over httpcore pools that use the guarded backend.

    Proxies come from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``, as curl reads them); loopback hosts are always reached directly.
    *ssl_context* is called for the first https request: plain http needs no certificates.
    """

    def __init__(
        self,
        *,
        ssl_context: Callable[[], ssl.SSLContext],
        limits: httpx.Limits,
        proxies: dict[str, str],
        refuse_link_local: bool = False,
    ) -> None:
        self._ssl_context = ssl_context
        self._limits = limits
        self._proxies = proxies
        self._backend = _GuardedBackend(refuse_link_local=refuse_link_local)
        self._refuse_link_local = refuse_link_local
        self._pools: dict[tuple[str | None, bool], httpcore.ConnectionPool] = {}
        self._lock = threading.Lock()
        for url in proxies.values():
            # An unusable proxy setting fails now, not at the first request.
            self._pool(url, tls=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if self._refuse_link_local:
            reason = refused_address(host)
            if reason is not None:  # an IP literal or a metadata name: even through a proxy
                raise RefusedAddress(f"refusing to connect: {reason}", request=request)
        scheme = request.url.scheme
        pool = self._pool(self._proxy_for(scheme, host), tls=scheme == "https")
        extensions = dict(request.extensions)
        timeouts = dict(extensions.get("timeout", {}))
        with _httpx_errors():  # waiting for a pooled connection counts against the deadline
            timeouts["pool"] = _capped(timeouts.get("pool"), httpcore.PoolTimeout)
        extensions["timeout"] = timeouts
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        with _httpx_errors():
            answer = pool.handle_request(core)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        if not self._proxies or is_loopback(host):
            return None
        import urllib.request

        if urllib.request.proxy_bypass(host):  # NO_PROXY
            return None
        return self._proxies.get(scheme) or self._proxies.get("all")

    def _pool(self, proxy: str | None, *, tls: bool) -> httpcore.ConnectionPool:
        """The pool for requests through *proxy* (None: direct) to http or (*tls*) https."""
        with self._lock:
            pool = self._pools.get((proxy, tls))
            if pool is None:
                pool = self._pools[proxy, tls] = self._new_pool(proxy, tls=tls)
            return pool

    def _new_pool(self, proxy: str | None, *, tls: bool) -> httpcore.ConnectionPool:
        options: dict[str, Any] = {
            "ssl_context": self._ssl_context() if tls else None,
            "max_connections": self._limits.max_connections,
            "max_keepalive_connections": self._limits.max_keepalive_connections,
            "keepalive_expiry": self._limits.keepalive_expiry,
            "network_backend": self._backend,
        }
        if proxy is None:
            return httpcore.ConnectionPool(**options)
        parsed = httpx.Proxy(proxy)
        url = httpcore.URL(
            scheme=parsed.url.raw_scheme,
            host=parsed.url.raw_host,
            port=parsed.url.port,
            target=parsed.url.raw_path,
        )
        if parsed.url.scheme in ("http", "https"):
            return httpcore.HTTPProxy(
                proxy_url=url,
                proxy_auth=parsed.raw_auth,
                proxy_headers=parsed.headers.raw,
                proxy_ssl_context=parsed.ssl_context,
                **options,
            )
        return httpcore.SOCKSProxy(proxy_url=url, proxy_auth=parsed.raw_auth, **options)


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """*exc* and every exception it was raised from or during, once each."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unknown_host(exc: BaseException) -> bool:
    """True when a request failed because its host name did not resolve: that does not heal
    in the seconds a retry waits (and offline, every name fails this way)."""
    return any(isinstance(error, socket.gaierror) for error in cause_chain(exc))


def describe_failure(exc: BaseException) -> str:
    """A transport failure in a few words: ``connection refused``, ``no answer in time``."""
    if unknown_host(exc):
        return "the host name does not resolve (offline, or a typo in the URL?)"
    for error in cause_chain(exc):
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, (httpx.TimeoutException, httpcore.TimeoutException, TimeoutError)):
            return "no answer in time"
        if isinstance(error, (httpx.RemoteProtocolError, ConnectionResetError)):
            return "the connection was cut"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def environment_proxies() -> dict[str, str]:
    """``{"http": URL, "https": URL, "all": URL}`` from the environment (as curl reads it)."""
    import urllib.request

    found = urllib.request.getproxies()
    proxies = {}
    for scheme in ("http", "https", "all"):
        value = found.get(scheme)
        if value:
            proxies[scheme] = value if "://" in value else f"http://{value}"
    return proxies
