"""Feed polling and alerts: the bot polls the registered feeds, ingests what is new, and pushes each new article
that matches a chat's /alert topic into that chat, once, at most ``ALERTS_PER_HOUR`` an hour."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.delivery.outbox import DeliveryLog, FloodGate, Outcome, deliver
from bot.delivery.schedule import Clock, utc_now
from bot.digest import LEAD_CHARS, lead_summary, matches_topic
from bot.html import escape, link
from bot.settings import Settings
from bot.state import AlertTopic, State
from index.archive import Archive
from index.feed_registry import FeedRegistry, poll
from index.fetch import Fetcher
from index.ingest import ingest

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)

#: Alerts one chat gets per hour at most; more matches in the hour are dropped (and logged).
ALERTS_PER_HOUR = 5
#: Articles older than this when a poll brings them in (a newly added feed's back catalogue) raise no alert.
ALERT_MAX_AGE = timedelta(hours=48)


@dataclass(frozen=True)
class PollResult:
    added: int
    failed: int
    alerts: list[Outcome]


def _poll_once(archive: Archive, settings: Settings, now: datetime | None = None) -> tuple[list[str], int]:
    # Feeds may have been added from a chat, and feeds link to pages: the bot's polls reach public addresses
    # only, unless the operator allows private ones (`briefbot poll` from the shell is not restricted).
    # Entries older than the retention period are not taken in: they would be pruned again the next day.
    not_before = settings.retention_cutoff(now or datetime.now(UTC))
    with Fetcher(settings, public_only=not settings.allow_private_urls) as fetcher:
        report = ingest(archive, poll(FeedRegistry(archive.catalog.db), fetcher, settings), not_before=not_before)
    for error in report.failed:
        log.warning("feed poll: %s: %s", error.source, error.reason)
    return report.new_article_ids, len(report.failed)


async def poll_feeds(
    *,
    state: State,
    archive: Archive,
    settings: Settings,
    bot: Bot,
    lock: asyncio.Lock,
    clock: Clock = utc_now,
    gate: FloodGate | None = None,
) -> PollResult:
    """Poll every registered feed once, ingest what is new (in a thread, one writer at a time), and push an
    alert for each new article that matches a chat's /alert topic."""
    async with lock:
        new_ids, failed = await asyncio.to_thread(_poll_once, archive, settings, clock())
    outcomes = await send_alerts(bot, state, archive, new_ids, now=clock(), gate=gate or FloodGate())
    if new_ids or failed:
        log.info("feed poll: %d new articles, %d failures, %d alerts", len(new_ids), failed, len(outcomes))
    return PollResult(len(new_ids), failed, outcomes)


def alert_text(topics: Sequence[str], title: str, url: str, source: str, published: datetime | None, text: str) -> str:
    """A short cited alert: the topics, the linked headline, its lead, the outlet and time."""
    head = link(url, escape(title.strip() or url))
    when = published.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if published else ""
    about = ", ".join(f"“{escape(t)}”" for t in topics)
    meta = " · ".join(p for p in (escape(source.strip()), when) if p)
    return f"🔔 <b>Alert: {about}</b>\n<b>{head}</b>\n{escape(lead_summary(text, 300))}\n<i>{meta}</i>"


async def send_alerts(
    bot: Bot,
    state: State,
    archive: Archive,
    article_ids: Sequence[str],
    *,
    now: datetime,
    gate: FloodGate,
    max_age: timedelta = ALERT_MAX_AGE,
) -> list[Outcome]:
    """An alert per (chat, new article) whose title or lead matches one of the chat's alert topics: once per
    article and chat (the delivery log), at most ``ALERTS_PER_HOUR`` per chat, none for articles published more
    than ``max_age`` before ``now``."""
    watches = state.alert_topics()
    if not watches or not article_ids:
        return []
    articles = archive.catalog.articles(article_ids)
    matches: dict[tuple[int, str], list[AlertTopic]] = {}
    for article in articles.values():
        if article.published is not None and now - article.published > max_age:
            continue
        for watch in watches:
            if matches_topic(watch.topic, article.title, article.text[:LEAD_CHARS]):
                matches.setdefault((watch.chat_id, article.id), []).append(watch)
    delivery_log, outcomes = DeliveryLog(state), []
    for (chat_id, article_id), found in matches.items():
        if delivery_log.count_since(chat_id, "alert", now - timedelta(hours=1)) >= ALERTS_PER_HOUR:
            log.info("alert limit reached for chat %s: article %s not pushed", chat_id, article_id)
            continue
        a = articles[article_id]
        text = alert_text([w.topic for w in found], a.title, a.url, a.source, a.published, a.text)

        async def messages(text: str = text) -> tuple[list[str], None, None]:
            return [text], None, None

        outcomes.append(
            await deliver(
                bot,
                state,
                gate,
                chat_id=chat_id,
                kind="alert",
                period=article_id,
                thread_id=found[0].thread_id,
                make=messages,
            )
        )
    return outcomes
