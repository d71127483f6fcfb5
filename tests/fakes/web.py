"""A real HTTP server on 127.0.0.1 that plays the web: pages, feeds, conditional GET, redirects, failures.

    server = WebServer().start()
    server.add("/feed.xml", rss_bytes, content_type="application/rss+xml", etag='"v1"')
    server.redirect("/a", "/b"); server.redirect("/b", "/a")       # a loop
    server.slow("/slow", delay=1.0)                                  # for timeouts
    server.drop("/drop")                                             # closes the connection, no response
    server.huge("/huge", size=10_000_000)                            # streams a big body
    server.url("/feed.xml"); server.requests_to("/feed.xml")[-1].headers["If-None-Match"]

Use the ``web_server`` fixture in tests: started before, stopped after.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    drop: bool = False
    stream_size: int = 0
    declare_length: bool = True


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: Message


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # the test output stays quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        owner._record(RecordedRequest(self.command, self.path, self.headers))
        route = owner.routes.get(self.path) or owner.routes.get(path)
        if route is None:
            route = Route(body=b"<html><body><h1>Not Found</h1></body></html>", status=404)
        if route.delay:
            time.sleep(route.delay)
        if route.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self._not_modified(route):
            self.send_response(304)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            return
        self.send_response(route.status)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        for key, value in route.headers.items():
            self.send_header(key, value)
        size = route.stream_size or len(route.body)
        if route.declare_length:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if not send_body:
            return
        if route.stream_size:
            chunk = b"x" * 65536
            sent = 0
            while sent < route.stream_size:
                part = chunk[: route.stream_size - sent]
                self.wfile.write(part)
                sent += len(part)
        else:
            self.wfile.write(route.body)

    def _not_modified(self, route: Route) -> bool:
        if route.status != 200:
            return False
        if route.etag and self.headers.get("If-None-Match"):
            tags = [t.strip() for t in self.headers["If-None-Match"].split(",")]
            return route.etag in tags or "*" in tags
        since = self.headers.get("If-Modified-Since")
        return bool(route.last_modified and since and since == route.last_modified)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: WebServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out or stop reading break the pipe: that is the point of those routes.
        pass


class WebServer:
    """A local web server whose routes tests set up; every request it receives is logged."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WebServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        # Ready check: the socket is listening once bound, but make sure the loop answers.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str | None = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        delay: float = 0.0,
    ) -> str:
        """Serve ``body`` on ``path``; with an ETag or Last-Modified, matching conditional requests get 304.

        Returns:
            The full URL of the route.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(
            body=data,
            status=status,
            content_type=content_type,
            headers=dict(headers or {}),
            etag=etag,
            last_modified=last_modified,
            delay=delay,
        )
        return self.url(path)

    def redirect(self, path: str, to: str, *, status: int = 302) -> str:
        """Redirect ``path`` to ``to`` (a path on this server or a full URL)."""
        self.routes[path] = Route(status=status, content_type=None, headers={"Location": to})
        return self.url(path)

    def slow(self, path: str, body: bytes | str = b"", *, delay: float) -> str:
        """Answer only after ``delay`` seconds."""
        return self.add(path, body, delay=delay)

    def drop(self, path: str) -> str:
        """Close the connection without sending any response."""
        self.routes[path] = Route(drop=True)
        return self.url(path)

    def huge(self, path: str, *, size: int, declare_length: bool = True, content_type: str = "text/html") -> str:
        """Stream ``size`` bytes, with or without a Content-Length header."""
        self.routes[path] = Route(stream_size=size, declare_length=declare_length, content_type=content_type)
        return self.url(path)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for 'connection refused')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web_server() -> Iterator[WebServer]:
    """A started local web server, stopped after the test."""
    server = WebServer().start()
    try:
        yield server
    finally:
        server.stop()
