"""Webhook mode: python-telegram-bot's own webhook server (tornado, its ``webhooks`` extra), configured from
settings.

Telegram POSTs updates to ``BRIEFBOT_WEBHOOK_URL`` (HTTPS, so a reverse proxy terminates TLS and forwards to
``BRIEFBOT_WEBHOOK_LISTEN``). Only requests carrying the secret token set with ``setWebhook`` are accepted: PTB
answers others with 403.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from bot.settings import Settings
from index.errors import ConfigError


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"webhook_listen must be host:port, not {listen!r}")
    return host.strip("[]"), int(port)


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Updater.start_webhook`` / ``Application.run_webhook``.

    Raises:
        ConfigError: the webhook URL is not HTTPS with a host, or the listen address is malformed.
    """
    url = settings.webhook_url or ""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"BRIEFBOT_WEBHOOK_URL must be an https:// URL (Telegram requires it), not {url!r}")
    host, port = parse_listen(settings.webhook_listen)
    # Without a configured secret, a random one: only Telegram learns it, through setWebhook.
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)
    return {
        "listen": host,
        "port": port,
        "url_path": parts.path.lstrip("/"),
        "webhook_url": url,
        "secret_token": secret,
    }
