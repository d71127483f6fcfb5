"""Delivering digests and alerts: the log that makes a second send impossible, flood-limit pacing, 429s waited
out, 403s that stop and deactivate, migrated groups and deleted forum topics followed; through a real Bot client
and the fake Bot API server with its flood limits on.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest
from telegram.ext import ExtBot

from bot.delivery.broadcast import send_due_digests
from bot.delivery.outbox import DeliveryLog, FloodGate, Outcome, deliver
from bot.state import State
from index.archive import Archive
from tests import bot_harness as harness
from tests.bot_harness import bot_settings
from tests.fakes.telegram import FakeTelegram

server, empty_archive, bot = harness.server, harness.empty_archive, harness.bot
NOW = datetime(2026, 11, 29, 7, tzinfo=UTC)


@pytest.fixture
def state(briefbot_home: Path) -> Iterator[State]:
    s = State(briefbot_home / "state.sqlite3", clock=lambda: NOW)
    yield s
    s.close()


def messages(*texts: str) -> Callable[[], Awaitable[tuple[list[str], None, None]]]:
    """``deliver``'s ``make``: these messages, no window."""

    async def make() -> tuple[list[str], None, None]:
        return list(texts), None, None

    return make


# -- pacing ----------------------------------------------------------------------------------------------------


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def _send_times(gate: FloodGate, t: VirtualTime, chats: list[int]) -> list[float]:
    times = []
    for chat in chats:
        await gate.wait(chat)
        times.append(round(t.now, 4))
    return times


async def test_the_gate_paces_overall_per_group_and_per_private_chat() -> None:
    t = VirtualTime()
    gate = FloodGate(clock=t.clock, sleep=t.sleep)
    times = await _send_times(gate, t, list(range(1, 101)))  # 100 private chats, one message each
    assert times[:20] == [0.0] * 20  # a burst...
    assert times[20:23] == [round(k / 29, 4) for k in (1, 2, 3)]  # ...then 29 a second
    assert times[-1] == pytest.approx(80 / 29, abs=1e-3)

    t = VirtualTime()
    gate = FloodGate(clock=t.clock, sleep=t.sleep)
    assert await _send_times(gate, t, [-5] * 17) == [0.0] * 15 + [round(60 / 19, 4), round(120 / 19, 4)]
    t = VirtualTime()
    gate = FloodGate(clock=t.clock, sleep=t.sleep)
    assert await _send_times(gate, t, [7] * 5) == [0.0, 0.0, 0.0, 1.0, 2.0]
    gate.pause(3)  # a 429 stops everyone
    assert await _send_times(gate, t, [8]) == [5.0] and gate.rate_limited == 1


async def test_a_broadcast_stays_within_the_flood_limits(
    server: FakeTelegram, bot: ExtBot[None], state: State, empty_archive: Archive, briefbot_home: Path
) -> None:
    users = [server.add_user(f"User {k}") for k in range(80)]
    group = server.add_supergroup("Club")
    for chat_id in [u.id for u in users] + [group.id]:
        state.subscribe(chat_id, "08:00", thread_id=None, by=None)
    started = time.monotonic()
    report = await send_due_digests(bot, state, empty_archive, bot_settings(server, briefbot_home), now=NOW)
    seconds = time.monotonic() - started
    assert report.count("sent") == 81 and report.messages == 81 and report.rate_limited == 0
    assert not server.rate_limited  # the fake's own flood limits never tripped
    # 30 a second allows 81 messages (30 at once) in 1.7 s; the gate's margin costs a little.
    assert (81 - 30) / 30 <= seconds < (81 - 20) / 29 + 1.0
    assert all(server.bot_messages(u) for u in users) and server.bot_messages(group)


# -- never twice -----------------------------------------------------------------------------------------------


async def test_a_period_is_claimed_before_sending_so_it_goes_out_once(
    server: FakeTelegram, bot: ExtBot[None], state: State
) -> None:
    alice = server.add_user("Alice")
    gate = FloodGate()

    def once() -> asyncio.Future[Outcome]:
        return asyncio.ensure_future(
            deliver(
                bot,
                state,
                gate,
                chat_id=alice.id,
                kind="digest",
                period="2026-11-29",
                thread_id=None,
                make=messages("<b>one</b>", "two"),
            )
        )

    outcomes = await asyncio.gather(once(), once(), once())
    assert sorted(o.status for o in outcomes) == ["duplicate", "duplicate", "sent"]
    sent = server.bot_messages(alice)
    assert [m.text for m in sent] == ["one", "two"]
    [row] = DeliveryLog(state).rows(alice.id)
    assert (row.status, row.period, row.message_ids) == ("sent", "2026-11-29", [m.message_id for m in sent])
    assert DeliveryLog(state).claim(alice.id, "digest", "2026-11-29") is None  # a restart cannot claim it again
    assert DeliveryLog(state).claim(alice.id, "digest", "2026-11-30") is not None  # the next day can


async def test_a_429_is_waited_out(server: FakeTelegram, bot: ExtBot[None], state: State) -> None:
    alice = server.add_user("Alice")
    server.fail_next("sendMessage", 429, retry_after=1, chat_id=alice)
    gate = FloodGate()
    started = time.monotonic()
    outcome = await deliver(
        bot, state, gate, chat_id=alice.id, kind="digest", period="p", thread_id=None, make=messages("hello")
    )
    assert outcome.status == "sent" and time.monotonic() - started >= 1.0
    assert gate.rate_limited == 1 and server.texts(alice) == ["hello"]


async def test_a_403_stops_sending_and_marks_the_chat_inactive(
    server: FakeTelegram, bot: ExtBot[None], state: State
) -> None:
    alice = server.add_user("Alice")
    state.subscribe(alice.id, "08:00", thread_id=None, by=None)
    server.fail_next("sendMessage", 403, chat_id=alice)  # the first of three messages
    outcome = await deliver(
        bot,
        state,
        FloodGate(),
        chat_id=alice.id,
        kind="digest",
        period="p",
        thread_id=None,
        make=messages("1", "2", "3"),
    )
    assert outcome.status == "blocked" and "blocked by the user" in (outcome.error or "")
    assert len([r for r in server.requests if r.method == "sendMessage"]) == 1  # nothing more was tried
    assert not state.is_active(alice.id) and state.subscribed_chats() == []
    [row] = DeliveryLog(state).rows(alice.id)
    assert row.status == "failed" and row.message_ids == []
    # A user who unblocks and writes again is active again, and that day's digest can still reach them.
    state.seen_chat(alice.id, "private", "Alice")
    again = await deliver(
        bot, state, FloodGate(), chat_id=alice.id, kind="digest", period="p", thread_id=None, make=messages("1")
    )
    assert again.status == "sent"


async def test_an_uncertain_failure_keeps_the_period(server: FakeTelegram, bot: ExtBot[None], state: State) -> None:
    alice = server.add_user("Alice")
    server.drop_next("sendMessage", chat_id=alice)  # the connection dies: did it go out? Assume it may have.
    outcome = await deliver(
        bot, state, FloodGate(), chat_id=alice.id, kind="digest", period="p", thread_id=None, make=messages("1")
    )
    assert outcome.status == "partial"
    retry = await deliver(
        bot, state, FloodGate(), chat_id=alice.id, kind="digest", period="p", thread_id=None, make=messages("1")
    )
    assert retry.status == "duplicate" and server.texts(alice) == []


async def test_migrated_groups_and_deleted_topics_are_followed(
    server: FakeTelegram, bot: ExtBot[None], state: State
) -> None:
    bob = server.add_user("Bob")
    group = server.add_group("Club", members=[bob])
    state.subscribe(group.id, "08:00", thread_id=None, by=None)
    supergroup = server.migrate_group(group)
    outcome = await deliver(
        bot, state, FloodGate(), chat_id=group.id, kind="digest", period="p", thread_id=None, make=messages("hello")
    )
    assert outcome.status == "sent" and server.texts(supergroup) == ["hello"]
    sub = state.subscription(supergroup.id)
    assert sub is not None and sub.subscribed and state.subscription(group.id) is None  # the subscription moved
    assert [r.chat_id for r in DeliveryLog(state).rows()] == [supergroup.id]

    forum = server.add_supergroup("Forum", forum=True, members=[bob])
    outcome = await deliver(
        bot,
        state,
        FloodGate(),
        chat_id=forum.id,
        kind="digest",
        period="p",
        thread_id=999,
        make=messages("<b>bad", "fine"),
    )
    assert outcome.status == "sent"  # topic 999 does not exist: posted in the chat; broken HTML: as plain text
    assert [(m.thread_id, m.text, m.parse_mode) for m in server.bot_messages(forum)] == [
        (None, "bad", None),
        (None, "fine", "HTML"),
    ]


async def test_an_empty_digest_is_logged_and_skipped_when_so_set(
    server: FakeTelegram, bot: ExtBot[None], state: State, empty_archive: Archive, briefbot_home: Path
) -> None:
    alice = server.add_user("Alice")
    state.subscribe(alice.id, "08:00", thread_id=None, by=None)
    settings = bot_settings(server, briefbot_home, digest_skip_empty=True)
    report = await send_due_digests(bot, state, empty_archive, settings, now=NOW)
    assert report.count("empty") == 1 and server.texts(alice) == []
    assert [r.status for r in DeliveryLog(state).rows(alice.id)] == ["empty"]
    assert (await send_due_digests(bot, state, empty_archive, settings, now=NOW)).count("duplicate") == 1


def test_the_new_tables_arrive_on_an_existing_state_database(briefbot_home: Path) -> None:
    from bot.state import MIGRATIONS
    from index.db import connect, migrate

    path = briefbot_home / "old-state.sqlite3"
    db = connect(path)
    migrate(db, MIGRATIONS[:1])  # a database of the bot before digests
    db.execute("INSERT INTO turns (chat_id, question, answer, at) VALUES (1, 'q', 'a', '2026-11-01T00:00:00+00:00')")
    db.close()
    state = State(path)
    try:
        assert state.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
        assert [t.question for t in state.turns(1, None, 5)] == ["q"]
        assert state.subscribe(1, "08:00", thread_id=None, by=None).subscribed
    finally:
        state.close()
