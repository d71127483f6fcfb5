"""Connections that reach public addresses only, checked where the connection is made.

Checking a URL's host by name and then letting the HTTP client resolve it again to connect leaves a gap: a name
can answer a public address to the check and 127.0.0.1 to the connection (DNS rebinding). Here the name is
resolved once, every address it gives must be public, and the socket goes to one of those very addresses. The
TLS server name (SNI), certificate check and Host header still use the name from the URL: only the address
lookup is ours.

    transport = PublicOnlyTransport(resolver=resolve_host)      # an httpx transport for httpx.Client
    resolve_host("example.com", 443) -> ["93.184.215.14", ...]  # the resolver seam tests replace
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from index.urls import Resolver, is_public_ip, resolve_host

__all__ = ["AddressRefused", "PublicOnlyBackend", "PublicOnlyTransport", "Resolver", "resolve_host"]


class AddressRefused(Exception):
    """A connection to a non-public address was refused; nothing was sent."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} is a private or local address ({address})")
        self.host = host
        self.address = address


class PublicOnlyBackend(httpcore.NetworkBackend):
    """An httpcore network backend that resolves each host once and connects only to public addresses.

    Args:
        resolver: host name to addresses (the system resolver by default).
        inner: the backend that opens the sockets (httpcore's own by default).
    """

    def __init__(self, resolver: Resolver | None = None, inner: httpcore.NetworkBackend | None = None) -> None:
        self._resolve = resolver or resolve_host
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host}: name or service not known ({exc})") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve host {host}: name or service not known")
        for address in addresses:
            if not is_public_ip(address):
                raise AddressRefused(host, address)
        error: Exception | None = None
        for address in addresses:  # as socket.create_connection does: the next address when one fails
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise AddressRefused(path, "a Unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.HTTPTransport):
    """An ``httpx.HTTPTransport`` whose connections go through ``PublicOnlyBackend``.

    Args:
        resolver: host name to addresses (the system resolver by default).
        verify: as for ``httpx.HTTPTransport``: certificate verification on, or an ``ssl.SSLContext``.
        network: the backend that opens the sockets, for tests (httpcore's own by default).
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        verify: ssl.SSLContext | bool = True,
        network: httpcore.NetworkBackend | None = None,
    ) -> None:
        context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context)
        # httpx builds its httpcore pool without a backend argument: build the same pool with ours.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(resolver, network),
        )
