"""Questions and answers: the handlers that take a question (/ask, private text, mentions and replies in groups),
check the limits, and answer from the archive with the chat's last turns, a typing indicator, citations and
feedback buttons; and the feedback buttons' handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, MessageEntityType
from telegram.error import Forbidden, TelegramError

from bot.answering import Answer, QuestionContext
from bot.ask import QuestionError, Reply
from bot.html import escape
from bot.state import Turn
from bot.telegram.handlers import addressed_to_bot, reply, where
from bot.telegram.live import LiveAnswer, Target, send_answer, send_text
from bot.telegram.services import BotContext, Services
from bot.telegram.subscriptions import brief_messages, chat_settings

log = logging.getLogger(__name__)

FEEDBACK = re.compile(r"^fb:(\d{1,18}):([01])$")


def _without_mentions(message: Message, username: str) -> str:
    """The message text with the bot's @mentions taken out."""
    text = message.text or ""
    for entity, value in sorted(
        message.parse_entities([MessageEntityType.MENTION]).items(), key=lambda kv: -kv[0].offset
    ):
        if value[1:].lower() == username.lower():
            start = len(text.encode("utf-16-le")[: 2 * entity.offset].decode("utf-16-le"))
            text = text[:start] + text[start + len(value) :]
    return re.sub(r"\s+", " ", text).strip(" ,:;-–—")


async def ask(update: Update, context: BotContext) -> None:
    """/ask question: the way to ask in groups (and it works in private too)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    command = next(iter(message.parse_entities([MessageEntityType.BOT_COMMAND]).values()), "")
    question = message.text[len(command) :].strip()
    if not question:
        await reply(update, f"Ask me something after the command, e.g. <code>{escape(command)} what is new?</code>")
        return
    await answer_question(update, context, question)


async def private_text(update: Update, context: BotContext) -> None:
    """Any text in a private chat is a question."""
    message = update.effective_message
    if message is not None and message.text:
        await answer_question(update, context, message.text)


async def group_text(update: Update, context: BotContext) -> None:
    """Text in a group: answered only when it mentions the bot or replies to it (privacy mode's rules)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    if not addressed_to_bot(message, context.bot.username, context.bot.id):
        return  # the bot sees every message where it is an administrator: the rest is not for it
    question = _without_mentions(message, context.bot.username)
    if not question:
        await reply(update, "Yes? Ask me a question about the news.")
        return
    await answer_question(update, context, question)


def feedback_keyboard(feedback_id: int) -> InlineKeyboardMarkup:
    """👍/👎 buttons whose callback_data (at most 64 bytes) names the feedback row."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍 Helpful", callback_data=f"fb:{feedback_id}:1"),
                InlineKeyboardButton("👎 Not helpful", callback_data=f"fb:{feedback_id}:0"),
            ]
        ]
    )


async def answer_question(update: Update, context: BotContext, question: str) -> None:
    """Check the limits, then reply from the archive, with the chat's context, citations and feedback buttons: an
    answer, or the period's top stories when the question asks for the news as a whole."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    s = context.services
    try:
        question = s.asker.check(question)
    except QuestionError:
        await reply(
            update,
            f"That question is too long ({len(question.strip())} characters; the limit is "
            f"{s.settings.max_question_chars}). Could you shorten it?",
        )
        return
    user_id = user.id if user else message.chat.id
    wait = s.limiter.wait(user_id)
    if wait:
        if s.limiter.should_tell(user_id, wait):
            await reply(
                update,
                f"You are asking faster than I can answer well ({s.settings.rate_limit_per_minute} questions a "
                f"minute). Please try again in {max(1, round(wait))} seconds.",
            )
        return
    chat_id, thread = where(message)
    target = Target.of(message)
    async with s.conversation(chat_id, thread):
        history = s.state.turns(chat_id, thread, s.settings.history_turns)
        typing = asyncio.Event()
        context.application.create_task(_keep_typing(context, target, typing), update=update)
        try:
            answer = await _reply_and_send(context, s, target, message, question, history)
        except Forbidden:
            s.state.deactivate(chat_id, "blocked", chat_type=message.chat.type)
            log.info("chat %s blocked or removed the bot: marked inactive", chat_id)
            return
        finally:
            typing.set()
        # A briefing is remembered one story a line, so "tell me more about the second story" can follow.
        s.state.add_turn(chat_id, thread, question, answer.text)


async def _reply_and_send(
    context: BotContext, s: Services, target: Target, message: Message, question: str, history: list[Turn]
) -> Answer:
    user_id = message.from_user.id if message.from_user else None
    sub = chat_settings(s, target.chat_id)
    live: LiveAnswer | None = None
    if s.engine.llm is not None:
        # A model takes seconds: a placeholder at once, edited with the verified part of the answer as it grows.
        live = LiveAnswer(context.bot, target)
        await live.open()
    final: Reply | None = None
    stream = s.asker.stream(question, QuestionContext(history=history), now=s.clock(), tz=sub.tz, topics=sub.topics)
    async for item in stream:
        if isinstance(item, Reply):
            final = item
        elif live is not None:
            await live.show(item)
    assert final is not None
    answer = final.answer
    if final.briefing is not None:
        # "What happened this week?": the week's top stories, as /brief shows them.
        messages = brief_messages(final.briefing)
        await (live.finish(messages) if live else send_text(context.bot, target, messages))
        return answer
    feedback_id = s.state.add_feedback(
        target.chat_id, user_id, message.message_id, question, answer.text, [p.passage_id for p in answer.passages]
    )
    keyboard = feedback_keyboard(feedback_id)
    sent = await (live.close(answer, keyboard) if live else send_answer(context.bot, target, answer, keyboard))
    if sent:
        s.state.set_feedback_message(feedback_id, sent[-1].message_id)
    return answer


async def _keep_typing(context: BotContext, target: Target, done: asyncio.Event) -> None:
    # Telegram shows "typing…" for 5 seconds per call: renew it until the answer is out.
    while not done.is_set():
        try:
            await context.bot.send_chat_action(target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id)
        except TelegramError as exc:
            log.debug("typing indicator failed: %s", exc)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 4.5)


async def feedback_button(update: Update, context: BotContext) -> None:
    """👍/👎 under an answer: store the vote, answer the callback query (exactly once)."""
    query = update.callback_query
    if query is None:
        return
    match = FEEDBACK.match(query.data or "")
    text = "This button has expired."
    try:
        if match and query.message is not None:
            row = context.services.state.vote(int(match[1]), query.message.chat.id, query.from_user.id, match[2] == "1")
            if row is not None:
                text = "Thanks, noted: helpful." if row.helpful else "Thanks, noted: not helpful."
    except Exception:
        log.exception("storing feedback failed")
        text = "Sorry, I could not store that."
    await query.answer(text)
