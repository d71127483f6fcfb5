"""The fake server itself: its state, lifecycle, reading back what the bot did, waiting, and injected faults.
The methods tests script with come from ``script``, the Bot API it serves from ``botapi``."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telegram.ext import ApplicationBuilder


from tests.fakes.telegram.botapi import _BotApi
from tests.fakes.telegram.model import (
    _DEFAULT_DESCRIPTIONS,
    TELEGRAM_FLOOD_LIMITS,
    ChatRef,
    FakeCallbackQuery,
    FakeChat,
    FakeUser,
    FloodLimits,
    RateLimitRecord,
    RequestRecord,
    SentCall,
    StoredMessage,
    _Bucket,
    _ChatState,
    _Fault,
)
from tests.fakes.telegram.script import _Scripting
from tests.fakes.telegram.spec import DEFAULT_TOKEN, DEFAULT_UPDATE_TYPES, JSON, T
from tests.fakes.telegram.wire import _HTTPServer


class FakeTelegram(_Scripting, _BotApi):
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
        flood_limits: FloodLimits | None = TELEGRAM_FLOOD_LIMITS,
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
