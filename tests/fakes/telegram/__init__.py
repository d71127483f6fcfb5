"""A fake Telegram Bot API server that checks what a bot sends as Telegram would.

A real HTTP server (standard library, one thread per connection) on a free port of 127.0.0.1 that speaks the
Bot API to the real python-telegram-bot ``Application``: long-polled ``getUpdates``, ``sendMessage`` and its
friends, Telegram's validation (HTML parse mode, 4096 visible characters, callback_data bytes, forum topics,
replies), its flood limits and its error texts, plus faults a test can inject. Tests script the other side:
users, chats and topics, incoming messages and button presses, and read back what the bot sent.

    with FakeTelegram() as server:
        alice = server.add_user("Alice", username="alice")
        app = server.application_builder().build()   # or ApplicationBuilder().token(server.token)...
        ...                                            # add handlers, start polling
        server.add_message(alice.id, alice, "/start")
        [reply] = await server.async_wait_for_messages(alice.id, 1)
        assert reply.text == "Hello"

Where the fake is stricter than Telegram, on purpose, so that bugs surface in tests:
- unknown parameters are rejected (Telegram ignores them);
- in HTML, an ``&`` that does not start ``&lt;``, ``&gt;``, ``&amp;``, ``&quot;`` or ``&#N;``/``&#xN;``
  (with the semicolon) is rejected (Telegram keeps it literally); pass ``strict_html=False`` for Telegram's
  own leniency.

The parts: ``spec`` (the method table of Bot API 10.0), ``parse_mode`` (Telegram's HTML), ``model`` (what tests
see, flood buckets), ``wire`` (HTTP and parameter decoding), ``script`` (users, chats and their updates),
``botapi`` (the methods served), ``server`` (``FakeTelegram``).
"""

from tests.fakes.telegram.model import (
    ChatRef,
    FakeCallbackQuery,
    FakeChat,
    FakeUser,
    FloodLimits,
    RateLimitRecord,
    RequestRecord,
    SentCall,
    StoredMessage,
)
from tests.fakes.telegram.parse_mode import HtmlParseError, parse_html, utf16_len
from tests.fakes.telegram.server import FakeTelegram
from tests.fakes.telegram.spec import DEFAULT_TOKEN, METHODS, Param

__all__ = [
    "DEFAULT_TOKEN",
    "METHODS",
    "ChatRef",
    "FakeCallbackQuery",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "FloodLimits",
    "HtmlParseError",
    "Param",
    "RateLimitRecord",
    "RequestRecord",
    "SentCall",
    "StoredMessage",
    "parse_html",
    "utf16_len",
]
