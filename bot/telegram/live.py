"""Getting an answer into a chat: sent at once, or streamed into one message that is edited as the model writes.

Telegram's rules that shape this module:

- Replies go to the asking message (``reply_parameters``) in the same forum topic (``message_thread_id``).
- HTML that Telegram still rejects ("Can't parse entities") is sent again as plain text, never dropped.
- Edits are flood-limited like messages: one message is edited at most every ``interval`` seconds (about 1.5 s
  in private chats, 3 s in groups, where 20 messages a minute is the limit), and never with the text it already
  has (Telegram answers "message is not modified").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.answering import Answer
from bot.html import escape, visible_text
from bot.telegram.render import render_answer, render_plain

log = logging.getLogger(__name__)

PLACEHOLDER = "🔎 Searching the archive…"
#: Streamed text is shown up to this many characters (the final rendering splits properly).
PARTIAL_LIMIT = 3800
EMPTY_ANSWER = "Sorry, I could not put an answer together. Please ask again."
PRIVATE_INTERVAL = 1.5
GROUP_INTERVAL = 3.0


@dataclass(frozen=True)
class Target:
    """Where an answer goes: the chat, its forum topic, and the message it replies to (groups only)."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None
    group: bool = False

    @classmethod
    def of(cls, message: Message) -> Target:
        """Answer ``message`` where it was written: in a group as a reply, in its forum topic if any."""
        group = message.chat.type != "private"
        # message_thread_id is also set on reply chains in ordinary groups, where sending with it fails.
        thread = message.message_thread_id if message.is_topic_message else None
        return cls(message.chat.id, thread, message.message_id if group else None, group)

    @property
    def interval(self) -> float:
        """The least time between two edits of one message here."""
        return GROUP_INTERVAL if self.group else PRIVATE_INTERVAL

    def reply_parameters(self) -> ReplyParameters | None:
        if self.reply_to is None:
            return None
        # The question may have been deleted meanwhile: answer anyway.
        return ReplyParameters(self.reply_to, allow_sending_without_reply=True)


def rendered(answer: Answer) -> list[str]:
    """The answer's HTML messages; never none (an empty answer would be a bug, but no reason to stay silent)."""
    return render_answer(answer) or [escape(EMPTY_ANSWER)]


def _plain(answer: Answer) -> list[str]:
    return render_plain(answer) or [EMPTY_ANSWER]


def is_parse_error(exc: BadRequest) -> bool:
    return "can't parse entities" in exc.message.lower() or "can't find end tag" in exc.message.lower()


def _not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


async def send_text(
    bot: Bot,
    target: Target,
    chunks: Sequence[str],
    *,
    keyboard: InlineKeyboardMarkup | None = None,
    plain: Callable[[], list[str]] | None = None,
    first: bool = True,
) -> list[Message]:
    """Send HTML ``chunks`` as messages, the first replying to the question, ``keyboard`` under the last.

    Args:
        plain: the plain-text rendering to send instead when Telegram rejects the first chunk's HTML; a later
            chunk that is rejected goes out as its visible text.
        first: whether these messages start the answer (only the first message is a reply).

    Raises:
        telegram.error.Forbidden: the chat blocked or removed the bot.
    """
    sent: list[Message] = []
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        try:
            sent.append(
                await bot.send_message(
                    target.chat_id,
                    chunk,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=target.thread_id,
                    reply_parameters=target.reply_parameters() if first and i == 0 else None,
                    reply_markup=keyboard if last else None,
                )
            )
        except BadRequest as exc:
            if not is_parse_error(exc):
                raise
            log.warning("Telegram rejected the HTML (%s): sending plain text", exc.message)
            rest = plain() if i == 0 and plain is not None else [visible_text(c) for c in chunks[i:]]
            return sent + await _send_plain(bot, target, rest, keyboard, first=first and i == 0)
    return sent


async def _send_plain(
    bot: Bot, target: Target, chunks: Sequence[str], keyboard: InlineKeyboardMarkup | None, *, first: bool
) -> list[Message]:
    sent = []
    for i, chunk in enumerate(chunks):
        sent.append(
            await bot.send_message(
                target.chat_id,
                chunk,
                parse_mode=None,
                message_thread_id=target.thread_id,
                reply_parameters=target.reply_parameters() if first and i == 0 else None,
                reply_markup=keyboard if i == len(chunks) - 1 else None,
            )
        )
    return sent


async def send_answer(
    bot: Bot, target: Target, answer: Answer, keyboard: InlineKeyboardMarkup | None = None
) -> list[Message]:
    """An answer rendered as Telegram HTML (split at 4096 characters), with a plain-text fallback."""
    return await send_text(bot, target, rendered(answer), keyboard=keyboard, plain=lambda: _plain(answer))


class LiveAnswer:
    """One message that shows the answer as it grows, then becomes the final rendering.

    Args:
        bot: the bot that sends and edits.
        target: where the answer goes.
        interval: least seconds between two edits (``target.interval`` unless given).
        clock: monotonic seconds; ``sleep``: waits (seams for tests).
    """

    def __init__(
        self,
        bot: Bot,
        target: Target,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.target = target
        self.interval = target.interval if interval is None else interval
        self.clock = clock
        self.sleep = sleep
        self.message: Message | None = None
        self.shown = ""  # the HTML the message holds now
        self.last_edit = float("-inf")

    async def open(self, placeholder: str = PLACEHOLDER) -> None:
        """Send the placeholder the answer will replace."""
        self.message = await self.bot.send_message(
            self.target.chat_id,
            escape(placeholder),
            parse_mode=ParseMode.HTML,
            message_thread_id=self.target.thread_id,
            reply_parameters=self.target.reply_parameters(),
        )
        self.shown = escape(placeholder)
        self.last_edit = self.clock()

    async def show(self, partial: str) -> None:
        """Show the answer so far, unless the last edit was less than ``interval`` ago or nothing changed."""
        if self.message is None or self.clock() - self.last_edit < self.interval:
            return
        text = partial.strip()
        if len(text) > PARTIAL_LIMIT:
            text = text[:PARTIAL_LIMIT]
        html = escape(text) + " …" if text else self.shown
        await self._edit(html, None)

    async def close(self, answer: Answer, keyboard: InlineKeyboardMarkup | None = None) -> list[Message]:
        """Replace the placeholder with the answer's final rendering; further parts follow as new messages."""
        return await self.finish(rendered(answer), keyboard, plain=lambda: _plain(answer))

    async def finish(
        self,
        chunks: Sequence[str],
        keyboard: InlineKeyboardMarkup | None = None,
        *,
        plain: Callable[[], list[str]] | None = None,
    ) -> list[Message]:
        """Replace the placeholder with the first of ``chunks`` (HTML); the others follow as new messages.
        ``plain``: the plain-text rendering for when Telegram rejects the HTML."""
        if self.message is None:
            return await send_text(self.bot, self.target, chunks, keyboard=keyboard, plain=plain)
        wait = self.interval - (self.clock() - self.last_edit)
        if wait > 0:
            await self.sleep(wait)
        try:
            edited = await self._edit(chunks[0], keyboard if len(chunks) == 1 else None, final=True)
        except BadRequest as exc:
            if not is_parse_error(exc):
                log.info("cannot edit the placeholder (%s): sending the answer as new messages", exc.message)
                return await send_text(self.bot, self.target, chunks, keyboard=keyboard, plain=plain)
            log.warning("Telegram rejected the HTML (%s): sending plain text", exc.message)
            text = plain() if plain is not None else [visible_text(c) for c in chunks]
            edited = await self._edit(text[0], keyboard if len(text) == 1 else None, final=True, parse_mode=None)
            rest = await _send_plain(self.bot, self.target, text[1:], keyboard, first=False)
            return [edited, *rest]
        rest = await send_text(self.bot, self.target, chunks[1:], keyboard=keyboard, first=False)
        return [edited, *rest]

    async def _edit(
        self,
        html: str,
        keyboard: InlineKeyboardMarkup | None,
        *,
        final: bool = False,
        parse_mode: str | None = ParseMode.HTML,
    ) -> Message:
        assert self.message is not None
        if html == self.shown and keyboard is None:
            return self.message  # Telegram refuses an edit that changes nothing
        try:
            result = await self.bot.edit_message_text(
                html,
                chat_id=self.target.chat_id,
                message_id=self.message.message_id,
                parse_mode=parse_mode,
                reply_markup=keyboard,
            )
        except BadRequest as exc:
            if _not_modified(exc):
                return self.message
            if final:
                raise
            log.info("streaming edit failed (%s): the final answer will still replace it", exc.message)
            return self.message
        finally:
            self.last_edit = self.clock()
        self.shown = html
        if isinstance(result, Message):
            self.message = result
        return self.message
