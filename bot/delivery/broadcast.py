"""Digests into chats: composing a chat's digest (the stories since its last one), delivering it through
``bot.delivery`` (never twice, within the flood limits), and ``send_due_digests``, the broadcast behind
``briefbot digest --send`` and the bench: every subscribed chat gets its current local day's digest unless it has
it, chats with the same window and topics sharing one composed digest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot
from telegram.request import HTTPXRequest

from bot.delivery.outbox import DeliveryLog, FloodGate, Outcome, deliver
from bot.digest import Digest, SummaryModel, compose_digest_async, render_digest
from bot.settings import Settings
from bot.state import State, Subscription
from bot.zones import zone
from index.archive import Archive
from index.errors import ConfigError

log = logging.getLogger(__name__)

#: A digest covers at most this much, however long ago the last one went out.
MAX_WINDOW = timedelta(days=7)
FIRST_WINDOW = timedelta(hours=24)
#: Chats served at once in a broadcast: enough to hide request latency; the gate sets the pace.
WORKERS = 8

DigestCache = dict[tuple[datetime, datetime, tuple[str, ...]], "asyncio.Task[Digest]"]


def digest_title(period: str) -> str:
    day = datetime.fromisoformat(period)
    return f"Your news briefing · {day.strftime('%A')} {day.day} {day.strftime('%B')}"


async def deliver_digest(
    bot: Bot,
    state: State,
    archive: Archive,
    settings: Settings,
    sub: Subscription,
    *,
    period: str,
    until: datetime,
    gate: FloodGate,
    llm: SummaryModel | None = None,
    cache: DigestCache | None = None,
) -> Outcome:
    """The chat's digest for ``period`` (its local date): the stories from its last delivered digest (the first
    time: 24 hours before, at most ``MAX_WINDOW``) to ``until``, followed topics first, into the subscribed forum
    topic."""

    async def make() -> tuple[list[str], datetime | None, datetime | None]:
        since = DeliveryLog(state).last_digest_until(sub.chat_id) or until - FIRST_WINDOW
        since = min(max(since, until - MAX_WINDOW), until - timedelta(seconds=1))
        key = (since, until, sub.topics)
        task = cache.get(key) if cache is not None else None
        if task is None:
            task = asyncio.ensure_future(
                compose_digest_async(
                    archive,
                    since=since,
                    until=until,
                    topics=sub.topics,
                    max_stories=settings.digest_max_stories,
                    llm=llm,
                    timeout=settings.llm_timeout,
                    max_tokens=settings.llm_summary_max_tokens,
                )
            )
            if cache is not None:
                cache[key] = task
        digest = await asyncio.shield(task)
        if digest.empty and settings.digest_skip_empty:
            return [], since, until
        return (
            render_digest(digest, title=digest_title(period), empty_text="No new stories since {since}."),
            since,
            until,
        )

    return await deliver(
        bot, state, gate, chat_id=sub.chat_id, kind="digest", period=period, thread_id=sub.thread_id, make=make
    )


@dataclass
class BroadcastReport:
    """What ``send_due_digests`` did."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    rate_limited: int = 0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def messages(self) -> int:
        return sum(len(o.message_ids) for o in self.outcomes)

    def as_json(self) -> dict[str, object]:
        return {
            "chats": len(self.outcomes),
            **{s: self.count(s) for s in ("sent", "empty", "duplicate", "blocked", "partial", "failed")},
            "messages": self.messages,
            "rate_limited": self.rate_limited,
            "seconds": round(self.seconds, 3),
            "deliveries": [
                {"chat_id": o.chat_id, "period": o.period, "status": o.status, "message_ids": list(o.message_ids)}
                | ({"error": o.error} if o.error else {})
                for o in self.outcomes
            ],
        }


async def send_due_digests(
    bot: Bot,
    state: State,
    archive: Archive,
    settings: Settings,
    *,
    now: datetime,
    gate: FloodGate | None = None,
    llm: SummaryModel | None = None,
    workers: int = WORKERS,
) -> BroadcastReport:
    """Deliver to every subscribed chat the digest of its current local day, unless it has it already (what
    ``briefbot digest --send`` does). Chats sharing a window and topics share one composed digest."""
    gate = gate or FloodGate()
    started = time.perf_counter()
    report = BroadcastReport()
    queue: asyncio.Queue[Subscription] = asyncio.Queue()
    for sub in state.subscribed_chats():
        queue.put_nowait(sub)
    cache: DigestCache = {}

    async def work() -> None:
        while not queue.empty():
            sub = queue.get_nowait()
            period = now.astimezone(zone(sub.tz)).date().isoformat()
            try:
                outcome = await deliver_digest(
                    bot, state, archive, settings, sub, period=period, until=now, gate=gate, llm=llm, cache=cache
                )
            except Exception as exc:
                log.exception("digest to chat %s failed", sub.chat_id)
                outcome = Outcome(sub.chat_id, "digest", period, "failed", error=repr(exc))
            report.outcomes.append(outcome)

    await asyncio.gather(*(work() for _ in range(max(1, workers))))
    report.outcomes.sort(key=lambda o: o.chat_id)
    report.seconds = time.perf_counter() - started
    report.rate_limited = gate.rate_limited
    return report


def make_bot(settings: Settings) -> ExtBot[None]:
    """A Bot API client outside the Application (for ``briefbot digest --send``), with a connection pool large
    enough for a broadcast's concurrent sends."""
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: digests are sent through your bot")
    return ExtBot(
        token,
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)),
        request=HTTPXRequest(connection_pool_size=WORKERS * 2),
    )
