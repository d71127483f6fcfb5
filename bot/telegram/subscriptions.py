"""Digest subscriptions and briefings in Telegram: /subscribe, /unsubscribe, /timezone, /follow, /unfollow,
/topics, /settings, /brief and /alert.

Settings live in the bot's state (``bot.state``), so they survive restarts; each change re-plans the chat's next
digest (``bot.schedule.DigestScheduler.plan``). In groups only the group's administrators (or the bot's admins)
change them; anyone may read them and ask for a /brief. A group subscription posts into the forum topic where
/subscribe was sent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import Update
from telegram.constants import ChatAction, ChatMemberStatus, ChatType
from telegram.error import TelegramError

from bot.ask import QuestionError
from bot.delivery.alerts import ALERTS_PER_HOUR
from bot.digest import Briefing, render_digest
from bot.html import escape
from bot.state import Subscription
from bot.telegram.handlers import reply, where
from bot.telegram.live import Target, send_text
from bot.telegram.services import BotContext, Services
from bot.zones import ZoneError, local_clock, parse_local_time, parse_timezone
from index.terms import query_terms

log = logging.getLogger(__name__)

MAX_TOPICS = 20
MAX_TOPIC_CHARS = 60
TZ_HINT = (
    "Telegram doesn't tell me your time zone, so I use UTC: set yours with /timezone Europe/Berlin "
    "(or an offset, e.g. /timezone +02:00)."
)


def _quote(topic: str) -> str:
    return f"“{escape(topic)}”"


def chat_settings(s: Services, chat_id: int) -> Subscription:
    """The chat's digest settings (zone, time, followed topics), the defaults when it set none."""
    return s.state.subscription(chat_id) or Subscription(
        chat_id, False, s.settings.digest_default_time, "UTC", None, None, ()
    )


async def may_change(update: Update, context: BotContext) -> bool:
    """True in private chats, and in groups for the group's administrators and the bot's admins; anyone else
    is told who may."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return False
    chat = message.chat
    if chat.type == ChatType.PRIVATE or context.services.access.is_admin(user.id if user else None):
        return True
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous administrator writes as the group itself
    if user is not None:
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
        except TelegramError as exc:
            log.warning("cannot check the admins of chat %s: %s", chat.id, exc)
        else:
            if member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR):
                return True
    await reply(update, "Only this group's administrators can change its digest settings.")
    return False


def _plan(context: BotContext, chat_id: int) -> datetime | None:
    digests = context.services.digests
    return digests.plan(chat_id) if digests is not None else None


def _next_line(sub: Subscription, next_at: datetime | None) -> str:
    return f"Next: {local_clock(next_at, sub.tz)}." if next_at else ""


def _text_after_command(context: BotContext) -> str:
    return " ".join(context.args or []).strip()


def _topic_problem(topic: str) -> str | None:
    if not topic:
        return "a topic"
    if len(topic) > MAX_TOPIC_CHARS:
        return f"a shorter topic (at most {MAX_TOPIC_CHARS} characters)"
    if not query_terms(topic):
        return "a topic with a real word in it"
    return None


# -- subscribing -----------------------------------------------------------------------------------------------


async def subscribe(update: Update, context: BotContext) -> None:
    """/subscribe [HH:MM]: a daily digest here at that local time (default 08:00)."""
    message = update.effective_message
    if message is None or not await may_change(update, context):
        return
    s = context.services
    try:
        local_time = parse_local_time(_text_after_command(context) or s.settings.digest_default_time)
    except ZoneError as exc:
        await reply(update, escape(str(exc)))
        return
    chat_id, thread = where(message)
    user = update.effective_user
    sub = s.state.subscribe(chat_id, local_time, thread_id=thread, by=user.id if user else None)
    next_at = _plan(context, chat_id)
    here = " in this topic" if thread is not None else ""
    lines = [
        f"✅ Subscribed: the day's top stories{here} every day at <b>{local_time}</b> ({escape(sub.tz)}).",
        _next_line(sub, next_at),
    ]
    if sub.tz == "UTC":
        lines.append(TZ_HINT)
    lines.append("/follow TOPIC puts what you care about first · /brief gives you one now · /settings shows all")
    await reply(update, "\n".join(line for line in lines if line))


async def unsubscribe(update: Update, context: BotContext) -> None:
    """/unsubscribe: no more daily digests here (time zone and topics are kept)."""
    message = update.effective_message
    if message is None or not await may_change(update, context):
        return
    s = context.services
    user = update.effective_user
    chat_id = message.chat.id
    if s.state.unsubscribe(chat_id, by=user.id if user else None):
        _plan(context, chat_id)
        await reply(update, "Unsubscribed: no more daily digests here. /subscribe brings them back.")
    else:
        await reply(update, "This chat is not subscribed. /subscribe [HH:MM] starts a daily digest.")


async def timezone_command(update: Update, context: BotContext) -> None:
    """/timezone ZONE: the chat's time zone (IANA name or UTC offset) for digest times and /brief's days."""
    message = update.effective_message
    if message is None:
        return
    s = context.services
    chat_id = message.chat.id
    text = _text_after_command(context)
    if not text:
        sub = chat_settings(s, chat_id)
        await reply(
            update,
            f"The time zone here is <b>{escape(sub.tz)}</b> (it is {local_clock(s.clock(), sub.tz, with_zone=False)} "
            "there now). "
            "Change it with /timezone Europe/Berlin, or an offset such as /timezone +02:00 or /timezone UTC-5.",
        )
        return
    if not await may_change(update, context):
        return
    try:
        name = parse_timezone(text)
    except ZoneError as exc:
        await reply(update, escape(str(exc)))
        return
    user = update.effective_user
    s.state.set_timezone(chat_id, name, by=user.id if user else None, default_time=s.settings.digest_default_time)
    sub = chat_settings(s, chat_id)
    next_at = _plan(context, chat_id)
    there = local_clock(s.clock(), name, with_zone=False)
    lines = [f"🕗 Time zone set to <b>{escape(name)}</b> (it is {there} there)."]
    if sub.subscribed:
        lines.append(f"Your digest comes at {sub.local_time} {escape(name)}. {_next_line(sub, next_at)}")
    else:
        lines.append("/subscribe [HH:MM] starts a daily digest at that time.")
    await reply(update, "\n".join(lines))


# -- topics ----------------------------------------------------------------------------------------------------


async def follow(update: Update, context: BotContext) -> None:
    """/follow TOPIC: stories about it come first in this chat's digests."""
    message = update.effective_message
    if message is None or not await may_change(update, context):
        return
    s = context.services
    topic = _text_after_command(context)
    problem = _topic_problem(topic)
    if problem:
        await reply(update, f"Usage: /follow TOPIC, e.g. /follow interest rates (I need {problem}).")
        return
    chat_id = message.chat.id
    if len(s.state.topics(chat_id, "follow")) >= MAX_TOPICS:
        await reply(update, f"You follow {MAX_TOPICS} topics already: /unfollow one first.")
        return
    if s.state.add_topic(chat_id, "follow", topic):
        await reply(update, f"Following {_quote(topic)}: stories about it come first in your digests. /topics")
    else:
        await reply(update, f"Already following {_quote(topic)}. /topics lists what you follow.")


async def unfollow(update: Update, context: BotContext) -> None:
    """/unfollow TOPIC: stop putting it first."""
    message = update.effective_message
    if message is None or not await may_change(update, context):
        return
    topic = _text_after_command(context)
    if not topic:
        await reply(update, "Usage: /unfollow TOPIC (/topics lists them).")
        return
    if context.services.state.remove_topic(message.chat.id, "follow", topic):
        await reply(update, f"Stopped following {_quote(topic)}.")
    else:
        await reply(update, f"You don't follow {_quote(topic)}: /topics lists what you follow.")


def _topics_text(s: Services, chat_id: int) -> str:
    followed, alerts = s.state.topics(chat_id, "follow"), s.state.topics(chat_id, "alert")
    lines = []
    if followed:
        lines.append("<b>Followed</b> (first in your digests):\n" + "\n".join(f"• {escape(t)}" for t in followed))
    else:
        lines.append("No followed topics: /follow TOPIC puts stories about it first in your digests.")
    if alerts:
        lines.append("<b>Alerts</b> (new articles pushed at once):\n" + "\n".join(f"• {escape(t)}" for t in alerts))
    else:
        lines.append("No alerts: /alert TOPIC pushes new articles about it as they come in.")
    return "\n\n".join(lines)


async def topics(update: Update, context: BotContext) -> None:
    """/topics: the followed topics and alert topics of this chat."""
    message = update.effective_message
    if message is not None:
        await reply(update, _topics_text(context.services, message.chat.id))


async def settings_command(update: Update, context: BotContext) -> None:
    """/settings: this chat's digest time, zone, topic, followed topics and alerts."""
    message = update.effective_message
    if message is None:
        return
    s = context.services
    sub = chat_settings(s, message.chat.id)
    if sub.subscribed:
        where_ = f" in forum topic {sub.thread_id}" if sub.thread_id is not None else ""
        next_at = s.digests.next_run(sub.chat_id) if s.digests is not None else None
        head = f"<b>Daily digest</b>: on, at {sub.local_time} ({escape(sub.tz)}){where_}. {_next_line(sub, next_at)}"
    else:
        head = f"<b>Daily digest</b>: off (/subscribe [HH:MM] turns it on). Time zone: {escape(sub.tz)}."
    lines = [head, _topics_text(s, sub.chat_id)]
    if sub.tz == "UTC":
        lines.append(TZ_HINT)
    await reply(update, "\n\n".join(lines))


async def alert(update: Update, context: BotContext) -> None:
    """/alert TOPIC: push new articles about TOPIC as they come in; /alert off [TOPIC] stops."""
    message = update.effective_message
    if message is None:
        return
    s = context.services
    chat_id, thread = where(message)
    text = _text_after_command(context)
    if not text:
        await reply(
            update,
            _topics_text(s, chat_id) + "\n\nUsage: /alert TOPIC starts alerts, /alert off TOPIC stops one, "
            "/alert off stops all.",
        )
        return
    if not await may_change(update, context):
        return
    first, _, rest = text.partition(" ")
    if first.lower() == "off":
        removed = s.state.remove_topic(chat_id, "alert", rest.strip() or None)
        what = _quote(rest.strip()) if rest.strip() else "every topic"
        await reply(update, f"Alerts off for {what}." if removed else "No such alert: /alert lists them.")
        return
    problem = _topic_problem(text)
    if problem:
        await reply(update, f"Usage: /alert TOPIC, e.g. /alert sanctions (I need {problem}).")
        return
    if len(s.state.topics(chat_id, "alert")) >= MAX_TOPICS:
        await reply(update, f"This chat has {MAX_TOPICS} alerts already: /alert off TOPIC one first.")
        return
    if not s.state.add_topic(chat_id, "alert", text, thread_id=thread):
        await reply(update, f"Alerts for {_quote(text)} are already on.")
        return
    polled = f" (feeds are polled every {s.settings.poll_minutes:g} minutes)" if s.settings.poll_minutes else ""
    await reply(
        update,
        f"🔔 Alerts on for {_quote(text)}: when a new article about it comes in{polled}, I post it here, "
        f"at most {ALERTS_PER_HOUR} an hour. /alert off {escape(text)} stops them.",
    )


# -- on demand -------------------------------------------------------------------------------------------------


async def brief(update: Update, context: BotContext) -> None:
    """/brief [topic] [time window]: the top stories now ("/brief sanctions this week"; plain: the last 24 h)."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    s = context.services
    text = _text_after_command(context)
    try:
        s.asker.check(text or "/brief")
    except QuestionError:
        await reply(update, f"That is too long: at most {s.settings.max_question_chars} characters, please.")
        return
    user_id = user.id if user else message.chat.id
    wait = s.limiter.wait(user_id)
    if wait:
        if s.limiter.should_tell(user_id, wait):
            await reply(update, f"One moment: please try again in {max(1, round(wait))} seconds.")
        return
    target = Target.of(message)
    try:
        await context.bot.send_chat_action(target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id)
    except TelegramError as exc:
        log.debug("typing indicator failed: %s", exc)
    sub = chat_settings(s, message.chat.id)
    result = await s.asker.brief(text, now=s.clock(), tz=sub.tz, topics=sub.topics)
    assert result.briefing is not None
    await send_text(context.bot, target, brief_messages(result.briefing))


def brief_messages(briefing: Briefing) -> list[str]:
    """A briefing as Telegram messages: a title naming the period (and topic), then the stories."""
    topic, label = briefing.topic, briefing.label
    about = f" about “{topic}”" if topic else ""
    empty = f"Nothing{{about}} in the archive for {_braces(label)}."
    if topic:
        empty += f" Try a longer window, e.g. /brief {_braces(topic)} this week."
    return render_digest(briefing.digest, title=f"Top stories{about} · {label}", empty_text=empty)


def _braces(text: str) -> str:
    """``text`` safe inside a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")
