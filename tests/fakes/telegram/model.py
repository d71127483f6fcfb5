"""What tests see (users, chats, messages, calls, requests) and the fake's own bookkeeping (flood buckets, faults,
per-chat state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


from tests.fakes.telegram.spec import GETUPDATES_CONFLICT, JSON

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


#: Telegram's own figures (the default of every fake server).
TELEGRAM_FLOOD_LIMITS = FloodLimits()


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
