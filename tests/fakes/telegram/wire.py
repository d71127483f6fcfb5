"""The HTTP side: decoding parameters as PTB posts them (form-encoded, multipart with files, JSON, query strings)
and the threaded HTTP server and handler."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import re
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.fakes.telegram.server import FakeTelegram


from tests.fakes.telegram.model import _ApiError, _ClientGone, _Dropped, _Upload
from tests.fakes.telegram.spec import _CHAT_ID

# --------------------------------------------------------------------------------------------------------------
# Parameter decoding: PTB posts application/x-www-form-urlencoded (multipart/form-data with files), where every
# value is a string and lists/objects are JSON-encoded; Telegram also takes JSON bodies and query strings.
# --------------------------------------------------------------------------------------------------------------


def _type_error(name: str, types: tuple[str, ...]) -> _ApiError:
    return _ApiError(400, f'Bad Request: parameter "{name}" must be of type {" or ".join(types)}')


def _coerce(name: str, value: Any, types: tuple[str, ...]) -> Any:
    if types == _CHAT_ID:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _type_error(name, types)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        return value
    kind = types[0] if len(types) == 1 else "Object"
    if kind == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise _type_error(name, types)
    if kind == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _type_error(name, types) from None
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | str) and str(value).strip().lower() in ("true", "1", "false", "0"):
            return str(value).strip().lower() in ("true", "1")
        raise _type_error(name, types)
    if kind == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _type_error(name, types)
    if kind == "InputFile":
        if isinstance(value, _Upload | str):
            return value
        raise _type_error(name, types)
    array = kind.startswith("Array of")
    shape = "array" if array else "object"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            what = "reply keyboard markup" if name == "reply_markup" else name.replace("_", " ")
            raise _ApiError(400, f"Bad Request: can't parse {what} JSON {shape}") from None
    if not isinstance(value, list if array else dict):
        what = "reply keyboard markup" if name == "reply_markup" else name.replace("_", " ")
        raise _ApiError(400, f"Bad Request: can't parse {what} JSON {shape}")
    return value


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON encoded request parameters") from None
        if not isinstance(data, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON encoded request parameters")
        return data
    if kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            params[name] = _Upload(filename, content) if filename else content.decode("utf-8")
        return params
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


# --------------------------------------------------------------------------------------------------------------
# The HTTP side.
# --------------------------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # and block_on_close (the default) joins them in server_close

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer is normal here (PTB cancels long polls on shutdown)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms a call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            status, payload = self.server.fake._serve(
                url.path, url.query, self.headers.get("Content-Type", ""), body, self._client_gone
            )
        except (_Dropped, _ClientGone):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


# --------------------------------------------------------------------------------------------------------------
# The server.
# --------------------------------------------------------------------------------------------------------------
