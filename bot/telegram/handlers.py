"""Telegram handlers: thin, typed, one idea each; the work is done by the services the CLI uses too.

``bot.telegram.app`` registers them; ``context.services`` (``bot.telegram.services``) carries the archive, the
asker, the state, the settings and the access rules. Questions and answers live in
``bot.telegram.conversation``, digest settings in ``bot.telegram.subscriptions``, admin commands in
``bot.telegram.admin``.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import ChatMigrated, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.html import escape, link, split_html_blocks
from bot.telegram.live import Target, send_text
from bot.telegram.services import BotContext, Services
from index.archive import Archive

log = logging.getLogger(__name__)

LATEST_DEFAULT, LATEST_MAX = 5, 20


def where(message: Message) -> tuple[int, int | None]:
    """The chat and forum topic a message belongs to (the key of a conversation)."""
    return message.chat.id, message.message_thread_id if message.is_topic_message else None


async def reply(update: Update, text: str) -> None:
    """Answer the update's message with HTML ``text`` (split if long), in its topic, as a reply in groups."""
    message = update.effective_message
    if message is not None:
        await send_text(message.get_bot(), Target.of(message), split_html_blocks(text.split("\n\n")))


# -- who is talking to whom (handler group -2) -----------------------------------------------------------------


async def note_chat(update: Update, context: BotContext) -> None:
    """Record the chat a message came from; a user who writes again after blocking the bot has unblocked it."""
    chat = update.effective_chat
    if update.message is not None and chat is not None and chat.type != ChatType.CHANNEL:
        s = context.services
        was_active = s.state.is_active(chat.id)
        s.state.seen_chat(chat.id, chat.type, chat.title or chat.full_name)
        if not was_active:
            replan(s, chat.id)


def replan(s: Services, *chat_ids: int) -> None:
    """Plan the chats' digests again after they came back, left or moved (nothing for unsubscribed chats)."""
    if s.digests is not None:
        for chat_id in chat_ids:
            s.digests.plan(chat_id)


async def my_chat_member(update: Update, context: BotContext) -> None:
    """Record the bot being added to, removed from or blocked in a chat."""
    change = update.my_chat_member
    if change is None:
        return
    chat, status = change.chat, change.new_chat_member.status
    state = context.services.state
    if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
        state.deactivate(chat.id, "blocked" if chat.type == ChatType.PRIVATE else status, chat_type=chat.type)
        replan(context.services, chat.id)
        log.info("removed from chat %s (%s): %s", chat.id, chat.type, status)
    else:
        state.chat_added(chat.id, chat.type, chat.title or chat.full_name)
        replan(context.services, chat.id)
        log.info("added to chat %s (%s) as %s", chat.id, chat.type, status)
    raise ApplicationHandlerStop


async def migrated(update: Update, context: BotContext) -> None:
    """Move a group's state to the supergroup it became."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    context.services.state.migrate_chat(old, new)
    replan(context.services, old, new)
    log.info("group %s became supergroup %s: its conversation moved along", old, new)
    raise ApplicationHandlerStop


# -- access (handler group -1) ---------------------------------------------------------------------------------


def addressed_to_bot(message: Message, username: str, bot_id: int) -> bool:
    """Whether a message is for the bot: anything in private; in groups a command, a mention or a reply."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    replied = message.reply_to_message
    # In forum topics every message "replies" to the topic's first message: that is no reply to the bot.
    if (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == bot_id
        and not (message.is_topic_message and replied.message_id == message.message_thread_id)
    ):
        return True
    for entity, value in message.parse_entities([MessageEntityType.BOT_COMMAND, MessageEntityType.MENTION]).items():
        if entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
            _, _, addressee = value.partition("@")
            if not addressee or addressee.lower() == username.lower():
                return True
        if entity.type == MessageEntityType.MENTION and value[1:].lower() == username.lower():
            return True
    return False


async def gate(update: Update, context: BotContext) -> None:
    """Let through only those the allow-lists admit; tell anyone else once per chat, then stay quiet."""
    s = context.services
    user, chat = update.effective_user, update.effective_chat
    query = update.callback_query
    if query is not None:
        if not s.access.may_ask(user.id if user else None, chat.id if chat else 0):
            await query.answer("Sorry, this bot is private.")
            raise ApplicationHandlerStop
        return
    message = update.message
    if message is None or chat is None or chat.type == ChatType.CHANNEL:
        raise ApplicationHandlerStop  # edited messages, channel posts: not asked for, not answered
    if user is not None and user.is_bot and message.sender_chat is None:
        # Never talk to other bots: two bots can answer each other forever. (Anonymous group admins write as
        # @GroupAnonymousBot with the group as sender_chat: they are people.)
        raise ApplicationHandlerStop
    if s.access.may_ask(user.id if user else None, chat.id):
        return
    addressed = addressed_to_bot(message, context.bot.username, context.bot.id)
    if addressed and user is not None and s.state.first_refusal(chat.id, user.id):
        log.info("refused user %s in chat %s", user.id, chat.id)
        if chat.type == ChatType.PRIVATE:
            text = (
                "Sorry, this bot is private. If you should have access, ask its owner to add your user id "
                f"<code>{user.id}</code> to BRIEFBOT_ALLOWED_USERS."
            )
        else:
            text = "Sorry, I only answer in chats my owner has allowed, or to people on my list."
        await reply(update, text)
    raise ApplicationHandlerStop


# -- commands --------------------------------------------------------------------------------------------------


def _archive_summary(archive: Archive) -> str:
    articles, _ = archive.catalog.counts()
    if not articles:
        return "The archive is empty so far: an admin can add articles with /ingest URL."
    outlets = len(archive.catalog.sources())
    _, newest = archive.catalog.date_range()
    when = f", the newest from {newest.date().isoformat()}" if newest else ""
    return f"The archive holds <b>{articles}</b> articles from {outlets} outlets{when}."


def _how_to_ask(message: Message, username: str) -> str:
    if message.chat.type == ChatType.PRIVATE:
        return "Just ask, e.g. <i>What happened with the sanctions this week?</i>"
    return (
        f"In groups, ask with <code>/ask@{escape(username)} your question</code>, mention @{escape(username)}, "
        "or reply to one of my answers."
    )


async def start(update: Update, context: BotContext) -> None:
    """/start: what the bot does, what it holds, how to ask."""
    message = update.effective_message
    if message is None:
        return
    s = context.services
    name = escape(update.effective_user.first_name) if update.effective_user else "there"
    await reply(
        update,
        f"Hi {name}! I answer questions about the news in my archive, quoting the articles and linking every "
        f"source.\n\n{_archive_summary(s.archive)}\n\n{_how_to_ask(message, context.bot.username)}\n\n"
        "/latest – newest headlines · /sources – outlets · /help – all commands",
    )


async def help_command(update: Update, context: BotContext) -> None:
    """/help: the commands, and how to ask in groups."""
    message = update.effective_message
    if message is None:
        return
    s = context.services
    lines = [
        _how_to_ask(message, context.bot.username),
        "I answer from the archive only, with numbered sources; follow-up questions remember the last few "
        "turns of this chat.",
        "/ask <i>question</i> – ask (the way to ask in groups)\n"
        "/latest [n] – the newest headlines\n"
        "/sources – the outlets in the archive\n"
        "/reset – forget this conversation\n"
        "/whoami – your user, chat and topic ids",
        "<b>Digests</b>\n"
        "/brief [topic] [time] – the top stories now, e.g. <i>/brief sanctions this week</i>\n"
        "/subscribe [HH:MM] – a daily digest here (default 08:00) · /unsubscribe\n"
        "/timezone Europe/Berlin – your time zone (or an offset: +02:00)\n"
        "/follow TOPIC · /unfollow TOPIC – topics that come first · /topics\n"
        "/alert TOPIC – new articles about it as they come in · /settings",
    ]
    if s.access.is_admin(update.effective_user.id if update.effective_user else None):
        lines.append("Admin: /ingest URL – add a page or feed · /addfeed URL · /feeds · /removefeed URL · /stats")
    await reply(update, "\n\n".join(lines))


async def sources(update: Update, context: BotContext) -> None:
    """/sources: the outlets in the archive with their article counts."""
    outlets = context.services.archive.catalog.sources()
    if not outlets:
        await reply(update, "The archive is empty so far.")
        return
    lines = [f"• {escape(name or 'unknown')} – {n}" for name, n in list(outlets.items())[:50]]
    more = f"\n…and {len(outlets) - 50} more" if len(outlets) > 50 else ""
    await reply(update, f"<b>{len(outlets)} outlets</b>, articles each:\n" + "\n".join(lines) + more)


def headline(n: int, title: str, url: str, source: str, published: str) -> str:
    title_html = link(url, escape(title.strip() or url))
    meta = " · ".join(p for p in (escape(source), published) if p)
    return f"{n}. {title_html}" + (f" · {meta}" if meta else "")


async def latest(update: Update, context: BotContext) -> None:
    """/latest [n]: the newest headlines, linked."""
    args = context.args or []
    if len(args) > 1 or (args and not args[0].isdigit()):
        await reply(update, f"Usage: /latest [n], e.g. /latest 10 (at most {LATEST_MAX}).")
        return
    n = min(max(int(args[0]) if args else LATEST_DEFAULT, 1), LATEST_MAX)
    articles = context.services.archive.catalog.latest(n)
    if not articles:
        await reply(update, "The archive is empty so far.")
        return
    lines = [
        headline(i, a.title, a.url, a.source, a.published.date().isoformat() if a.published else "")
        for i, a in enumerate(articles, start=1)
    ]
    await reply(update, "<b>Latest</b>\n\n" + "\n\n".join(lines))


async def whoami(update: Update, context: BotContext) -> None:
    """/whoami: the user, chat and topic ids (what the allow-lists need)."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    s = context.services
    chat_id, thread = where(message)
    lines = []
    if user is not None:
        handle = f" (@{escape(user.username)})" if user.username else ""
        lines.append(f"User id: <code>{user.id}</code>{handle}")
    chat = message.chat
    title = f" “{escape(chat.title)}”" if chat.title else ""
    lines.append(f"Chat id: <code>{chat_id}</code> ({chat.type}{title})")
    if thread is not None:
        lines.append(f"Topic id: <code>{thread}</code>")
    user_id = user.id if user else None
    lines.append(
        f"May ask here: {'yes' if s.access.may_ask(user_id, chat_id) else 'no'}; "
        f"admin: {'yes' if s.access.is_admin(user_id) else 'no'}"
    )
    await reply(update, "\n".join(lines))


async def reset(update: Update, context: BotContext) -> None:
    """/reset: forget this chat's (and topic's) conversation."""
    message = update.effective_message
    if message is None:
        return
    s = context.services
    chat_id, thread = where(message)
    async with s.conversation(chat_id, thread):
        s.state.reset(chat_id, thread)
    await reply(update, "Done: I have forgotten our conversation here. Ask me anything.")


async def unknown_command(update: Update, context: BotContext) -> None:
    """Any other command in a private chat."""
    await reply(update, "I don't know that command: /help lists what I can do.")


async def not_text(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice... in a private chat: say that questions are text."""
    await reply(update, "I read text only: send me your question as a message.")


# -- errors ----------------------------------------------------------------------------------------------------


async def on_error(update: object, context: BotContext) -> None:
    """The one error handler: the log gets the traceback, the user a short apology."""
    error = context.error
    s = context.services
    chat = update.effective_chat if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        if chat is not None:
            s.state.deactivate(chat.id, "forbidden", chat_type=chat.type)
        log.info("Telegram refused a send (%s): chat marked inactive", error.message)
        return
    if isinstance(error, ChatMigrated) and chat is not None:
        s.state.migrate_chat(chat.id, error.new_chat_id)
        log.info("chat %s moved to %s", chat.id, error.new_chat_id)
        return
    log.error("error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_message is None or chat is None:
        return
    if update.callback_query is not None or not s.state.is_active(chat.id):
        return
    try:
        await reply(update, "Sorry, something went wrong on my side. Please try again in a moment.")
    except TelegramError as exc:
        log.warning("could not send the apology either: %s", exc)
