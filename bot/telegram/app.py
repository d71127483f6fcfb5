"""The one place that wires the Telegram application: services, handlers in their groups, defaults, logging.

``build_application`` makes the ``Application`` (tests drive it against a fake Bot API server);
``run_bot`` runs it: long polling by default, webhook mode when ``BRIEFBOT_WEBHOOK_URL`` is set.
"""

from __future__ import annotations

import os

# PTB 22 warns when it builds RetryAfter (on every 429) unless its time periods are timedeltas; it must be set
# before telegram is imported.
os.environ.setdefault("PTB_TIMEDELTA", "1")

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.answering import AnswerEngine, make_llm
from bot.ask import Asker
from bot.delivery.alerts import poll_feeds
from bot.delivery.schedule import DigestScheduler, JobQueueTimer, utc_now
from bot.settings import Settings
from bot.state import State
from bot.telegram import admin, conversation, handlers, subscriptions
from bot.telegram.access import Access, RateLimiter
from bot.telegram.services import CONTEXT_TYPES, App, BotContext, Services
from bot.telegram.webhook import webhook_options
from index.archive import Archive
from index.errors import BriefbotError, ConfigError
from index.maintenance import PruneReport, prune

log = logging.getLogger(__name__)

#: The update types the bot asks Telegram for. Edited messages and channel posts are not among them: an
#: edited question is not answered again (the answer to the first version stands), and channels are not chats.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]

#: When the daily prune (``BRIEFBOT_RETENTION_DAYS``) first runs after a start: after the start's catch-up digests.
PRUNE_FIRST = timedelta(minutes=5)

#: Updates handled at once. Each chat still gets one question at a time (``Services.conversation``).
CONCURRENT_UPDATES = 16

DIGEST_COMMANDS = [
    BotCommand("brief", "Top stories now: /brief [topic] [time]"),
    BotCommand("subscribe", "A daily digest: /subscribe [HH:MM]"),
    BotCommand("unsubscribe", "Stop the daily digest"),
    BotCommand("timezone", "Your time zone: /timezone Europe/Berlin"),
    BotCommand("follow", "Put a topic first: /follow TOPIC"),
    BotCommand("unfollow", "Stop following a topic"),
    BotCommand("topics", "Followed topics and alerts"),
    BotCommand("alert", "New articles on a topic: /alert TOPIC"),
    BotCommand("settings", "This chat's digest settings"),
]
PRIVATE_COMMANDS = [
    BotCommand("start", "What I can do"),
    BotCommand("help", "How to ask, all commands"),
    BotCommand("latest", "The newest headlines: /latest [n]"),
    BotCommand("sources", "The outlets in the archive"),
    BotCommand("reset", "Forget our conversation"),
    BotCommand("whoami", "Your user and chat ids"),
    *DIGEST_COMMANDS,
]
GROUP_COMMANDS = [
    BotCommand("ask", "Ask the news archive: /ask question"),
    BotCommand("latest", "The newest headlines: /latest [n]"),
    BotCommand("sources", "The outlets in the archive"),
    BotCommand("reset", "Forget this chat's conversation"),
    BotCommand("help", "How to ask"),
    BotCommand("whoami", "User, chat and topic ids"),
    *DIGEST_COMMANDS,
]


# -- logging -----------------------------------------------------------------------------------------------------

_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
_BARE_TOKEN = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}")


class RedactToken(logging.Filter):
    """Removes bot tokens (``bot<digits>:<secret>`` in URLs, and the bare token) from every record, the
    exception text included: httpx logs request URLs, and PTB puts the token in InvalidToken's message."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self.tokens = {token} if token else set()

    def redact(self, text: str) -> str:
        for token in self.tokens:
            text = text.replace(token, "<redacted>")
        return _BARE_TOKEN.sub("<redacted>", _TOKEN_IN_URL.sub("bot<redacted>", text))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_log_redaction(token: str) -> RedactToken:
    """Put the redaction filter on every handler of the root logger (once), and quiet httpx."""
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.getLogger(noisy).level, logging.WARNING))
    root = logging.getLogger()
    found: RedactToken | None = None
    for handler in root.handlers:
        existing = next((f for f in handler.filters if isinstance(f, RedactToken)), None)
        if existing is None:
            existing = found or RedactToken(token)
            handler.addFilter(existing)
        if token:
            existing.tokens.add(token)
        found = existing
    return found or RedactToken(token)


# -- the application -------------------------------------------------------------------------------------------


def build_application(
    settings: Settings,
    *,
    archive: Archive | None = None,
    engine: AnswerEngine | None = None,
    clock: Callable[[], datetime] | None = None,
) -> App:
    """The bot, wired: services in ``bot_data["services"]``, handlers, defaults, flood limits, digest jobs.

    Args:
        settings: the token, the Bot API URL, access lists and limits, the home (state lives there).
        archive: an open ``Archive`` to use (default: open the one under ``settings.home``; closed at shutdown).
        engine: an ``AnswerEngine`` to use (default: one over ``archive``, with the configured LLM if any).
        clock: the current aware UTC time (default: the real one; tests move it).

    Raises:
        ConfigError: no bot token.
    """
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token "
            "(`briefbot chat` answers in the terminal without one)"
        )
    install_log_redaction(token)
    owns_archive, owns_engine = archive is None, engine is None
    archive = archive if archive is not None else Archive(settings)
    engine = engine if engine is not None else AnswerEngine(archive, settings, llm=make_llm(settings))
    clock = clock or utc_now
    state = State(settings.state_path, clock=clock)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .context_types(CONTEXT_TYPES)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(_post_init)
        .post_shutdown(close_services)
        .build()
    )
    services = app.bot_data.services = Services(
        settings=settings,
        archive=archive,
        engine=engine,
        asker=Asker(engine, settings),
        state=state,
        access=Access.from_settings(settings, aliases=state.migrated_from),
        limiter=RateLimiter(settings.rate_limit_per_minute),
        owns_archive=owns_archive,
        owns_engine=owns_engine,
        clock=clock,
    )
    if app.job_queue is not None:
        services.digests = DigestScheduler(
            state=state,
            archive=archive,
            settings=settings,
            bot=app.bot,
            timer=JobQueueTimer(app.job_queue),
            clock=clock,
            gate=services.gate,
            llm=engine.llm,
        )
    register_handlers(app)
    return app


def register_handlers(app: App) -> None:
    """The handlers, in groups. Within a group the first matching handler wins; every group gets its turn, in
    order, until a handler raises ``ApplicationHandlerStop``. So the order is what makes the rules hold."""
    message = filters.UpdateType.MESSAGE  # never edited messages or channel posts
    private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS

    # -2: bookkeeping first, for every update, allowed or not: a kick, a block or a migration must be recorded
    # even in chats the allow-lists do not cover.
    app.add_handler(ChatMemberHandler(handlers.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER), group=-2)
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrated), group=-2)
    app.add_handler(TypeHandler(Update, handlers.note_chat), group=-2)

    # -1: access. Stops anything from users and chats the allow-lists do not admit (after one polite refusal),
    # and everything the bot did not ask for, before any handler below can answer.
    app.add_handler(TypeHandler(Update, handlers.gate), group=-1)

    # 0: the conversation. Commands before text handlers: "/ask@bot" is text too.
    commands = {
        "start": handlers.start,
        "help": handlers.help_command,
        "ask": conversation.ask,
        "sources": handlers.sources,
        "latest": handlers.latest,
        "whoami": handlers.whoami,
        "reset": handlers.reset,
        "ingest": admin.ingest_command,
        "addfeed": admin.addfeed,
        "feeds": admin.feeds,
        "removefeed": admin.removefeed,
        "stats": admin.stats,
        "brief": subscriptions.brief,
        "subscribe": subscriptions.subscribe,
        "unsubscribe": subscriptions.unsubscribe,
        "timezone": subscriptions.timezone_command,
        "follow": subscriptions.follow,
        "unfollow": subscriptions.unfollow,
        "topics": subscriptions.topics,
        "settings": subscriptions.settings_command,
        "alert": subscriptions.alert,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=message))
    app.add_handler(MessageHandler(message & private & filters.COMMAND, handlers.unknown_command))
    app.add_handler(MessageHandler(message & private & filters.TEXT, conversation.private_text))
    app.add_handler(MessageHandler(message & groups & filters.TEXT & ~filters.COMMAND, conversation.group_text))
    app.add_handler(MessageHandler(message & private & ~filters.StatusUpdate.ALL, handlers.not_text))
    # Every button press is answered, the ones of an older version of the bot too ("expired").
    app.add_handler(CallbackQueryHandler(conversation.feedback_button))

    app.add_error_handler(handlers.on_error)


async def _post_init(app: App) -> None:
    # The command menus users see: everything in private chats, the group-safe subset in groups.
    await app.bot.set_my_commands(PRIVATE_COMMANDS, scope=BotCommandScopeAllPrivateChats())
    await app.bot.set_my_commands(GROUP_COMMANDS, scope=BotCommandScopeAllGroupChats())
    log.info("connected as @%s", app.bot.username)
    s = app.bot_data.services
    assert s is not None
    if s.digests is not None:
        s.digests.start()  # every subscription planned again from the database; missed ones caught up
    if app.job_queue is not None and s.settings.poll_minutes > 0:
        every = timedelta(minutes=s.settings.poll_minutes)
        app.job_queue.run_repeating(_poll_job, interval=every, first=min(every, timedelta(minutes=1)), name="poll")
    if app.job_queue is not None and s.settings.retention_days:
        app.job_queue.run_repeating(_prune_job, interval=timedelta(days=1), first=PRUNE_FIRST, name="prune")


async def _poll_job(context: BotContext) -> None:
    """Poll the registered feeds, ingest what is new, push alerts."""
    s = context.services
    await poll_feeds(
        state=s.state,
        archive=s.archive,
        settings=s.settings,
        bot=context.bot,
        lock=s.ingest_lock,
        clock=s.clock,
        gate=s.gate,
    )


async def _prune_job(context: BotContext) -> None:
    await apply_retention(context.services)


async def apply_retention(s: Services) -> PruneReport | None:
    """Prune the archive to ``BRIEFBOT_RETENTION_DAYS`` (the daily job): in a thread, so questions keep being
    answered, and after any ingest in hand. None when retention is off or the prune failed (logged; the next day
    tries again, and what a failed batch left is recovered on the next start)."""
    cutoff = s.settings.retention_cutoff(s.clock())
    if cutoff is None:
        return None
    try:
        async with s.ingest_lock:
            report = await asyncio.to_thread(prune, s.archive, cutoff)
    except BriefbotError as exc:
        log.warning("the daily prune failed: %s", exc)
        return None
    if report.articles:
        log.info(
            "pruned %d articles dated before %s (%d passages, %d vectors, %d cache entries)",
            report.articles,
            cutoff.date(),
            report.passages,
            report.vectors,
            report.cache_entries,
        )
    return report


async def close_services(app: App) -> None:
    """Close the state database, and the archive and the LLM client when the application opened them."""
    s = app.bot_data.services
    if s is not None:
        s.state.close()
        if s.owns_engine and s.engine.llm is not None:
            await s.engine.llm.client.close()
        if s.owns_archive:
            s.archive.close()


def run_bot(settings: Settings) -> None:
    """Run the bot until SIGINT or SIGTERM: long polling, or webhook mode when ``settings.webhook_url`` is set.

    Raises:
        ConfigError: no token, or Telegram rejected it.
        BriefbotError: the Bot API could not be reached at start.
    """
    app = build_application(settings)
    assert app.bot_data.services is not None
    access = app.bot_data.services.access
    (log.warning if access.is_open else log.info)(access.describe())
    try:
        if settings.webhook_url:
            options = webhook_options(settings)
            log.info(
                "webhook mode: listening on %s:%d for %s", options["listen"], options["port"], settings.webhook_url
            )
            # run_webhook, like run_polling, stops on SIGINT and SIGTERM after the updates in hand.
            app.run_webhook(**options, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
        else:
            log.info("long polling %s", urlsplit(settings.telegram_api_url).netloc)
            # run_polling stops on SIGINT, SIGTERM and SIGABRT: it finishes the updates in hand, then returns.
            app.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
    except InvalidToken:
        raise ConfigError("Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN") from None
    except NetworkError as exc:
        reason = RedactToken().redact(str(exc))
        raise BriefbotError(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: {reason}") from None
