"""When digests go out: local times in their zones across daylight-saving changes, restarts that send nothing
twice, a digest missed while the bot was down sent once late or skipped, the real JobQueue wiring; and feed
polling with its alerts.

Time is moved by hand: a ``FakeClock`` and a ``FakeTimer`` stand in for the real clock and PTB's JobQueue, and
the digests go through a real Bot client to the fake Bot API server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest
from telegram.ext import ExtBot

from bot.delivery.alerts import ALERTS_PER_HOUR, alert_text, poll_feeds, send_alerts
from bot.delivery.broadcast import send_due_digests
from bot.delivery.outbox import DeliveryLog, FloodGate
from bot.delivery.schedule import DigestScheduler, last_due, next_due
from bot.settings import Settings
from bot.state import State
from bot.zones import ZoneError, parse_local_time, parse_timezone, zone
from index.archive import Archive
from index.feed_registry import FeedRegistry
from tests import bot_harness as harness
from tests.bot_harness import bot_settings, running_bot, services_of
from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.fakes.web import WebServer

server, empty_archive, bot = harness.server, harness.empty_archive, harness.bot
corpus = harness.archive  # the shared six-article corpus (Velmar), read-only

BERLIN = zone("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeTimer:
    """``bot.schedule.Timer`` whose runs the test fires, moving the clock to their instant."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pending: dict[str, tuple[datetime, Callable[[], Awaitable[object]]]] = {}

    def at(self, name: str, when: datetime, callback: Callable[[], Awaitable[object]]) -> None:
        assert when.tzinfo is not None
        self.pending[name] = (when, callback)

    def cancel(self, name: str) -> None:
        self.pending.pop(name, None)

    def when(self, name: str) -> datetime | None:
        return self.pending[name][0] if name in self.pending else None

    async def fire(self, name: str) -> None:
        when, callback = self.pending.pop(name)
        self.clock.now = max(self.clock.now, when)
        await callback()


# -- time math -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "after", "expected"),
    [
        # Europe/Berlin leaves summer time on 2026-10-25 and enters it on 2027-03-28: 08:00 moves in UTC.
        ("Europe/Berlin", utc(2026, 10, 23, 12), [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7), utc(2026, 10, 26, 7)]),
        ("Europe/Berlin", utc(2027, 3, 26, 12), [utc(2027, 3, 27, 7), utc(2027, 3, 28, 6), utc(2027, 3, 29, 6)]),
        ("America/New_York", utc(2026, 10, 30, 14), [utc(2026, 10, 31, 12), utc(2026, 11, 1, 13)]),
        ("UTC+05:30", utc(2026, 10, 24, 3), [utc(2026, 10, 25, 2, 30), utc(2026, 10, 26, 2, 30)]),
    ],
)
def test_next_due_keeps_the_local_hour_across_dst(zone_name: str, after: datetime, expected: list[datetime]) -> None:
    tz, got = zone(zone_name), []
    for _ in expected:
        after, day = next_due("08:00", tz, after)
        assert after.astimezone(tz).strftime("%H:%M") == "08:00" and after.astimezone(tz).date() == day
        got.append(after)
    assert got == expected


def test_skipped_and_repeated_local_times() -> None:
    # 02:30 does not exist on 2027-03-28 in Berlin (02:00 -> 03:00): it runs at 03:30 summer time, once.
    when, day = next_due("02:30", BERLIN, utc(2027, 3, 27, 12))
    assert when == utc(2027, 3, 28, 1, 30) and str(day) == "2027-03-28"
    # 02:30 happens twice on 2026-10-25: the first one, and only once.
    when, _ = next_due("02:30", BERLIN, utc(2026, 10, 24, 12))
    assert when == utc(2026, 10, 25, 0, 30)
    assert next_due("02:30", BERLIN, when)[0] == utc(2026, 10, 26, 1, 30)
    assert last_due("08:00", BERLIN, utc(2026, 10, 25, 6, 59)) == (utc(2026, 10, 24, 6), when.date() - timedelta(1))


def test_time_zones_and_times_users_type() -> None:
    assert parse_timezone("europe/berlin") == "Europe/Berlin"
    assert parse_timezone("America/New York") == "America/New_York"
    assert [parse_timezone(t) for t in ("+02:00", "UTC-5", "gmt+5:30", "utc", "+00:00")] == [
        "UTC+02:00",
        "UTC-05:00",
        "UTC+05:30",
        "UTC",
        "UTC",
    ]
    with pytest.raises(ZoneError, match="Did you mean Europe/Berlin"):
        parse_timezone("Europe/Berln")
    with pytest.raises(ZoneError, match="offsets run from UTC-14:00 to UTC\\+14:00"):
        parse_timezone("+15:00")
    assert [parse_local_time(t) for t in ("8", "07:30", "7.45", "8am", "12am", "6:30 pm")] == [
        "08:00",
        "07:30",
        "07:45",
        "08:00",
        "00:00",
        "18:30",
    ]
    for wrong in ("25:00", "8:61", "13pm", "noon"):
        with pytest.raises(ZoneError, match="not a time of day"):
            parse_local_time(wrong)


# -- the scheduler ---------------------------------------------------------------------------------------------


class World:
    """A subscriber, the state, and a scheduler that can be restarted, all on one fake clock."""

    def __init__(self, server: FakeTelegram, home: Path, archive: Archive, bot: ExtBot[None], now: datetime) -> None:
        self.server, self.archive, self.bot = server, archive, bot
        self.settings = bot_settings(server, home)
        self.clock = FakeClock(now)
        self.state = State(home / "state.sqlite3", clock=self.clock)
        self.alice: FakeUser = server.add_user("Alice")
        self.name = f"digest:{self.alice.id}"
        self.start()

    def start(self) -> DigestScheduler:
        """A (new) scheduler, as after a restart."""
        self.timer = FakeTimer(self.clock)
        self.scheduler = DigestScheduler(
            state=self.state,
            archive=self.archive,
            settings=self.settings,
            bot=self.bot,
            timer=self.timer,
            clock=self.clock,
            gate=FloodGate(),
        )
        self.scheduler.start()
        return self.scheduler

    def subscribe(self, local_time: str = "08:00", tz: str = "Europe/Berlin") -> None:
        self.state.set_timezone(self.alice.id, tz, by=None)
        self.state.subscribe(self.alice.id, local_time, thread_id=None, by=None)
        self.scheduler.plan(self.alice.id)

    @property
    def digests(self) -> list[str]:
        return [d.period for d in DeliveryLog(self.state).rows(self.alice.id, "digest") if d.status == "sent"]


@pytest.fixture
def world(server: FakeTelegram, briefbot_home: Path, empty_archive: Archive, bot: ExtBot[None]) -> Iterator[World]:
    w = World(server, briefbot_home, empty_archive, bot, utc(2026, 10, 23, 12))
    yield w
    w.state.close()


async def test_a_berlin_subscription_arrives_at_8_local_across_the_dst_change(world: World) -> None:
    world.subscribe("08:00", "Europe/Berlin")
    assert world.timer.when(world.name) == utc(2026, 10, 24, 6)  # 08:00 CEST
    await world.timer.fire(world.name)
    assert world.timer.when(world.name) == utc(2026, 10, 25, 7)  # 08:00 CET: the clocks went back at night
    await world.timer.fire(world.name)
    assert world.timer.when(world.name) == utc(2026, 10, 26, 7)
    assert world.digests == ["2026-10-24", "2026-10-25"]
    sent = world.server.bot_messages(world.alice)
    assert [m.text for m in sent] == [
        "Your news briefing · Saturday 24 October\n\nNo new stories since 2026-10-23 06:00 UTC.",
        "Your news briefing · Sunday 25 October\n\nNo new stories since 2026-10-24 06:00 UTC.",
    ]
    # Each digest starts where the last one ended.
    windows = [(d.since, d.until) for d in DeliveryLog(world.state).rows(world.alice.id)]
    assert windows == [(utc(2026, 10, 23, 6), utc(2026, 10, 24, 6)), (utc(2026, 10, 24, 6), utc(2026, 10, 25, 7))]


async def test_a_restart_between_two_runs_sends_nothing_twice(world: World) -> None:
    world.subscribe()
    first = world.timer.pending[world.name][1]
    await world.timer.fire(world.name)
    world.clock.now += timedelta(minutes=5)
    world.start()  # restarted five minutes after the digest went out
    assert world.timer.when(world.name) == utc(2026, 10, 25, 7)  # tomorrow's, not today's again
    await first()  # and the old process's job firing once more sends nothing either
    assert world.digests == ["2026-10-24"] and len(world.server.bot_messages(world.alice)) == 1


@pytest.mark.parametrize(("late_hours", "sent"), [(2, True), (7, False)])
async def test_a_bot_down_over_digest_time_sends_once_late_or_skips(world: World, late_hours: int, sent: bool) -> None:
    world.subscribe()  # on the 23rd; the bot is down from before 08:00 on the 24th until late_hours after it
    world.clock.now = utc(2026, 10, 24, 6) + timedelta(hours=late_hours)
    world.start()
    if sent:
        assert world.timer.when(world.name) == world.clock.now  # at once
        await world.timer.fire(world.name)
        assert world.digests == ["2026-10-24"]
    else:  # beyond digest_late_hours (6): skipped
        assert world.digests == []
    assert world.timer.when(world.name) == utc(2026, 10, 25, 7)
    world.clock.now += timedelta(minutes=30)
    world.start()  # a second restart the same day: nothing more
    assert world.timer.when(world.name) == utc(2026, 10, 25, 7)
    assert len(world.server.bot_messages(world.alice)) == int(sent)


async def test_no_catch_up_for_a_time_that_passed_before_subscribing(world: World) -> None:
    world.clock.now = utc(2026, 10, 24, 9)  # 11:00 in Berlin
    world.subscribe("08:00")
    world.clock.now += timedelta(hours=1)
    world.start()
    assert world.timer.when(world.name) == utc(2026, 10, 25, 7)


async def test_overlapping_triggers_send_one_digest(world: World) -> None:
    world.subscribe()
    world.clock.now = utc(2026, 10, 24, 6)
    _, job = world.timer.pending[world.name]
    outcomes = await asyncio.gather(
        job(), send_due_digests(world.bot, world.state, world.archive, world.settings, now=world.clock.now)
    )
    assert len(world.server.bot_messages(world.alice)) == 1 and world.digests == ["2026-10-24"]
    assert outcomes[1].count("duplicate") + outcomes[1].count("sent") == 1


async def test_chats_due_at_the_same_instant_share_one_composed_digest(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.delivery.broadcast

    composed: list[tuple[datetime, datetime]] = []
    real = bot.delivery.broadcast.compose_digest_async

    async def counting(*args: Any, **kwargs: Any) -> Any:
        composed.append((kwargs["since"], kwargs["until"]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(bot.delivery.broadcast, "compose_digest_async", counting)
    bob = world.server.add_user("Bob")
    world.subscribe()
    world.state.set_timezone(bob.id, "Europe/Berlin", by=None)
    world.state.subscribe(bob.id, "08:00", thread_id=None, by=None)
    world.scheduler.plan(bob.id)
    _, alices = world.timer.pending.pop(world.name)
    _, bobs = world.timer.pending.pop(f"digest:{bob.id}")
    world.clock.now = utc(2026, 10, 24, 6, 0, 2)  # the jobs fire two seconds late
    await asyncio.gather(alices(), bobs())
    assert composed == [(utc(2026, 10, 23, 6), utc(2026, 10, 24, 6))]  # once, the window ending at 08:00 sharp
    assert len(world.server.bot_messages(world.alice)) == len(world.server.bot_messages(bob)) == 1


async def test_unsubscribing_or_a_blocked_chat_cancels_the_job(world: World) -> None:
    world.subscribe()
    world.state.unsubscribe(world.alice.id, by=None)
    world.scheduler.plan(world.alice.id)
    assert world.timer.when(world.name) is None
    world.subscribe()
    world.state.deactivate(world.alice.id, "blocked")  # the pending job finds the chat gone: no send, no next
    await world.timer.fire(world.name)
    assert world.timer.when(world.name) is None and not world.server.bot_messages(world.alice)
    assert world.start().start() == 0 and world.timer.when(world.name) is None  # nor after a restart


async def test_the_bot_plans_on_the_real_job_queue_and_catches_up_on_start(
    server: FakeTelegram, briefbot_home: Path
) -> None:
    now = datetime.now(UTC)
    alice, bob = server.add_user("Alice"), server.add_user("Bob")
    state = State(briefbot_home / "state.sqlite3", clock=lambda: now - timedelta(days=2))
    hour_ago = (now - timedelta(hours=1)).astimezone(BERLIN).strftime("%H:%M")
    in_an_hour = (now + timedelta(hours=1)).astimezone(BERLIN).strftime("%H:%M")
    for user, local_time in ((alice, hour_ago), (bob, in_an_hour)):
        state.set_timezone(user.id, "Europe/Berlin", by=None)
        state.subscribe(user.id, local_time, thread_id=None, by=None)
    state.close()
    async with running_bot(server, briefbot_home, poll_minutes=15) as app:
        # Alice's digest was due an hour ago while the bot was down: the JobQueue sends it right after start.
        [digest] = await server.async_wait_for_messages(alice, 1, timeout=20)
        assert (digest.text or "").startswith("Your news briefing")
        assert app.job_queue is not None
        [job] = app.job_queue.get_jobs_by_name(f"digest:{bob.id}")
        assert job.next_t == next_due(in_an_hour, BERLIN, now)[0] and job.next_t.utcoffset() is not None
        [poll] = app.job_queue.get_jobs_by_name("poll")  # feeds polled every BRIEFBOT_POLL_MINUTES
        assert poll.job.trigger.interval == timedelta(minutes=15)
        # Rescheduled after it ran: the message is out a moment before the job is planned again.
        for _ in range(100):
            if again_jobs := app.job_queue.get_jobs_by_name(f"digest:{alice.id}"):
                break
            await asyncio.sleep(0.1)
        [again] = again_jobs
        assert again.next_t is not None and again.next_t > now + timedelta(hours=22)
        _, day = last_due(hour_ago, BERLIN, now)
        assert DeliveryLog(services_of(app).state).delivered(alice.id, "digest", day.isoformat())


# -- alerts and feed polling -----------------------------------------------------------------------------------

VELMAR_DAY = utc(2026, 11, 25, 12)  # the shared corpus runs 20-25 November 2026
WEEK = timedelta(days=7)


async def test_alerts_match_topics_once_per_article_and_chat(
    server: FakeTelegram, briefbot_home: Path, corpus: Archive, bot: ExtBot[None]
) -> None:
    state = State(briefbot_home / "state.sqlite3", clock=lambda: VELMAR_DAY)
    alice, bob = server.add_user("Alice"), server.add_user("Bob")
    state.add_topic(alice.id, "alert", "interest rates")
    state.add_topic(bob.id, "alert", "beetle")
    state.add_topic(bob.id, "alert", "forest")
    article_ids = [r[0] for r in corpus.catalog.db.execute("SELECT id FROM articles ORDER BY published_ts")]
    outcomes = await send_alerts(bot, state, corpus, article_ids, now=VELMAR_DAY, gate=FloodGate(), max_age=WEEK)
    assert sorted((o.chat_id, o.status) for o in outcomes) == [(alice.id, "sent"), (bob.id, "sent")]
    [rates] = server.texts(alice)
    assert rates.startswith("🔔 Alert: “interest rates”\nNorland central bank holds interest rates at 3.5%\n")
    assert rates.endswith("Capital Dispatch · 2026-11-21 09:30 UTC")
    [beetle] = server.texts(bob)
    assert beetle.startswith("🔔 Alert: “beetle”, “forest”\nNew beetle species found in Kessel forest")  # one alert
    link = server.bot_messages(bob)[0].entities
    assert any(e.get("url") == "https://sciencewire.example/2026/11/kessel-beetle" for e in link)

    again = await send_alerts(bot, state, corpus, article_ids, now=VELMAR_DAY, gate=FloodGate(), max_age=WEEK)
    assert {o.status for o in again} == {"duplicate"} and len(server.texts(alice)) == 1
    # Articles more than two days old when a poll brings them in (a new feed's back catalogue) raise no alert.
    state.add_topic(alice.id, "alert", "Velmar")
    later = await send_alerts(bot, state, corpus, article_ids, now=VELMAR_DAY + timedelta(days=3), gate=FloodGate())
    assert later == []
    state.close()


async def test_alerts_are_limited_per_chat_and_hour(
    server: FakeTelegram, briefbot_home: Path, corpus: Archive, bot: ExtBot[None]
) -> None:
    state = State(briefbot_home / "state.sqlite3", clock=lambda: VELMAR_DAY)
    alice = server.add_user("Alice")
    for topic in ("Velmar", "rates", "beetle", "Keller", "cup"):
        state.add_topic(alice.id, "alert", topic)
    article_ids = [r[0] for r in corpus.catalog.db.execute("SELECT id FROM articles").fetchall()]
    assert ALERTS_PER_HOUR == 5
    outcomes = await send_alerts(bot, state, corpus, article_ids, now=VELMAR_DAY, gate=FloodGate(), max_age=WEEK)
    assert len(outcomes) == ALERTS_PER_HOUR == len(server.texts(alice))  # six articles match, five go out
    state.close()


def test_alert_text_escapes_and_cites() -> None:
    text = alert_text(["a<b"], "Keller & Sons <Holdings>", "https://x.example/a?b=1&c=2", "Cap & Co", None, "Body.")
    assert "“a&lt;b”" in text and "Keller &amp; Sons &lt;Holdings&gt;" in text
    assert '<a href="https://x.example/a?b=1&amp;c=2">' in text and "Cap &amp; Co" in text


FEED = """<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Velmar Post</title><link>https://velmarpost.example/</link>
<item><title>Storm surge floods the Velmar harbor again</title>
<link>https://velmarpost.example/2026/11/29/storm-surge</link>
<pubDate>{date}</pubDate>
<content:encoded>{text}</content:encoded></item>
</channel></rss>
"""


async def test_feed_polling_ingests_new_articles_and_pushes_alerts(
    server: FakeTelegram, briefbot_home: Path, tmp_path_factory: pytest.TempPathFactory, bot: ExtBot[None]
) -> None:
    home = harness.copy_corpus(tmp_path_factory, briefbot_home / "archive")
    settings = Settings(home=home)
    now = datetime.now(UTC)
    text = (
        "A storm surge flooded the harbor of Velmar on Sunday night, a week after the port reopened. " * 6
        + "The mayor said the ferries would not run on Monday."
    )
    feed = tmp_path_factory.mktemp("feeds") / "velmar.xml"
    feed.write_text(FEED.format(date=now.strftime("%a, %d %b %Y %H:%M:%S +0000"), text=text), encoding="utf-8")
    state = State(briefbot_home / "state.sqlite3")
    alice = server.add_user("Alice")
    state.add_topic(alice.id, "alert", "storm")
    with Archive(settings) as archive:
        FeedRegistry(archive.catalog.db).add(str(feed))
        lock = asyncio.Lock()
        first = await poll_feeds(state=state, archive=archive, settings=settings, bot=bot, lock=lock)
        assert (first.added, first.failed, [o.status for o in first.alerts]) == (1, 0, ["sent"])
        second = await poll_feeds(state=state, archive=archive, settings=settings, bot=bot, lock=lock)
        assert (second.added, second.alerts) == (0, [])
        assert archive.catalog.counts()[0] == 7
    [alert] = server.texts(alice)
    assert alert.startswith("🔔 Alert: “storm”\nStorm surge floods the Velmar harbor again\nA storm surge flooded")
    state.close()
    shutil.rmtree(home)


def test_the_bots_feed_polls_reach_public_addresses_only(web_server: WebServer, briefbot_home: Path) -> None:
    from bot.delivery.alerts import _poll_once
    from tests.test_feeds import fixture_text

    feed = web_server.add("/rss.xml", fixture_text("rss.xml", web_server), content_type="application/rss+xml")
    for allow, expect_added in ((False, False), (True, True)):
        settings = Settings(home=briefbot_home / f"home-{allow}", allow_private_urls=allow)
        with Archive(settings) as archive:
            FeedRegistry(archive.catalog.db).add(feed)  # e.g. added by an admin from a chat
            new, failed = _poll_once(archive, settings)
        assert bool(new) is expect_added  # 127.0.0.1 is refused unless the operator allows private addresses
        assert failed >= 1 or allow
