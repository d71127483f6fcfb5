"""The test's side of the conversation: registering users, chats and topics, and the updates they send the bot
(messages, button presses, membership changes, migrations)."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


from tests.fakes.telegram.model import ChatRef, FakeCallbackQuery, FakeChat, FakeUser, StoredMessage, _ChatState
from tests.fakes.telegram.parse_mode import auto_entities
from tests.fakes.telegram.spec import JSON


class _Scripting:
    """Scripting users, chats and incoming updates (mixed into ``FakeTelegram``)."""

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
