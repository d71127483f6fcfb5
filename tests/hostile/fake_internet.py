"""A make-believe internet for address probes: a fake DNS and a public address that leads to a local server.

    internet.dns["news.test"] = [PUBLIC]                    # always the public address
    internet.dns["rebind.test"] = [PUBLIC, LOOPBACK]        # first answer public, every later one 127.0.0.1
    internet.site.add("/story", html)                       # what the public address serves
    internet.url("news.test", "/story")                     # http://news.test:PORT/story

Names resolve through ``socket.getaddrinfo`` (patched) or ``internet.resolver`` (the seam ``Fetcher`` takes);
connections go through ``socket.create_connection`` (patched): ``PUBLIC`` leads to ``internet.site`` (a local
server playing a public web site, whatever the port asked for), 127.0.0.1 to the port asked for, and any other
address is refused, so nothing ever leaves the machine. Names the fake DNS does not know do not resolve.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.web import WebServer

PUBLIC = "93.184.216.34"  # a global unicast address; here it leads to ``FakeInternet.site``
LOOPBACK = "127.0.0.1"

_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection


class FakeInternet:
    def __init__(self, site: WebServer) -> None:
        self.site = site
        self.dns: dict[str, list[str]] = {}
        self.lookups: list[str] = []  # every name looked up, in order
        self._asked: dict[str, int] = {}

    def resolver(self, host: str, port: int) -> list[str]:
        """The fake DNS: the n-th lookup of a name gets its n-th answer (the last one from then on)."""
        self.lookups.append(host)
        answers = self.dns.get(host.lower().rstrip("."))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        n = self._asked.get(host, 0)
        self._asked[host] = n + 1
        return [answers[min(n, len(answers) - 1)]]

    def url(self, host: str, path: str, *, port: int | None = None) -> str:
        return f"http://{host}:{port or self.site.port}{path}"

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            port_number = int(port or 0)
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port_number))
                for address in self.resolver(name, port_number)
            ]
        return _real_getaddrinfo(host, port, family, type, proto, flags)

    def create_connection(self, address: tuple[str, int], timeout: Any = None, *args: Any, **kwargs: Any) -> Any:
        host, port = address[0], address[1]
        last: OSError | None = None
        for *_, target in self.getaddrinfo(host, port):
            ip = target[0]
            if ip == PUBLIC:
                target = (LOOPBACK, self.site.port)
            elif ip != LOOPBACK:
                last = ConnectionRefusedError(f"the fake internet has no route to {ip}")
                continue
            return _real_create_connection(target, timeout, *args, **kwargs)
        raise last or ConnectionRefusedError("no address")


@pytest.fixture
def internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInternet]:
    """The fake internet, with a started public site; no proxy from the environment in the way."""
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    site = WebServer().start()
    net = FakeInternet(site)
    monkeypatch.setattr(socket, "getaddrinfo", net.getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", net.create_connection)
    try:
        yield net
    finally:
        site.stop()
