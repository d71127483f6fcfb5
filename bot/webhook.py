"""Webhook mode without extra dependencies: a small asyncio HTTP server that feeds Telegram's POSTs to the bot.

python-telegram-bot's own webhook server needs tornado (its ``webhooks`` extra); this one needs nothing. It
answers one request per connection, only ``POST`` on the webhook URL's path, only with Telegram's
``X-Telegram-Bot-Api-Secret-Token`` header (compared in constant time), with bodies up to 1 MB. Behind a reverse
proxy that terminates TLS, as Telegram requires HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import signal
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import Application

from bot.settings import Settings
from index.errors import ConfigError

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Too Large",
}


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8443`` for IPv6) from ``BRIEFBOT_WEBHOOK_LISTEN``."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"webhook_listen must be host:port, not {listen!r}")
    return host.strip("[]"), int(port)


class WebhookServer:
    """Receives Telegram's update POSTs and puts them on the application's update queue.

    Args:
        app: the application (initialized) whose ``update_queue`` gets the updates.
        host, port: where to listen (port 0: any free port, see ``port``).
        path: the URL path Telegram posts to.
        secret: the secret token set with ``setWebhook``.
    """

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], *, host: str, port: int, path: str, secret: str):
        self.app = app
        self.host, self.path, self.secret = host, path or "/", secret
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self._port)
        log.info("webhook server listening on %s:%d%s", self.host, self.port, self.path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = 400
        try:
            status = await asyncio.wait_for(self._request(reader), timeout=30)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, UnicodeDecodeError) as exc:
            log.info("bad webhook request: %s", type(exc).__name__)
        try:
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader) -> int:
        method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if urlsplit(target).path != self.path:
            return 404
        if method != "POST":
            return 405
        given = headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook request without the right secret token: refused")
            return 403
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            return 413
        data = json.loads(await reader.readexactly(length))
        if not isinstance(data, dict):
            return 400
        await self.app.update_queue.put(Update.de_json(data, self.app.bot))
        return 200


async def serve_webhook(
    app: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    *,
    allowed_updates: Sequence[str],
    stop: asyncio.Event | None = None,
    stop_signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
    ready: asyncio.Event | None = None,
) -> WebhookServer:
    """Run the bot in webhook mode until ``stop`` is set or a stop signal arrives, then stop cleanly.

    The webhook stays registered on exit, so Telegram keeps the updates that arrive meanwhile for the next start.
    Returns the (stopped) server, for tests that need its port.
    """
    if not settings.webhook_url:
        raise ConfigError("webhook mode needs BRIEFBOT_WEBHOOK_URL")
    host, port = parse_listen(settings.webhook_listen)
    # Without a configured secret, a random one: only Telegram learns it, through setWebhook.
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)
    server = WebhookServer(app, host=host, port=port, path=urlsplit(settings.webhook_url).path, secret=secret)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stop.set)
    async with app:
        if app.post_init:
            await app.post_init(app)
        await app.bot.set_webhook(
            settings.webhook_url, secret_token=secret, allowed_updates=list(allowed_updates), drop_pending_updates=False
        )
        await server.start()
        await app.start()
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            log.info("stopping: finishing the updates in hand")
            await server.stop()
            await app.stop()
    if app.post_shutdown:
        await app.post_shutdown(app)
    return server
