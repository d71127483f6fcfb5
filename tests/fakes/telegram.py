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

One module rather than several: the parser, the method table and the server are only ever used together,
and the tests import a single fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import json
import math
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from telegram.ext import ApplicationBuilder

__all__ = [
    "DEFAULT_TOKEN",
    "METHODS",
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

JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "5550001234:AAFakeTokenForTests-0123456789abcdef"
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{35}")


# --------------------------------------------------------------------------------------------------------------
# The method table: names, parameters, types and required flags exactly as in Bot API 10.0.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter of a Bot API method, typed as in the Bot API documentation."""

    types: tuple[str, ...]
    required: bool = False


def _req(*types: str) -> Param:
    return Param(types, True)


def _opt(*types: str) -> Param:
    return Param(types, False)


_CHAT_ID = ("Integer", "String")
_SCOPE_PARAMS = {"scope": _opt("BotCommandScope"), "language_code": _opt("String")}

METHODS: dict[str, dict[str, Param]] = {
    "getMe": {},
    "getUpdates": {
        "offset": _opt("Integer"),
        "limit": _opt("Integer"),
        "timeout": _opt("Integer"),
        "allowed_updates": _opt("Array of String"),
    },
    "sendMessage": {
        "business_connection_id": _opt("String"),
        "chat_id": _req(*_CHAT_ID),
        "message_thread_id": _opt("Integer"),
        "direct_messages_topic_id": _opt("Integer"),
        "text": _req("String"),
        "parse_mode": _opt("String"),
        "entities": _opt("Array of MessageEntity"),
        "link_preview_options": _opt("LinkPreviewOptions"),
        "disable_notification": _opt("Boolean"),
        "protect_content": _opt("Boolean"),
        "allow_paid_broadcast": _opt("Boolean"),
        "message_effect_id": _opt("String"),
        "suggested_post_parameters": _opt("SuggestedPostParameters"),
        "reply_parameters": _opt("ReplyParameters"),
        "reply_markup": _opt("InlineKeyboardMarkup", "ReplyKeyboardMarkup", "ReplyKeyboardRemove", "ForceReply"),
    },
    "editMessageText": {
        "business_connection_id": _opt("String"),
        "chat_id": _opt(*_CHAT_ID),
        "message_id": _opt("Integer"),
        "inline_message_id": _opt("String"),
        "text": _req("String"),
        "parse_mode": _opt("String"),
        "entities": _opt("Array of MessageEntity"),
        "link_preview_options": _opt("LinkPreviewOptions"),
        "reply_markup": _opt("InlineKeyboardMarkup"),
    },
    "deleteMessage": {"chat_id": _req(*_CHAT_ID), "message_id": _req("Integer")},
    "sendChatAction": {
        "business_connection_id": _opt("String"),
        "chat_id": _req(*_CHAT_ID),
        "message_thread_id": _opt("Integer"),
        "action": _req("String"),
    },
    "answerCallbackQuery": {
        "callback_query_id": _req("String"),
        "text": _opt("String"),
        "show_alert": _opt("Boolean"),
        "url": _opt("String"),
        "cache_time": _opt("Integer"),
    },
    "setMyCommands": {"commands": _req("Array of BotCommand"), **_SCOPE_PARAMS},
    "getMyCommands": dict(_SCOPE_PARAMS),
    "deleteMyCommands": dict(_SCOPE_PARAMS),
    "deleteWebhook": {"drop_pending_updates": _opt("Boolean")},
    "setWebhook": {
        "url": _req("String"),
        "certificate": _opt("InputFile"),
        "ip_address": _opt("String"),
        "max_connections": _opt("Integer"),
        "allowed_updates": _opt("Array of String"),
        "drop_pending_updates": _opt("Boolean"),
        "secret_token": _opt("String"),
    },
    "getWebhookInfo": {},
    "getChatMember": {"chat_id": _req(*_CHAT_ID), "user_id": _req("Integer")},
    "getChat": {"chat_id": _req(*_CHAT_ID)},
    "close": {},
    "logOut": {},
}

# Parameters Telegram still accepts although the documentation dropped them; not part of the spec check.
LEGACY_PARAMS: dict[str, dict[str, Param]] = {
    "sendMessage": {
        "reply_to_message_id": _opt("Integer"),
        "allow_sending_without_reply": _opt("Boolean"),
        "disable_web_page_preview": _opt("Boolean"),
    },
    "editMessageText": {"disable_web_page_preview": _opt("Boolean")},
}

UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "guest_message",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
    "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member",
    "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost", "managed_bot",
)  # fmt: skip
# What getUpdates delivers while allowed_updates was never set (or set to []).
DEFAULT_UPDATE_TYPES = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}

CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip

_MISSING_DESCRIPTIONS = {
    "chat_id": "Bad Request: chat_id is empty",
    "text": "Bad Request: message text is empty",
    "message_id": "Bad Request: message identifier is not specified",
    "callback_query_id": "Bad Request: query_id is empty",
    "action": "Bad Request: wrong parameter action in request",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
GETUPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)


# --------------------------------------------------------------------------------------------------------------
# Telegram's HTML parse mode (after tdlib's parse_html, with its error texts).
# --------------------------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """Text that Telegram would refuse with "Bad Request: can't parse entities: <message>"."""


_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "tg-emoji",
        "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip
_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji", "tg-time": "date_time",
}  # fmt: skip
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_html_entity(source: str, pos: int, strict: bool) -> tuple[str, int] | None:
    """The character an entity at ``source[pos] == "&"`` stands for and the index after it, or None."""
    end = pos + 1
    if source.startswith("&#", pos):
        end += 1
        hexadecimal = source[end : end + 1] in ("x", "X")
        end += hexadecimal
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(source) and source[end] in digits and end - start < 8:
            end += 1
        if end == start:
            return None
        code = int(source[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        while end < len(source) and source[end].isascii() and source[end].isalpha():
            end += 1
        name = source[pos + 1 : end]
        if name not in _NAMED_HTML_ENTITIES:
            return None
        char = _NAMED_HTML_ENTITIES[name]
    if source[end : end + 1] == ";":
        return char, end + 1
    return None if strict else (char, end)


@dataclass
class _OpenTag:
    name: str
    argument: str
    start: int  # UTF-16 offset in the visible text
    expandable: bool = False
    language: str = ""


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML into the visible text and its MessageEntity dicts (UTF-16 offsets).

    Args:
        source: The text as a bot would send it with ``parse_mode="HTML"``.
        strict: Reject an ``&`` that is not a complete supported entity; Telegram keeps it literally.

    Returns:
        The visible text and the entities, sorted by offset (outer entity first).

    Raises:
        HtmlParseError: With Telegram's own wording, e.g. "Unsupported start tag "div" at byte offset 0".
    """
    out: list[str] = []
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSON] = []
    n = len(source)
    i = 0

    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_html_entity(source, i, strict)
            if decoded is not None:
                out.append(decoded[0])
                utf16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict:
                raise HtmlParseError(f'Unescaped "&" at byte offset {_byte_offset(source, i)}: write it as &amp;')
        if char != "<":
            out.append(char)
            utf16 += utf16_len(char)
            i += 1
            continue
        begin = i
        offset = _byte_offset(source, begin)
        if source[i + 1 : i + 2] != "/":
            i += 1
            while i < n and not source[i].isspace() and source[i] != ">":
                i += 1
            if i >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
            tag = source[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
            opened = _OpenTag(tag, "", utf16)
            while True:
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
                if source[i] == ">":
                    break
                attribute_begin = i
                while i < n and not source[i].isspace() and source[i] not in "=>":
                    i += 1
                attribute = source[attribute_begin:i].lower()
                if not attribute:
                    raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
                while i < n and source[i].isspace():
                    i += 1
                if source[i : i + 1] != "=":
                    if tag == "blockquote" and attribute == "expandable":
                        opened.expandable = True
                        continue
                    raise HtmlParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {offset}'
                    )
                i += 1
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
                if source[i] not in "'\"":
                    token_begin = i
                    while i < n and ((source[i].isascii() and source[i].isalnum()) or source[i] in ".-"):
                        i += 1
                    value = source[token_begin:i].lower()
                    if i < n and not source[i].isspace() and source[i] != ">":
                        raise HtmlParseError(f"Unexpected end of name token at byte offset {_byte_offset(source, i)}")
                else:
                    quote = source[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and source[i] != quote:
                        if source[i] == "&":
                            decoded = _decode_html_entity(source, i, strict=False)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(source[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
                if (
                    (tag == "a" and attribute == "href")
                    or (tag == "tg-emoji" and attribute == "emoji-id")
                    or (tag == "tg-time" and attribute == "unix")
                ):
                    opened.argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    opened.argument = value[len("language-") :]
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    opened.argument = value[len("tg-") :]
            if tag == "span" and opened.argument != "spoiler":
                raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
            if tag == "tg-emoji" and not opened.argument:
                raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
            i += 1
            stack.append(opened)
            continue
        if not stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
        i += 2
        while i < n and not source[i].isspace() and source[i] != ">":
            i += 1
        end_name = source[begin + 2 : i].lower()
        while i < n and source[i].isspace():
            i += 1
        if i >= n or source[i] != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
        i += 1
        opened = stack.pop()
        if end_name and end_name != opened.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{opened.name}>", found "</{end_name}>"'
            )
        if opened.name == "code" and opened.argument and stack and stack[-1].name == "pre":
            stack[-1].language = opened.argument  # <pre><code class="language-x"> is one pre entity
            continue
        length = utf16 - opened.start
        if length <= 0:
            continue
        entity: JSON = {"type": _ENTITY_TYPES[opened.name], "offset": opened.start, "length": length}
        if opened.name == "a":
            entity["url"] = opened.argument
        elif opened.name == "pre" and opened.language:
            entity["language"] = opened.language
        elif opened.name == "blockquote" and opened.expandable:
            entity["type"] = "expandable_blockquote"
        elif opened.name == "tg-emoji":
            entity["custom_emoji_id"] = opened.argument
        elif opened.name == "tg-time" and opened.argument.isdigit():
            entity["unix_time"] = int(opened.argument)
        entities.append(entity)
    if stack:
        raise HtmlParseError(f"Can't find end tag corresponding to start tag {stack[-1].name}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


# Telegram's automatic entities in incoming text (a subset: commands, mentions, hashtags, links).
_AUTO_ENTITIES = (
    ("bot_command", re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)'\]]")),
)


def auto_entities(text: str) -> list[JSON]:
    """The entities Telegram computes for an incoming plain text: bot_command, mention, hashtag and url."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _AUTO_ENTITIES:
        for match in pattern.finditer(text):
            if any(match.start() < end and start < match.end() for start, end, _ in found):
                continue
            found.append((match.start(), match.end(), kind))
    found.sort()
    return [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in found
    ]


# --------------------------------------------------------------------------------------------------------------
# What tests see.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeUser:
    """A Telegram user the test registered."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSON:
        """The Bot API ``User`` object."""
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass(frozen=True)
class FakeChat:
    """A chat the test registered: ``type`` is private, group, supergroup or channel."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False

    def to_dict(self) -> JSON:
        """The Bot API ``Chat`` object."""
        data: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.is_forum:
            data["is_forum"] = True
        return data


# A chat as tests name it: the chat, its id, or a user (meaning their private chat with the bot).
ChatRef = FakeChat | FakeUser | int


@dataclass
class StoredMessage:
    """A message in a chat, incoming or sent by the bot, with its current (possibly edited) content.

    Attributes:
        text: The visible text as Telegram shows it (after HTML parsing and trimming), or None.
        source: The text as the bot sent it (the HTML source), or the incoming text.
        data: The Bot API ``Message`` dict as of the last change.
        history: Earlier visible texts, oldest first, one per edit.
        delivered: For incoming messages: whether the bot got the update (privacy mode may hide it).
    """

    chat_id: int
    message_id: int
    from_bot: bool
    data: JSON
    text: str | None = None
    source: str | None = None
    parse_mode: str | None = None
    thread_id: int | None = None
    deleted: bool = False
    history: list[str] = field(default_factory=list)
    delivered: bool = True

    @property
    def entities(self) -> list[JSON]:
        """The message's entities (UTF-16 offsets), as Telegram returns them."""
        return list(self.data.get("entities", []))

    @property
    def reply_markup(self) -> JSON | None:
        """The inline keyboard attached now, or None."""
        markup = self.data.get("reply_markup")
        return markup if isinstance(markup, dict) else None

    @property
    def reply_to_message_id(self) -> int | None:
        """The id of the message this one replies to, if any."""
        reply = self.data.get("reply_to_message")
        return reply["message_id"] if isinstance(reply, dict) else None


@dataclass
class FakeCallbackQuery:
    """A button press the test queued; ``answered`` and the answer fields are set by answerCallbackQuery."""

    id: str
    chat_id: int
    message_id: int
    user_id: int
    data: str
    created: float
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False


@dataclass(frozen=True)
class SentCall:
    """An accepted call of the bot (every method but getUpdates), with its parsed parameters and result."""

    method: str
    params: JSON
    result: Any
    at: float


@dataclass(frozen=True)
class RequestRecord:
    """Any request the server saw, accepted or not. ``status`` is the HTTP status, 0 for a dropped one."""

    method: str
    params: JSON
    status: int
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        """Whether Telegram would have answered ``{"ok": true}``."""
        return self.status == 200


@dataclass(frozen=True)
class RateLimitRecord:
    """A 429 the server gave: from its flood limits, or injected with ``fail_next``."""

    method: str
    chat_id: int | None
    retry_after: int
    injected: bool
    at: float


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits as token buckets: a sustained rate plus a burst allowance.

    The defaults are Telegram's published figures, and match python-telegram-bot's AIORateLimiter (which
    limits groups with a 20-per-minute leaky bucket and everything with 30 per second).
    """

    private_per_second: float = 1.0
    private_burst: int = 5
    group_per_minute: float = 20.0
    group_burst: int = 20
    global_per_second: float = 30.0
    global_burst: int = 30
    methods: frozenset[str] = frozenset({"sendMessage", "editMessageText"})


class _Bucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.stamp = rate, capacity, capacity, now

    def wait(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass
class _Fault:
    method: str
    chat_id: int | None
    remaining: int
    error_code: int
    description: str
    retry_after: int | None
    drop: bool


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class _Dropped(Exception):
    """Close the connection without an answer."""


class _ClientGone(Exception):
    """The client closed the connection while its long poll waited (PTB does so on shutdown)."""


@dataclass
class _ChatState:
    chat: FakeChat
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    topics: dict[int, str] = field(default_factory=dict)
    members: dict[int, str] = field(default_factory=dict)
    bot_status: str = "member"
    blocked: bool = False
    started: bool = True
    migrated_to: int | None = None


@dataclass
class _Upload:
    filename: str
    content: bytes


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: GETUPDATES_CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


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


class FakeTelegram:
    """A Bot API server on 127.0.0.1 that behaves like Telegram for one bot.

    Args:
        token: The bot's token; requests with any other token get 401 (or 404 if malformed) like Telegram.
        bot_username: The bot's username (without "@"); its id is the token's number.
        flood_limits: Telegram's flood limits, or None to switch them off. Changeable later.
        privacy_mode: In groups, deliver only what a bot in privacy mode gets: commands, mentions of the bot,
            replies to the bot and service messages (unless the bot is an administrator).
        strict_html: Reject a bare ``&`` in HTML (Telegram keeps it); see the module docstring.
        callback_query_ttl: Seconds after which answerCallbackQuery says the query is too old.
        clock: Seconds since the epoch for message dates.

    Every test-facing method is thread-safe. Blocking waits (``wait_for``) must not run on the event loop that
    runs the bot: from async tests use ``async_wait_for`` and ``async_wait_for_messages``.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "briefbot_test_bot",
        *,
        bot_name: str = "Briefbot",
        flood_limits: FloodLimits | None = FloodLimits(),
        privacy_mode: bool = True,
        strict_html: bool = True,
        callback_query_ttl: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 5550001234
        self.bot = FakeUser(bot_id, bot_name, username=bot_username, is_bot=True)
        self.flood_limits = flood_limits
        self.privacy_mode = privacy_mode
        self.strict_html = strict_html
        self.callback_query_ttl = callback_query_ttl
        self.clock = clock
        self.sent: list[SentCall] = []
        self.requests: list[RequestRecord] = []
        self.rate_limited: list[RateLimitRecord] = []
        self.callback_queries: dict[str, FakeCallbackQuery] = {}
        self.webhook_url = ""
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self._cond = threading.Condition(threading.RLock())
        self._chats: dict[int, _ChatState] = {}
        self._users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._next_user_id = 1_000_001
        self._next_group_id = 4_000_000_001
        self._next_supergroup_id = 1_000_000_000_001
        self._next_query_id = 1
        self._faults: list[_Fault] = []
        self._buckets: dict[tuple[str, int], _Bucket] = {}
        self._bucket_limits: FloodLimits | None = None
        self._closing = False
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Start serving on a free port of 127.0.0.1 in a background thread."""
        if self._httpd is None:
            self._closing = False
            self._httpd = _HTTPServer(self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake long polls, close every connection and join the threads."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        httpd.shutdown()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("the fake Telegram server is not running: call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.url}/file/bot"

    def application_builder(self) -> ApplicationBuilder:
        """A python-telegram-bot ``ApplicationBuilder`` with the token and both URLs of this server."""
        from telegram.ext import ApplicationBuilder

        return ApplicationBuilder().token(self.token).base_url(self.base_url).base_file_url(self.base_file_url)

    # --- registering users and chats ----------------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
        user_id: int | None = None,
        started: bool = True,
    ) -> FakeUser:
        """A user and their private chat with the bot (same id).

        Args:
            started: Whether the user pressed Start; if not, the bot cannot message them (403) until they
                send something.
        """
        with self._cond:
            if user_id is None:
                user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
            user = FakeUser(user_id, first_name, username, last_name, language_code)
            self._users[user.id] = user
            chat = FakeChat(user.id, "private", username=username, first_name=first_name, last_name=last_name)
            self._chats[chat.id] = _ChatState(chat, started=started, members={user.id: "member"})
            return user

    def add_group(self, title: str, *, members: Sequence[FakeUser | int] = (), bot_status: str = "member") -> FakeChat:
        """A basic group (negative id) with the bot in it as ``bot_status`` (member or administrator)."""
        with self._cond:
            chat_id, self._next_group_id = -self._next_group_id, self._next_group_id + 1
            return self._add_chat(FakeChat(chat_id, "group", title=title), members, bot_status)

    def add_supergroup(
        self,
        title: str,
        *,
        username: str | None = None,
        forum: bool = False,
        members: Sequence[FakeUser | int] = (),
        bot_status: str = "member",
    ) -> FakeChat:
        """A supergroup (id -100...), a forum if ``forum``; add topics with ``add_forum_topic``."""
        with self._cond:
            return self._add_chat(self._new_supergroup(title, username, forum), members, bot_status)

    def add_channel(self, title: str, *, username: str | None = None, bot_status: str = "administrator") -> FakeChat:
        """A channel (id -100...) with the bot as an administrator."""
        with self._cond:
            chat_id, self._next_supergroup_id = -self._next_supergroup_id, self._next_supergroup_id + 1
            return self._add_chat(FakeChat(chat_id, "channel", title=title, username=username), (), bot_status)

    def add_forum_topic(self, chat: ChatRef, name: str, *, creator: FakeUser | int | None = None) -> int:
        """A forum topic in a forum supergroup; returns its ``message_thread_id``.

        As in Telegram, the thread id is the id of the topic's ``forum_topic_created`` service message, and
        messages in the topic reply to it unless they reply to something else.
        """
        with self._cond:
            state = self._state(chat)
            if not state.chat.is_forum:
                raise ValueError(f"chat {state.chat.id} is not a forum supergroup")
            if creator is None:
                humans = [uid for uid in (*state.members, *self._users) if uid != self.bot.id]
                if not humans:
                    raise ValueError("register a user first: forum topics are created by someone")
                creator = humans[0]
            user = self._user(creator)
            message = self._new_message(
                state, user, extra={"forum_topic_created": {"name": name, "icon_color": 7322096}}
            )
            state.topics[message.message_id] = name
            message.thread_id = message.message_id
            message.data.update(message_thread_id=message.message_id, is_topic_message=True)
            return message.message_id

    def set_member_status(self, chat: ChatRef, user: FakeUser | int, status: str) -> None:
        """Set a user's status in a chat: creator, administrator, member, restricted, left or kicked."""
        with self._cond:
            self._state(chat).members[self._user(user).id] = status

    def block(self, chat: ChatRef, *, blocked: bool = True, send_update: bool = False) -> None:
        """The user blocks (or unblocks) the bot: sends to their private chat get 403.

        Args:
            send_update: Also queue the ``my_chat_member`` update Telegram sends (status kicked/member).
        """
        with self._cond:
            state = self._state(chat)
            if state.chat.type != "private":
                raise ValueError("only users block bots; remove the bot from groups with add_my_chat_member")
            old, new = ("member", "kicked") if blocked else ("kicked", "member")
            if send_update:
                self.add_my_chat_member(state.chat, state.chat.id, new_status=new, old_status=old)
            state.blocked = blocked
            self._cond.notify_all()

    # --- incoming updates ---------------------------------------------------------------------------------------

    def add_message(
        self,
        chat: ChatRef,
        user: FakeUser | int | None,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        entities: list[JSON] | None = None,
    ) -> StoredMessage:
        """Queue a ``message`` update: ``user`` writes ``text`` in ``chat``.

        Entities of type bot_command, mention, hashtag and url are computed from the text as Telegram does,
        unless ``entities`` is given. In a forum topic pass ``thread_id``. In a private chat ``user`` may be
        None (the chat's user). In groups with privacy mode, the update is only delivered when Telegram would
        deliver it (see ``StoredMessage.delivered``).
        """
        with self._cond:
            state = self._state(chat)
            if state.chat.type == "channel":
                raise ValueError("use add_channel_post for channels")
            sender = self._user(user if user is not None else state.chat.id)
            extra: JSON = {"text": text}
            found = auto_entities(text) if entities is None else entities
            if found:
                extra["entities"] = found
            message = self._new_message(state, sender, extra=extra, thread_id=thread_id, reply_to=reply_to)
            message.text = message.source = text
            if state.chat.type == "private":
                state.started = True
            message.delivered = self._visible_to_bot(state, message)
            if message.delivered:
                self._queue("message", message.data)
            return message

    def add_sticker(
        self, chat: ChatRef, user: FakeUser | int | None, emoji: str = "👍", *, thread_id: int | None = None
    ) -> StoredMessage:
        """Queue a sticker message (no text)."""
        with self._cond:
            state = self._state(chat)
            sender = self._user(user if user is not None else state.chat.id)
            number = self._next_update_id
            sticker = {
                "file_id": f"CAACAgIAAxkBAAI{number:08d}",
                "file_unique_id": f"AgAD{number:06d}",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
            message = self._new_message(state, sender, extra={"sticker": sticker}, thread_id=thread_id)
            message.delivered = self._visible_to_bot(state, message)
            if message.delivered:
                self._queue("message", message.data)
            return message

    def add_edited_message(self, message: StoredMessage, text: str) -> StoredMessage:
        """The author edits an incoming message (or channel post): queue ``edited_message``/``edited_channel_post``."""
        with self._cond:
            if message.from_bot:
                raise ValueError("the bot edits its own messages through editMessageText")
            if message.text is not None:
                message.history.append(message.text)
            message.text = message.source = text
            message.data["text"] = text
            message.data.pop("entities", None)
            if found := auto_entities(text):
                message.data["entities"] = found
            message.data["edit_date"] = int(self.clock())
            kind = "edited_channel_post" if message.data["chat"]["type"] == "channel" else "edited_message"
            if message.delivered or kind == "edited_channel_post":
                self._queue(kind, message.data)
            return message

    def add_channel_post(self, chat: ChatRef, text: str) -> StoredMessage:
        """Queue a ``channel_post`` (sender_chat is the channel, no ``from``)."""
        with self._cond:
            state = self._state(chat)
            if state.chat.type != "channel":
                raise ValueError(f"chat {state.chat.id} is not a channel")
            extra: JSON = {"text": text, "sender_chat": state.chat.to_dict()}
            if found := auto_entities(text):
                extra["entities"] = found
            message = self._new_message(state, None, extra=extra)
            message.text = message.source = text
            self._queue("channel_post", message.data)
            return message

    def add_callback_query(
        self, chat: ChatRef, user: FakeUser | int | None, message: StoredMessage | int, data: str
    ) -> FakeCallbackQuery:
        """``user`` presses an inline button with ``data`` under the bot's ``message``: queue a callback_query."""
        with self._cond:
            state = self._state(chat)
            message_id = message.message_id if isinstance(message, StoredMessage) else message
            stored = state.messages.get(message_id)
            if stored is None or stored.deleted:
                raise ValueError(f"no message {message_id} in chat {state.chat.id}")
            sender = self._user(user if user is not None else state.chat.id)
            query = FakeCallbackQuery(
                str(8_000_000_000_000 + self._next_query_id),
                state.chat.id,
                message_id,
                sender.id,
                data,
                time.monotonic(),
            )
            self._next_query_id += 1
            self.callback_queries[query.id] = query
            payload = {
                "id": query.id,
                "from": sender.to_dict(),
                "message": copy.deepcopy(stored.data),
                "chat_instance": str(abs(state.chat.id) * 7 + 13),
                "data": data,
            }
            self._queue("callback_query", payload)
            return query

    def add_my_chat_member(
        self,
        chat: ChatRef,
        user: FakeUser | int | None,
        *,
        new_status: str,
        old_status: str | None = None,
    ) -> JSON:
        """The bot's status in ``chat`` changes (added: member/administrator; removed: left/kicked) by ``user``.

        Queues ``my_chat_member`` and applies the change: after left/kicked, sending there gives 403.
        In a private chat, kicked means the user blocked the bot.
        """
        with self._cond:
            state = self._state(chat)
            sender = self._user(user if user is not None else next(iter(state.members), self.bot.id))
            if old_status is None:
                old_status = (
                    state.bot_status if state.chat.type != "private" else ("kicked" if state.blocked else "member")
                )
            payload = {
                "chat": state.chat.to_dict(),
                "from": sender.to_dict(),
                "date": int(self.clock()),
                "old_chat_member": self._chat_member(old_status, self.bot),
                "new_chat_member": self._chat_member(new_status, self.bot),
            }
            if state.chat.type == "private":
                state.blocked = new_status == "kicked"
            else:
                state.bot_status = new_status
            self._queue("my_chat_member", payload)
            return payload

    def migrate_group(self, chat: ChatRef, *, by: FakeUser | int | None = None) -> FakeChat:
        """Upgrade a basic group to a supergroup, as Telegram does; returns the new chat.

        Queues the ``migrate_to_chat_id`` message in the old group and ``migrate_from_chat_id`` in the new
        one. Sending to the old id afterwards gives 400 with ``parameters.migrate_to_chat_id``.
        """
        with self._cond:
            old = self._state(chat)
            if old.chat.type != "group":
                raise ValueError(f"chat {old.chat.id} is not a basic group")
            new = self._add_chat(self._new_supergroup(old.chat.title or "", None, False), (), old.bot_status)
            new_state = self._chats[new.id]
            new_state.members.update(old.members)
            sender = self._user(by if by is not None else next(iter(old.members), self.bot.id))
            moved = self._new_message(old, sender, extra={"migrate_to_chat_id": new.id})
            self._queue("message", moved.data)
            arrived = self._new_message(new_state, sender, extra={"migrate_from_chat_id": old.chat.id})
            self._queue("message", arrived.data)
            old.migrated_to = new.id
            return new

    # --- reading back -----------------------------------------------------------------------------------------

    def messages(
        self, chat: ChatRef, *, from_bot: bool | None = None, include_deleted: bool = False
    ) -> list[StoredMessage]:
        """The chat's messages in order, optionally only the bot's (True) or only the users' (False)."""
        with self._cond:
            return [
                message
                for message in self._state(chat).messages.values()
                if (from_bot is None or message.from_bot == from_bot) and (include_deleted or not message.deleted)
            ]

    def bot_messages(self, chat: ChatRef, *, include_deleted: bool = False) -> list[StoredMessage]:
        """The messages the bot sent to ``chat``, with their current text."""
        return self.messages(chat, from_bot=True, include_deleted=include_deleted)

    def texts(self, chat: ChatRef) -> list[str]:
        """The visible texts of the bot's current (not deleted) messages in ``chat``."""
        return [message.text or "" for message in self.bot_messages(chat)]

    def message(self, chat: ChatRef, message_id: int) -> StoredMessage:
        """One message of a chat by id (KeyError if unknown)."""
        with self._cond:
            return self._state(chat).messages[message_id]

    def calls(self, method: str) -> list[SentCall]:
        """The accepted calls of one method."""
        with self._cond:
            return [call for call in self.sent if call.method == method]

    @property
    def failed_requests(self) -> list[RequestRecord]:
        """Every request that was refused or dropped."""
        with self._cond:
            return [record for record in self.requests if not record.ok]

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by an offset."""
        with self._cond:
            return copy.deepcopy(self._updates)

    # --- waiting ------------------------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str = "condition") -> T:
        """Block until ``predicate()`` is truthy and return its value; TimeoutError after ``timeout`` seconds.

        Not for use on the event loop that runs the bot (it would block the bot): use ``async_wait_for``.
        """
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            raise AssertionError("wait_for blocks the event loop: use `await server.async_wait_for(...)`")
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what, timeout))
                self._cond.wait(min(remaining, 0.05))

    async def async_wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str = "condition") -> T:
        """Like ``wait_for``, but yields to the event loop between checks."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(what, timeout))
            await asyncio.sleep(0.01)

    def wait_for_messages(self, chat: ChatRef, n: int = 1, timeout: float = 5.0) -> list[StoredMessage]:
        """Block until the bot has sent at least ``n`` messages to ``chat`` (ever); return them all."""
        return self.wait_for(self._messages_predicate(chat, n), timeout, what=f"{n} bot message(s) in {chat}")

    async def async_wait_for_messages(self, chat: ChatRef, n: int = 1, timeout: float = 5.0) -> list[StoredMessage]:
        """Like ``wait_for_messages``, for async tests."""
        return await self.async_wait_for(
            self._messages_predicate(chat, n), timeout, what=f"{n} bot message(s) in {chat}"
        )

    def _messages_predicate(self, chat: ChatRef, n: int) -> Callable[[], list[StoredMessage]]:
        def predicate() -> list[StoredMessage]:
            sent = self.bot_messages(chat, include_deleted=True)
            return sent if len(sent) >= n else []

        return predicate

    def _timeout_message(self, what: str, timeout: float) -> str:
        recent = [f"{r.method} -> {r.status} {r.error or ''}".strip() for r in self.requests[-10:]]
        return f"timed out after {timeout}s waiting for {what}; last requests: {recent}"

    # --- faults ---------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        *,
        retry_after: int = 1,
        times: int = 1,
        chat_id: ChatRef | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any but getUpdates) with an error.

        Args:
            error_code: 429 (with ``parameters.retry_after``), 403 (blocked), 400, 409, 500, 502...
            retry_after: Seconds, for 429.
            chat_id: Only calls for this chat count.
            description: Telegram's text; a default per code otherwise.
        """
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if error_code == 429
                else _DEFAULT_DESCRIPTIONS.get(error_code, "Internal Server Error")
            )
        with self._cond:
            self._faults.append(
                _Fault(
                    method,
                    self._chat_id(chat_id),
                    times,
                    error_code,
                    description,
                    retry_after if error_code == 429 else None,
                    False,
                )
            )

    def drop_next(self, method: str, *, times: int = 1, chat_id: ChatRef | None = None) -> None:
        """Close the connection without an answer on the next ``times`` calls of ``method`` (after acting on
        nothing: the call has no effect)."""
        with self._cond:
            self._faults.append(_Fault(method, self._chat_id(chat_id), times, 0, "", None, True))

    # --- internals: registration ----------------------------------------------------------------------------------

    def _new_supergroup(self, title: str, username: str | None, forum: bool) -> FakeChat:
        chat_id, self._next_supergroup_id = -self._next_supergroup_id, self._next_supergroup_id + 1
        return FakeChat(chat_id, "supergroup", title=title, username=username, is_forum=forum)

    def _add_chat(self, chat: FakeChat, members: Sequence[FakeUser | int], bot_status: str) -> FakeChat:
        state = _ChatState(chat, bot_status=bot_status)
        for member in members:
            state.members[self._user(member).id] = "member"
        self._chats[chat.id] = state
        return chat

    @staticmethod
    def _chat_id(chat: ChatRef | None) -> int | None:
        return chat.id if isinstance(chat, FakeChat | FakeUser) else chat

    def _state(self, chat: ChatRef) -> _ChatState:
        chat_id = chat.id if isinstance(chat, FakeChat | FakeUser) else chat
        if chat_id not in self._chats:
            raise KeyError(f"unknown chat {chat_id}: register it first")
        return self._chats[chat_id]

    def _user(self, user: FakeUser | int) -> FakeUser:
        user_id = user.id if isinstance(user, FakeUser) else user
        if user_id not in self._users:
            raise KeyError(f"unknown user {user_id}: register it with add_user")
        return self._users[user_id]

    def _new_message(
        self,
        state: _ChatState,
        sender: FakeUser | None,
        *,
        extra: JSON,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
    ) -> StoredMessage:
        message_id, state.next_message_id = state.next_message_id, state.next_message_id + 1
        data: JSON = {"message_id": message_id}
        if sender is not None:
            data["from"] = sender.to_dict()
            if state.chat.type != "private" and not sender.is_bot:
                state.members.setdefault(sender.id, "member")
        data["chat"] = state.chat.to_dict()
        data["date"] = int(self.clock())
        if thread_id is not None:
            if thread_id not in state.topics:
                raise ValueError(f"no forum topic {thread_id} in chat {state.chat.id}")
            data["message_thread_id"] = thread_id
            data["is_topic_message"] = True
        reply_id = reply_to.message_id if isinstance(reply_to, StoredMessage) else reply_to
        if reply_id is None and thread_id is not None:
            reply_id = thread_id
        if reply_id is not None:
            replied = state.messages.get(reply_id)
            if replied is None:
                raise ValueError(f"no message {reply_id} in chat {state.chat.id}")
            data["reply_to_message"] = {k: v for k, v in replied.data.items() if k != "reply_to_message"}
        data.update(extra)
        message = StoredMessage(state.chat.id, message_id, sender is not None and sender.id == self.bot.id, data)
        message.thread_id = thread_id
        state.messages[message_id] = message
        self._cond.notify_all()
        return message

    def _visible_to_bot(self, state: _ChatState, message: StoredMessage) -> bool:
        if state.chat.type == "private":
            return not state.blocked
        if state.bot_status not in ("member", "administrator", "creator"):
            return False
        if not self.privacy_mode or state.bot_status in ("administrator", "creator"):
            return True
        data = message.data
        reply = data.get("reply_to_message")
        # In a forum topic every message "replies" to the topic's creation message: that is no reply.
        if (
            isinstance(reply, dict)
            and reply.get("message_id") != data.get("message_thread_id")
            and reply.get("from", {}).get("id") == self.bot.id
        ):
            return True
        text = data.get("text", "")
        username = (self.bot.username or "").lower()
        for entity in data.get("entities", []):
            start, length = entity["offset"], entity["length"]
            value = text.encode("utf-16-le")[2 * start : 2 * (start + length)].decode("utf-16-le")
            if entity["type"] == "bot_command" and start == 0:
                _, _, addressee = value.partition("@")
                if not addressee or addressee.lower() == username:
                    return True
            if entity["type"] == "mention" and value[1:].lower() == username:
                return True
        return False

    def _queue(self, kind: str, payload: JSON) -> None:
        self._updates.append({"update_id": self._next_update_id, kind: copy.deepcopy(payload)})
        self._next_update_id += 1
        self._cond.notify_all()

    def _chat_member(self, status: str, user: FakeUser) -> JSON:
        member: JSON = {"status": status, "user": user.to_dict()}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
            )
        elif status == "kicked":
            member["until_date"] = 0
        elif status == "restricted":
            member.update(
                is_member=True,
                can_send_messages=False,
                can_send_audios=False,
                can_send_documents=False,
                can_send_photos=False,
                can_send_videos=False,
                can_send_video_notes=False,
                can_send_voice_notes=False,
                can_send_polls=False,
                can_send_other_messages=False,
                can_add_web_page_previews=False,
                can_change_info=False,
                can_invite_users=False,
                can_pin_messages=False,
                can_manage_topics=False,
                until_date=0,
            )
        return member

    # --- internals: HTTP dispatch ----------------------------------------------------------------------------------

    def _serve(
        self, path: str, query: str, content_type: str, body: bytes, client_gone: Callable[[], bool]
    ) -> tuple[int, JSON]:
        """Answer one HTTP request: (status, Telegram-shaped JSON). Raises _Dropped to close the socket."""
        method, params = "", cast(JSON, {})
        try:
            match = re.fullmatch(r"/bot([^/]*)/([^/]*)", path)
            if match is None:
                raise _ApiError(404, "Not Found")
            token, method = match.groups()
            if token != self.token:
                raise _ApiError(401, "Unauthorized") if _TOKEN_SHAPE.fullmatch(token) else _ApiError(404, "Not Found")
            canonical = {name.lower(): name for name in METHODS}.get(method.lower())
            if canonical is None:
                raise _ApiError(404, "Not Found")
            method = canonical
            raw = dict(parse_qsl(query, keep_blank_values=True))
            raw.update(_parse_body(content_type, body))
            params = self._check_params(method, raw)
            if method == "getUpdates":
                result = self._get_updates(params, client_gone)  # waits without holding the lock
                with self._cond:
                    self.requests.append(RequestRecord(method, params, 200, None, time.monotonic()))
                    self._cond.notify_all()
                return 200, {"ok": True, "result": result}
            with self._cond:
                self._apply_fault(method, params)
                result = getattr(self, f"_api_{method}")(params)
                now = time.monotonic()
                self.requests.append(RequestRecord(method, params, 200, None, now))
                self.sent.append(SentCall(method, params, copy.deepcopy(result), now))
                self._cond.notify_all()
            return 200, {"ok": True, "result": result}
        except _ClientGone:
            raise
        except _Dropped:
            with self._cond:
                self.requests.append(RequestRecord(method, params, 0, "connection dropped", time.monotonic()))
                self._cond.notify_all()
            raise
        except Exception as error:  # a bug in the fake: answer 500 and keep it visible in requests
            if not isinstance(error, _ApiError):
                error = _ApiError(500, f"Internal Server Error: fake Telegram failed: {error!r}")
            answer: JSON = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                answer["parameters"] = error.parameters
            with self._cond:
                self.requests.append(RequestRecord(method, params, error.code, error.description, time.monotonic()))
                self._cond.notify_all()
            return error.code, answer

    def _check_params(self, method: str, raw: dict[str, Any]) -> JSON:
        table = {**METHODS[method], **LEGACY_PARAMS.get(method, {})}
        for name in raw:
            if name not in table:
                raise _ApiError(400, f'Bad Request: unknown parameter "{name}" for method {method}')
        for name, param in table.items():
            if param.required and name not in raw:
                raise _ApiError(400, _MISSING_DESCRIPTIONS.get(name, f'Bad Request: parameter "{name}" is required'))
        return {name: _coerce(name, value, table[name].types) for name, value in raw.items()}

    def _apply_fault(self, method: str, params: JSON) -> None:
        for fault in self._faults:
            if fault.method not in (method, "*") or (fault.method == "*" and method == "getUpdates"):
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            if fault.drop:
                raise _Dropped
            parameters = None
            if fault.retry_after is not None:
                parameters = {"retry_after": fault.retry_after}
                self.rate_limited.append(
                    RateLimitRecord(method, params.get("chat_id"), fault.retry_after, True, time.monotonic())
                )
            raise _ApiError(fault.error_code, fault.description, parameters)

    def _flood_check(self, method: str, state: _ChatState) -> None:
        limits = self.flood_limits
        if limits is None or method not in limits.methods:
            return
        if limits is not self._bucket_limits:
            self._buckets, self._bucket_limits = {}, limits
        now = time.monotonic()
        private = state.chat.type == "private"
        keys = [("global", 0), ("chat", state.chat.id)]
        for key in keys:
            if key not in self._buckets:
                if key[0] == "global":
                    self._buckets[key] = _Bucket(limits.global_per_second, limits.global_burst, now)
                elif private:
                    self._buckets[key] = _Bucket(limits.private_per_second, limits.private_burst, now)
                else:
                    self._buckets[key] = _Bucket(limits.group_per_minute / 60, limits.group_burst, now)
        wait = max(self._buckets[key].wait(now) for key in keys)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self.rate_limited.append(RateLimitRecord(method, state.chat.id, retry_after, False, now))
            raise _ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for key in keys:
            self._buckets[key].take()

    # --- internals: checks shared by methods -------------------------------------------------------------------

    def _resolve_chat(self, value: int | str) -> _ChatState:
        if isinstance(value, str):
            wanted = value.lstrip("@").lower()
            for candidate in self._chats.values():
                if candidate.chat.type != "private" and (candidate.chat.username or "").lower() == wanted:
                    return candidate
            raise _ApiError(400, "Bad Request: chat not found")
        state = self._chats.get(value)
        if state is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if state.migrated_to is not None:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": state.migrated_to},
            )
        return state

    def _writable_chat(self, value: int | str) -> _ChatState:
        state = self._resolve_chat(value)
        kind = state.chat.type
        if kind == "private":
            if state.blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if not state.started:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif state.bot_status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        elif state.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        elif kind == "channel" and state.bot_status not in ("administrator", "creator"):
            raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")
        return state

    def _check_thread(self, state: _ChatState, thread_id: int | None) -> None:
        if thread_id is not None and thread_id not in state.topics:
            raise _ApiError(400, "Bad Request: message thread not found")

    def _render(self, params: JSON) -> tuple[str, list[JSON]]:
        text: str = params["text"]
        mode = params.get("parse_mode")
        if mode:
            if mode.lower() == "html":
                try:
                    visible, entities = parse_html(text, strict=self.strict_html)
                except HtmlParseError as error:
                    raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
            elif mode.lower() in ("markdown", "markdownv2"):
                visible, entities = text, []  # not parsed by this fake: the bot speaks HTML
            else:
                raise _ApiError(400, "Bad Request: unsupported parse_mode")
        else:
            visible, entities = text, [dict(e) for e in params.get("entities") or []]
        # Telegram trims surrounding whitespace, then counts in UTF-16 code units.
        lead = utf16_len(visible) - utf16_len(visible.lstrip())
        visible = visible.strip()
        size = utf16_len(visible)
        if size == 0:
            raise _ApiError(400, "Bad Request: message text is empty")
        if size > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        trimmed = []
        for entity in entities:
            start = max(0, entity["offset"] - lead)
            end = min(size, entity["offset"] + entity["length"] - lead)
            if end > start:
                trimmed.append({**entity, "offset": start, "length": end - start})
        return visible, trimmed

    @staticmethod
    def _check_markup(markup: JSON | None) -> JSON | None:
        """The inline keyboard to attach to the message (None for reply keyboards), validated."""
        if markup is None or "inline_keyboard" not in markup:
            if markup is not None and not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
                raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _ApiError(
                400,
                'Bad Request: can\'t parse inline keyboard button: field "inline_keyboard" must be an Array of Array',
            )
        actions = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                   "callback_game", "pay")  # fmt: skip
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _ApiError(
                        400, 'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                chosen = [key for key in actions if key in button]
                if len(chosen) != 1:
                    raise _ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard",
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                        raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"(https?|tg)://\S", str(button["url"])):
                    raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID")
                if not button["text"]:
                    raise _ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        return markup

    # --- the Bot API methods ------------------------------------------------------------------------------------

    def _get_updates(self, params: JSON, client_gone: Callable[[], bool]) -> list[JSON]:
        offset = params.get("offset")
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = max(params.get("timeout", 0), 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self.webhook_url:
                raise _ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if "allowed_updates" in params:
                self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATE_TYPES
            while True:
                if client_gone():
                    raise _ClientGone  # an abandoned poll is no conflict and no failure
                if generation != self._poll_generation:
                    raise _ApiError(409, GETUPDATES_CONFLICT)
                # Updates of types the bot did not ask for are dropped, as Telegram does.
                self._updates = [u for u in self._updates if self._update_kind(u) in self._allowed_updates]
                if self._updates or self._closing:
                    return copy.deepcopy(self._updates[:limit])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(min(remaining, 0.1))

    @staticmethod
    def _update_kind(update: JSON) -> str:
        return next(key for key in update if key != "update_id")

    def _api_getMe(self, params: JSON) -> JSON:
        return {
            **self.bot.to_dict(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_sendMessage(self, params: JSON) -> JSON:
        state = self._writable_chat(params["chat_id"])
        thread_id = params.get("message_thread_id")
        self._check_thread(state, thread_id)
        visible, entities = self._render(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_id, allow_without = params.get("reply_to_message_id"), params.get("allow_sending_without_reply", False)
        reply = params.get("reply_parameters")
        if reply is not None:
            if not isinstance(reply.get("message_id"), int):
                raise _ApiError(400, "Bad Request: can't parse reply parameters JSON object")
            reply_id, allow_without = reply["message_id"], reply.get("allow_sending_without_reply", False)
            if reply.get("chat_id") not in (None, state.chat.id):
                raise _ApiError(400, "Bad Request: message to be replied not found")
        if reply_id is not None:
            replied = state.messages.get(reply_id)
            if replied is None or replied.deleted:
                if not allow_without:
                    raise _ApiError(400, "Bad Request: message to be replied not found")
                reply_id = None
        self._flood_check("sendMessage", state)
        extra: JSON = {"text": visible}
        if entities:
            extra["entities"] = entities
        if markup is not None:
            extra["reply_markup"] = markup
        if params.get("link_preview_options"):
            extra["link_preview_options"] = params["link_preview_options"]
        message = self._new_message(state, self.bot, extra=extra, thread_id=thread_id, reply_to=reply_id)
        message.text, message.source, message.parse_mode = visible, params["text"], params.get("parse_mode")
        return copy.deepcopy(message.data)

    def _api_editMessageText(self, params: JSON) -> JSON:
        if "inline_message_id" in params:
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        if "chat_id" not in params:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if "message_id" not in params:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        state = self._writable_chat(params["chat_id"])
        message = state.messages.get(params["message_id"])
        if message is None or message.deleted:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot or message.text is None:
            raise _ApiError(400, "Bad Request: message can't be edited")
        visible, entities = self._render(params)
        # Leaving out reply_markup removes the keyboard, as in Telegram.
        markup = self._check_markup(params.get("reply_markup"))
        if (visible, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise _ApiError(400, NOT_MODIFIED)
        self._flood_check("editMessageText", state)
        message.history.append(message.text)
        message.text, message.source, message.parse_mode = visible, params["text"], params.get("parse_mode")
        message.data["text"] = visible
        message.data.pop("entities", None)
        message.data.pop("reply_markup", None)
        if entities:
            message.data["entities"] = entities
        if markup is not None:
            message.data["reply_markup"] = markup
        message.data["edit_date"] = int(self.clock())
        return copy.deepcopy(message.data)

    def _api_deleteMessage(self, params: JSON) -> bool:
        state = self._resolve_chat(params["chat_id"])
        message = state.messages.get(params["message_id"])
        if message is None or message.deleted:
            raise _ApiError(400, "Bad Request: message to delete not found")
        if (
            not message.from_bot
            and state.chat.type != "private"
            and state.bot_status not in ("administrator", "creator")
        ):
            raise _ApiError(400, "Bad Request: message can't be deleted")
        message.deleted = True
        return True

    def _api_sendChatAction(self, params: JSON) -> bool:
        state = self._writable_chat(params["chat_id"])
        self._check_thread(state, params.get("message_thread_id"))
        if params["action"] not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_answerCallbackQuery(self, params: JSON) -> bool:
        query = self.callback_queries.get(params["callback_query_id"])
        if query is None or query.answered or time.monotonic() - query.created > self.callback_query_ttl:
            raise _ApiError(400, QUERY_TOO_OLD)
        if len(params.get("text") or "") > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered, query.answer_text = True, params.get("text")
        query.show_alert = bool(params.get("show_alert", False))
        return True

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope.get("type"), str):
            raise _ApiError(400, "Bad Request: can't parse scope JSON object")
        return json.dumps(scope, sort_keys=True), params.get("language_code", "")

    def _api_setMyCommands(self, params: JSON) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: too many commands")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(command.get("description"), str) or not 1 <= len(command["description"]) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _api_getMyCommands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _api_deleteMyCommands(self, params: JSON) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_deleteWebhook(self, params: JSON) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setWebhook(self, params: JSON) -> bool:
        url = params["url"]
        if url and not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_getWebhookInfo(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        return info

    def _api_getChatMember(self, params: JSON) -> JSON:
        state = self._resolve_chat(params["chat_id"])
        user = self._users.get(params["user_id"])
        if user is None:
            raise _ApiError(400, "Bad Request: user not found")
        if user.id == self.bot.id:
            status = state.bot_status if state.chat.type != "private" else "member"
        else:
            status = state.members.get(user.id, "left")
        return self._chat_member(status, user)

    def _api_getChat(self, params: JSON) -> JSON:
        state = self._resolve_chat(params["chat_id"])
        gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")
        return {
            **state.chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, False),
        }

    def _api_close(self, params: JSON) -> bool:
        return True

    def _api_logOut(self, params: JSON) -> bool:
        return True
