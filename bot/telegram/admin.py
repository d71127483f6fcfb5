"""Admin commands: /ingest, /addfeed, /feeds, /removefeed, /stats, for the ids in ``BRIEFBOT_ADMINS``.

They call the services ``briefbot ingest``, ``briefbot feeds`` and ``briefbot stats`` call. URLs sent from a chat
may not reach private, loopback or link-local addresses (``Fetcher(public_only=...)``) unless
``BRIEFBOT_ALLOW_PRIVATE_URLS`` is set, and must be http(s): a chat never names a file on the bot's machine.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update

from bot.html import escape
from bot.settings import Settings
from bot.telegram.handlers import headline, reply
from bot.telegram.services import BotContext
from index.archive import Archive
from index.errors import SourceError
from index.feed_registry import FeedRegistry
from index.feeds import looks_like_feed
from index.fetch import Fetcher
from index.ingest import ingest
from index.sources import read_sources

log = logging.getLogger(__name__)


async def require_admin(update: Update, context: BotContext) -> bool:
    """True for an admin; anyone else is told politely, and nothing happens."""
    user = update.effective_user
    if context.services.access.is_admin(user.id if user else None):
        return True
    await reply(update, "Sorry, that command is for the bot's admins.")
    return False


def _url_argument(context: BotContext) -> str | None:
    args = context.args or []
    if len(args) != 1 or not args[0].lower().startswith(("http://", "https://")):
        return None
    return args[0]


def ingest_url(archive: Archive, settings: Settings, url: str) -> str:
    """Fetch and index one page or feed; the report as Telegram HTML. Blocking: run it in a thread."""

    with Fetcher(settings, public_only=not settings.allow_private_urls) as fetcher:
        report = ingest(archive, read_sources([url], settings, fetcher=fetcher))
    lines = []
    added = archive.catalog.articles(report.new_article_ids)
    if added:
        lines.append(f"<b>Added {len(added)}</b>")
    for n, article in enumerate(list(added.values())[:5], start=1):
        day = article.published.date().isoformat() if article.published else ""
        lines.append(headline(n, article.title, article.url, article.source, day))
    if len(added) > 5:
        lines.append(f"…and {len(added) - 5} more")
    if report.updated:
        lines.append(f"Updated: {report.updated}")
    if report.unchanged:
        lines.append(f"Already in the archive: {report.unchanged}")
    for error in report.failed[:3]:
        lines.append(f"Could not ingest {escape(error.source)}: {escape(error.reason)}")
    if len(report.failed) > 3:
        lines.append(f"…and {len(report.failed) - 3} more failures")
    articles, _ = archive.catalog.counts()
    lines.append(f"The archive now holds {articles} articles.")
    return "\n".join(lines)


async def ingest_command(update: Update, context: BotContext) -> None:
    """/ingest URL: fetch and index a page or feed (admins only)."""
    if not await require_admin(update, context):
        return
    url = _url_argument(context)
    if url is None:
        await reply(update, "Usage: /ingest https://… (a web page or an RSS/Atom feed)")
        return
    s = context.services
    async with s.ingest_lock:  # one writer at a time; questions keep being answered meanwhile
        text = await asyncio.to_thread(ingest_url, s.archive, s.settings, url)
    await reply(update, text)


def add_feed(archive: Archive, settings: Settings, url: str) -> str:
    """Check that ``url`` is a reachable feed, then register it; the reply as HTML. Blocking."""

    try:
        with Fetcher(settings, public_only=not settings.allow_private_urls) as fetcher:
            result = fetcher.fetch(url)
        if not looks_like_feed(result.content):
            raise SourceError(url, "not an RSS or Atom feed")
        feed = FeedRegistry(archive.catalog.db).add(url)
    except SourceError as exc:
        return f"Could not add {escape(url)}: {escape(exc.reason)}"
    every = f" It is polled every {settings.poll_minutes:g} minutes." if settings.poll_minutes else ""
    return f"Added feed {escape(feed.url)}.{every}"


async def addfeed(update: Update, context: BotContext) -> None:
    """/addfeed URL: register an RSS/Atom feed for polling (admins only)."""
    if not await require_admin(update, context):
        return
    url = _url_argument(context)
    if url is None:
        await reply(update, "Usage: /addfeed https://…/feed.xml")
        return
    s = context.services
    await reply(update, await asyncio.to_thread(add_feed, s.archive, s.settings, url))


async def feeds(update: Update, context: BotContext) -> None:
    """/feeds: the registered feeds and how their polls went (admins only)."""
    if not await require_admin(update, context):
        return

    rows = FeedRegistry(context.services.archive.catalog.db).list()
    if not rows:
        await reply(update, "No feeds registered: /addfeed URL adds one.")
        return
    lines = []
    for f in rows:
        polled = f.last_polled.strftime("%Y-%m-%d %H:%M") if f.last_polled else "never"
        status = "paused" if f.paused else "active"
        error = f"\n  last error: {escape(f.last_error)}" if f.last_error else ""
        lines.append(f"• {escape(f.url)}\n  {status}, last polled {polled}, {f.failures} failures{error}")
    await reply(update, f"<b>{len(rows)} feeds</b>\n" + "\n".join(lines))


async def removefeed(update: Update, context: BotContext) -> None:
    """/removefeed URL: stop polling a feed (admins only)."""
    if not await require_admin(update, context):
        return

    args = context.args or []
    if len(args) != 1:
        await reply(update, "Usage: /removefeed URL (see /feeds)")
        return
    removed = FeedRegistry(context.services.archive.catalog.db).remove(args[0])
    await reply(update, f"Removed {escape(args[0])}." if removed else f"No such feed: {escape(args[0])}")


async def stats(update: Update, context: BotContext) -> None:
    """/stats: what the archive holds and how the bot is used (admins only)."""
    if not await require_admin(update, context):
        return
    s = context.services
    st = await asyncio.to_thread(s.archive.stats)
    used = s.state.stats()
    dates = f"{st.oldest.date()} .. {st.newest.date()}" if st.oldest and st.newest else "no dates"
    await reply(
        update,
        f"<b>Archive</b>: {st.articles} articles in {st.passages} passages, {len(st.sources)} outlets, {dates}; "
        f"embeddings: {escape(st.embedding_model)}\n"
        f"<b>Chats</b>: {used['active_chats']} active ({used['groups']} groups) of {used['chats']} known\n"
        f"<b>Questions answered</b>: {used['answers']}; feedback: {used['helpful']} helpful, "
        f"{used['not_helpful']} not helpful",
    )
