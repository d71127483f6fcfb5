"""When digests go out.

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

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from bot.delivery.broadcast import DigestCache, deliver_digest
from bot.delivery.outbox import DeliveryLog, FloodGate, Outcome
from bot.digest import SummaryModel
from bot.settings import Settings
from bot.state import State
from bot.zones import zone
from index.archive import Archive

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import CallbackContext, JobQueue

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: A digest that fires at most this late still ends its window at its due instant (so that the chats due then
#: share one composed digest); a later one (a catch-up) ends it when it runs.
SHARED_WINDOW_SLACK = timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


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
