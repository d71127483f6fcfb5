"""When digests go out, and feed polling with its alerts.

Each subscribed chat gets one digest per local day at its own HH:MM in its own zone. Telegram never tells a bot
the user's zone and PTB's JobQueue reads naive times as UTC, so nothing here is naive: the next run is computed
from (local time, zone) with ``zoneinfo`` for the right calendar day, which is what makes daylight saving right
(08:00 Europe/Berlin is 06:00 UTC in summer and 07:00 UTC in winter), and is scheduled as a one-off job at that
aware instant; after it runs, the chat's next run is computed the same way. On start every subscription is
planned again from the database, and a digest missed while the bot was down is sent at once if it is at most
``settings.digest_late_hours`` late (else skipped). The delivery log (``bot.delivery``) makes a second send of
the same local day impossible, whichever trigger fires twice.

Two seams make this testable without waiting for real days: ``Clock`` (the current aware UTC time) and
``Timer`` (``JobQueueTimer`` runs callbacks on PTB's JobQueue; tests fire them by hand).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Protocol

from bot.broadcast import DigestCache, deliver_digest
from bot.delivery import DeliveryLog, FloodGate, Outcome, deliver
from bot.render import escape
from bot.settings import Settings
from bot.state import AlertTopic, State
from index.archive import Archive

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import CallbackContext, JobQueue

    from bot.digest import SummaryModel

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: A digest that fires at most this late still ends its window at its due instant (so that the chats due then
#: share one composed digest); a later one (a catch-up) ends it when it runs.
SHARED_WINDOW_SLACK = timedelta(minutes=5)
#: Alerts one chat gets per hour at most; more matches in the hour are dropped (and logged).
ALERTS_PER_HOUR = 5
#: Articles older than this when a poll brings them in (a newly added feed's back catalogue) raise no alert.
ALERT_MAX_AGE = timedelta(hours=48)


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- zones and local times -------------------------------------------------------------------------------------

_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm)?", re.IGNORECASE)


class ZoneError(ValueError):
    """A time zone or local time the user typed that does not exist; the message says what would work."""


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_timezone(text: str) -> str:
    """The canonical name of a zone the user typed: an IANA name in any case ("europe/berlin" ->
    "Europe/Berlin"), "UTC", or a fixed offset ("+02:00", "UTC-5", "GMT+5:30" -> "UTC+02:00").

    Raises:
        ZoneError: no such zone; the message suggests close names.
    """
    value = text.strip()
    if value.upper() in {"UTC", "GMT", "Z", "ZULU"}:
        return "UTC"
    m = _OFFSET.fullmatch(value)
    if m:
        hours, minutes = int(m[2]), int(m[3] or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            raise ZoneError(f"{value} is not a UTC offset: offsets run from UTC-14:00 to UTC+14:00.")
        return "UTC" if hours == minutes == 0 else f"UTC{m[1]}{hours:02d}:{minutes:02d}"
    name = _zone_names().get(value.replace(" ", "_").lower())
    if name is not None:
        return name
    close = difflib.get_close_matches(value.replace(" ", "_").lower(), list(_zone_names()), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(_zone_names()[c] for c in close)}?" if close else ""
    raise ZoneError(
        f"I don't know the time zone “{value}”.{hint} Use a name like Europe/Berlin, America/New_York or "
        "Asia/Kolkata, or an offset like +02:00 or UTC-5."
    )


def zone(name: str) -> tzinfo:
    """The ``tzinfo`` of a canonical zone name (``parse_timezone``'s output)."""
    m = _OFFSET.fullmatch(name)
    if m and name.upper().startswith("UTC"):
        delta = timedelta(hours=int(m[2]), minutes=int(m[3] or 0))
        return timezone(-delta if m[1] == "-" else delta)
    return UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def parse_local_time(text: str) -> str:
    """``HH:MM`` from "8", "08:30", "7.45", "8am", "6:30 pm".

    Raises:
        ZoneError: not a time of day.
    """
    m = _LOCAL_TIME.fullmatch(text.strip())
    if m:
        hour, minute = int(m[1]), int(m[2] or 0)
        if m[3] and 1 <= hour <= 12:
            hour = hour % 12 + (12 if m[3].lower() == "pm" else 0)
        elif m[3]:
            hour = 24  # "13pm"
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    raise ZoneError(f"“{text.strip()}” is not a time of day: use HH:MM, e.g. 07:30 or 18:00.")


def due_at(day: date, local_time: str, tz: tzinfo) -> datetime:
    """The UTC instant ``local_time`` happens on ``day`` in ``tz``. A time the clocks skip (02:30 on a spring-
    forward night) runs an hour later by the wall clock; a time that happens twice runs the first time."""
    hour, minute = (int(p) for p in local_time.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


def next_due(local_time: str, tz: tzinfo, after: datetime) -> tuple[datetime, date]:
    """The first run strictly after ``after``: (UTC instant, the local date it is for)."""
    today = after.astimezone(tz).date()
    for offset in range(-1, 3):
        day = today + timedelta(days=offset)
        when = due_at(day, local_time, tz)
        if when > after:
            return when, day
    raise AssertionError("unreachable: a local time happens every day")


def last_due(local_time: str, tz: tzinfo, now: datetime) -> tuple[datetime, date]:
    """The latest run at or before ``now``: (UTC instant, the local date it is for)."""
    today = now.astimezone(tz).date()
    for offset in range(1, -3, -1):
        day = today + timedelta(days=offset)
        when = due_at(day, local_time, tz)
        if when <= now:
            return when, day
    raise AssertionError("unreachable: a local time happens every day")


def local_clock(moment: datetime, tz_name: str, *, with_zone: bool = True) -> str:
    """``moment`` on the chat's clock: "Mon 30 Nov 08:00 (Europe/Berlin)"."""
    shown = moment.astimezone(zone(tz_name)).strftime("%a %d %b %H:%M")
    return f"{shown} ({tz_name})" if with_zone else shown


# -- running jobs ----------------------------------------------------------------------------------------------


class Timer(Protocol):
    """Runs a callback once at an instant; one pending run per name (a new one replaces it)."""

    def at(self, name: str, when: datetime, callback: Callable[[], Awaitable[object]]) -> None: ...

    def cancel(self, name: str) -> None: ...


class JobQueueTimer:
    """``Timer`` on PTB's JobQueue, always with aware datetimes (a naive one would be read as UTC)."""

    def __init__(self, job_queue: JobQueue[Any]) -> None:
        self.job_queue = job_queue

    def at(self, name: str, when: datetime, callback: Callable[[], Awaitable[object]]) -> None:
        if when.tzinfo is None:
            raise ValueError("JobQueue reads naive datetimes as UTC: pass an aware one")
        self.cancel(name)
        # No misfire grace limit: a run that fires late (the loop was busy, the machine slept) decides itself
        # whether it is still worth sending; APScheduler's default would silently drop it after one second.
        self.job_queue.run_once(
            _run_callback, when=when, name=name, data=callback, job_kwargs={"misfire_grace_time": None}
        )

    def cancel(self, name: str) -> None:
        for job in self.job_queue.get_jobs_by_name(name):
            job.schedule_removal()


async def _run_callback(context: CallbackContext[Any, Any, Any, Any]) -> None:
    job = context.job
    if job is not None and callable(job.data):
        await job.data()


class DigestScheduler:
    """Plans and sends each subscribed chat's daily digest.

    Args:
        state: subscriptions and the delivery log.
        archive: what digests are composed from.
        settings: ``digest_late_hours``, ``digest_max_stories``, ``digest_skip_empty``.
        bot: sends the digests.
        timer: runs the planned deliveries (``JobQueueTimer`` in the bot).
        clock: the current aware UTC time.
        gate: the flood limits shared by everything the bot broadcasts.
        llm: a chat model for the stories' summaries (extractive without).
    """

    def __init__(
        self,
        *,
        state: State,
        archive: Archive,
        settings: Settings,
        bot: Bot,
        timer: Timer,
        clock: Clock = utc_now,
        gate: FloodGate | None = None,
        llm: SummaryModel | None = None,
    ) -> None:
        self.state, self.archive, self.settings, self.bot = state, archive, settings, bot
        self.timer, self.clock, self.llm = timer, clock, llm
        self.gate = gate or FloodGate()
        self.log = DeliveryLog(state)
        self._cache: DigestCache = {}

    @property
    def late(self) -> timedelta:
        return timedelta(hours=self.settings.digest_late_hours)

    def start(self) -> int:
        """Plan every subscription from the database, catching up a digest missed while the bot was down.
        Returns how many chats are planned."""
        planned = 0
        for sub in self.state.subscribed_chats():
            try:
                planned += self.plan(sub.chat_id, catch_up=True) is not None
            except Exception:  # one broken row (an unknown zone after a tzdata change) must not stop the rest
                log.exception("could not plan the digest of chat %s", sub.chat_id)
        log.info("digests planned for %d chats", planned)
        return planned

    def next_run(self, chat_id: int) -> datetime | None:
        """When the chat's next digest is due (None: it gets none); plans nothing."""
        sub = self.state.subscription(chat_id)
        if sub is None or not sub.subscribed or not self.state.is_active(chat_id):
            return None
        return next_due(sub.local_time, zone(sub.tz), self.clock())[0]

    def plan(self, chat_id: int, *, catch_up: bool = False) -> datetime | None:
        """(Re)plan the chat's next digest after its settings changed; None when it gets none."""
        name = f"digest:{chat_id}"
        sub = self.state.subscription(chat_id)
        if sub is None or not sub.subscribed or not self.state.is_active(chat_id):
            self.timer.cancel(name)
            return None
        now, tz = self.clock(), zone(sub.tz)
        if catch_up:
            due, day = last_due(sub.local_time, tz, now)
            missed = (sub.subscribed_at is None or sub.subscribed_at <= due) and not self.log.delivered(
                chat_id, "digest", day.isoformat()
            )
            if missed and now - due <= self.late:
                log.info("chat %s missed its digest of %s by %s: sending it now", chat_id, day, now - due)
                self.timer.at(name, now, partial(self.run, chat_id, due, day))
                return now
            if missed:
                log.info("chat %s missed its digest of %s by %s: skipped (too late)", chat_id, day, now - due)
        due, day = next_due(sub.local_time, tz, now)
        self.timer.at(name, due, partial(self.run, chat_id, due, day))
        return due

    async def run(self, chat_id: int, due: datetime, day: date) -> Outcome | None:
        """Send the chat's digest for ``day`` (due at ``due``), then plan the next one."""
        outcome = None
        try:
            sub = self.state.subscription(chat_id)
            now = self.clock()
            if sub is None or not sub.subscribed or not self.state.is_active(chat_id):
                return None
            if now - due > self.late:
                log.info("digest of chat %s for %s fired %s late: skipped", chat_id, day, now - due)
                return None
            # Chats due at the same instant share one composed digest: their window ends at that instant.
            until = due if now - due <= SHARED_WINDOW_SLACK else now
            self._cache = {k: t for k, t in self._cache.items() if k[1] > now - timedelta(hours=1)}
            outcome = await deliver_digest(
                self.bot,
                self.state,
                self.archive,
                self.settings,
                sub,
                period=day.isoformat(),
                until=until,
                gate=self.gate,
                llm=self.llm,
                cache=self._cache,
            )
            log.info("digest of chat %s for %s: %s", chat_id, day, outcome.status)
        except Exception:
            log.exception("the digest of chat %s for %s failed", chat_id, day)
        finally:
            sub = self.state.subscription(chat_id)
            if sub is not None and sub.subscribed and self.state.is_active(chat_id):
                # Never the same run again, even if the job fired a moment before its instant.
                after = max(self.clock(), due)
                next_at, next_day = next_due(sub.local_time, zone(sub.tz), after)
                self.timer.at(f"digest:{chat_id}", next_at, partial(self.run, chat_id, next_at, next_day))
        return outcome


# -- feed polling and alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollResult:
    added: int
    failed: int
    alerts: list[Outcome]


def _poll_once(archive: Archive, settings: Settings) -> tuple[list[str], int]:
    from index.feeds import FeedRegistry, poll
    from index.fetch import Fetcher
    from index.ingest import ingest

    # Feeds may have been added from a chat, and feeds link to pages: the bot's polls reach public addresses
    # only, unless the operator allows private ones (`briefbot poll` from the shell is not restricted).
    with Fetcher(settings, public_only=not settings.allow_private_urls) as fetcher:
        report = ingest(archive, poll(FeedRegistry(archive.catalog.db), fetcher, settings))
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
        new_ids, failed = await asyncio.to_thread(_poll_once, archive, settings)
    outcomes = await send_alerts(bot, state, archive, new_ids, now=clock(), gate=gate or FloodGate())
    if new_ids or failed:
        log.info("feed poll: %d new articles, %d failures, %d alerts", len(new_ids), failed, len(outcomes))
    return PollResult(len(new_ids), failed, outcomes)


def alert_text(topics: Sequence[str], title: str, url: str, source: str, published: datetime | None, text: str) -> str:
    """A short cited alert: the topics, the linked headline, its lead, the outlet and time."""
    import html

    from bot.digest import lead_summary

    head = escape(title.strip() or url)
    if url.startswith(("http://", "https://")) and not any(c.isspace() for c in url):
        head = f'<a href="{html.escape(url, quote=True)}">{head}</a>'
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
    from bot.digest import LEAD_CHARS, matches_topic

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
