"""Subscriptions and briefings as users meet them in Telegram (through the fake Bot API server), and
`briefbot digest` on the command line: --json's shape, and --send run twice as a real process after
subscriptions made in a private chat and in a forum group.

The corpus: five demo articles re-dated into the last few hours, three of them one story (storm Edda) told by
three outlets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.delivery.outbox import DeliveryLog
from bot.delivery.schedule import next_due
from bot.digest import brief_window, briefing_request
from bot.settings import Settings
from bot.telegram.services import App
from bot.zones import zone
from index.archive import Archive
from index.article import ArticleRecord
from index.ingest import ingest
from index.sources import read_sources
from tests import bot_harness as harness
from tests.bot_harness import running_bot, services_of
from tests.fakes.telegram import ChatRef, FakeTelegram, FakeUser

server = harness.server  # the fake Bot API server fixture

MAIN = Path(__file__).resolve().parents[1]
DEMO = MAIN / "bot" / "demo" / "articles.jsonl"
BOT = "briefbot_test_bot"
# url fragment -> hours before now it is dated
PICK = {
    "storm-edda-floods": 5,
    "edda-one-dead": 4,
    "counts-cost-of-edda": 3,
    "house-prices-fall": 2,
    "salt-road-wins": 1,
}
STORM_OUTLETS = {"Harbor Times", "Valley Courier", "Global Brief"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five articles, ingested once into a home the tests copy."""
    home = tmp_path_factory.mktemp("digest-corpus") / "home"
    now = datetime.now(UTC)
    settings = Settings(home=home)
    records = []
    for item in read_sources([str(DEMO)], settings):
        assert isinstance(item, ArticleRecord)
        hours = next((h for key, h in PICK.items() if key in item.url), None)
        if hours is not None:
            records.append(replace(item, published=now - timedelta(hours=hours)))
    with Archive(settings) as archive:
        assert ingest(archive, records).added == len(PICK)
    return home


@pytest.fixture
def home(corpus: Path, briefbot_home: Path) -> Path:
    shutil.copytree(corpus, briefbot_home, dirs_exist_ok=True)
    return briefbot_home


@pytest.fixture
async def bot(server: FakeTelegram, home: Path) -> AsyncIterator[App]:
    async with running_bot(server, home, poll_minutes=0) as app:
        yield app


async def say(server: FakeTelegram, chat: ChatRef, user: FakeUser, text: str, thread: int | None = None) -> str:
    """``user`` writes ``text``; the bot's reply (all its messages, joined)."""
    before = len(server.bot_messages(chat, include_deleted=True))
    server.add_message(chat, user, text, thread_id=thread)
    sent = await server.async_wait_for_messages(chat, before + 1, timeout=20)
    return "\n".join(m.text or "" for m in sent[before:])


def briefbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", *args],
        cwd=MAIN,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- in Telegram -----------------------------------------------------------------------------------------------


async def test_subscribing_in_a_private_chat(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    s = services_of(bot)
    subscribed = await say(server, alice, alice, "/subscribe")
    assert "every day at 08:00 (UTC)" in subscribed and "/timezone Europe/Berlin" in subscribed  # asks for the zone

    wrong = await say(server, alice, alice, "/timezone Europe/Berln")
    assert "I don't know the time zone “Europe/Berln”" in wrong and "Did you mean Europe/Berlin" in wrong
    assert (await say(server, alice, alice, "/subscribe 25:00")).startswith("“25:00” is not a time of day")
    assert "Time zone set to Europe/Berlin" in await say(server, alice, alice, "/timezone europe/berlin")
    assert "every day at 07:30 (Europe/Berlin)" in await say(server, alice, alice, "/subscribe 7:30")
    assert "Following “storm”" in await say(server, alice, alice, "/follow storm")
    assert "Already following" in await say(server, alice, alice, "/follow Storm")
    assert "a real word" in await say(server, alice, alice, "/follow the")
    assert "• storm" in await say(server, alice, alice, "/topics")

    sub = s.state.subscription(alice.id)
    assert sub is not None and sub.subscribed and sub.topics == ("storm",)
    assert (sub.local_time, sub.tz) == ("07:30", "Europe/Berlin")
    # The digest job sits on PTB's JobQueue at the aware instant 07:30 Berlin time.
    [job] = bot.job_queue.get_jobs_by_name(f"digest:{alice.id}") if bot.job_queue else []
    due, _ = next_due("07:30", zone("Europe/Berlin"), datetime.now(UTC))
    assert job.next_t is not None and job.next_t == due
    settings_text = await say(server, alice, alice, "/settings")
    assert "on, at 07:30 (Europe/Berlin)" in settings_text and "• storm" in settings_text

    assert "Unsubscribed" in await say(server, alice, alice, "/unsubscribe")
    assert bot.job_queue is not None and not [j for j in bot.job_queue.jobs() if j.name == f"digest:{alice.id}"]
    assert "not subscribed" in await say(server, alice, alice, "/unsubscribe")
    assert "Daily digest: off" in await say(server, alice, alice, "/settings")


async def test_in_groups_only_administrators_change_the_digest(bot: App, server: FakeTelegram) -> None:
    owner, member, ada = server.add_user("Bob"), server.add_user("Carol"), server.add_user("Ada")
    forum = server.add_supergroup("Newsroom", forum=True, members=[owner, member, ada])
    server.set_member_status(forum, owner, "administrator")
    topic = server.add_forum_topic(forum, "Briefings", creator=owner)
    s = services_of(bot)
    s.access.admins = frozenset({ada.id})  # a bot admin, not a group admin

    refused = await say(server, forum, member, f"/subscribe@{BOT}", topic)
    assert refused == "Only this group's administrators can change its digest settings."
    assert "Only this group's administrators" in await say(server, forum, member, f"/follow@{BOT} storm", topic)
    assert s.state.subscription(forum.id) is None

    done = await say(server, forum, owner, f"/subscribe@{BOT} 09:00", topic)
    assert "in this topic every day at 09:00 (UTC)" in done
    sub = s.state.subscription(forum.id)
    assert sub is not None and sub.subscribed and sub.thread_id == topic  # posts where /subscribe was sent
    assert server.bot_messages(forum)[-1].thread_id == topic
    assert "Time zone set to UTC+02:00" in await say(server, forum, ada, f"/timezone@{BOT} +02:00", topic)
    assert "on, at 09:00 (UTC+02:00)" in await say(server, forum, member, f"/settings@{BOT}", topic)  # anyone reads


async def test_a_chat_that_leaves_or_moves_takes_its_digest_along(bot: App, server: FakeTelegram) -> None:
    alice, bob = server.add_user("Alice"), server.add_user("Bob")
    group = server.add_group("Club", members=[bob])
    server.set_member_status(group, bob, "administrator")
    await say(server, alice, alice, "/subscribe")
    await say(server, group, bob, f"/subscribe@{BOT}")
    assert bot.job_queue is not None

    def jobs() -> set[str]:
        assert bot.job_queue is not None
        return {job.name for job in bot.job_queue.jobs() if job.name and job.name.startswith("digest:")}

    assert jobs() == {f"digest:{alice.id}", f"digest:{group.id}"}
    server.block(alice, send_update=True)  # the user blocks the bot: no more digest job
    supergroup = server.migrate_group(group)  # the group becomes a supergroup: the job moves with it
    await server.async_wait_for(lambda: jobs() == {f"digest:{supergroup.id}"}, 10, what="the jobs to follow")
    server.block(alice, blocked=False)
    assert "Top stories" in await say(server, alice, alice, "/brief")  # writing again: unblocked, planned again
    assert jobs() == {f"digest:{supergroup.id}", f"digest:{alice.id}"}


async def test_brief_gives_the_top_stories_now_scoped_by_topic_and_window(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    top = await say(server, alice, alice, "/brief")
    assert top.startswith("Top stories · the last 24 hours")
    # The storm told by three outlets is one story, first, citing all three.
    first = top.split("\n\n")[1]
    assert "Edda" in first and "3 outlets: " in first
    assert set(first.split("3 outlets: ")[1].split(", ")) == STORM_OUTLETS
    assert top.count("1 outlet: ") == 2

    storm = await say(server, alice, alice, "/brief storm this week")
    assert storm.startswith("Top stories about “storm” · this week") and "House prices" not in storm
    nothing = await say(server, alice, alice, "/brief volcano")
    assert "Nothing about “volcano” in the archive for the last 24 hours" in nothing


async def test_asking_what_happened_gets_the_briefing_of_that_period(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    week = await say(server, alice, alice, "What happened this week?")
    assert week.startswith("Top stories · this week")
    assert "Edda" in week and "3 outlets: " in week and "House prices" in week
    assert (await say(server, alice, alice, "any news today?")).startswith("Top stories · today")
    # The stories are remembered: a follow-up can point at one by its place.
    second = week.split("\n\n")[2].split("\n")[0]  # the second story's headline
    more = await say(server, alice, alice, "tell me more about the second story")
    assert "[1]" in more and second in more, (second, more)
    # A question about something is still answered from the passages, with its own window.
    storm = await say(server, alice, alice, "What happened to the harbour this week?")
    assert not storm.startswith("Top stories") and "[1]" in storm


def test_a_briefing_request_is_told_from_a_question_about_something() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert briefing_request("What happened this week?", now) == "this week"
    assert briefing_request("what's new?", now) == ""
    assert briefing_request("Any headlines since Monday?", now) == "since Monday"
    assert briefing_request("What happened to the harbour this week?", now) is None
    assert briefing_request("hello", now) is None
    assert briefing_request("What did she say?", now) is None  # a follow-up: it leans on the last turn
    assert briefing_request("tell me", now) is None  # nothing that asks for news
    assert briefing_request("and what about today?", now) is None  # a follow-up on the last question


def test_brief_window_reads_the_window_in_the_chats_zone() -> None:
    now = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # 00:30 on the 30th in Berlin: "yesterday" is the 29th there
    topic, since, until, label = brief_window("sanctions yesterday", now, "Europe/Berlin")
    assert (topic, label) == ("sanctions", "yesterday")
    assert since == datetime(2026, 11, 28, 23, tzinfo=UTC) and until == datetime(2026, 11, 29, 23, tzinfo=UTC)
    assert brief_window("", now, "UTC")[1:] == (now - timedelta(hours=24), now, "the last 24 hours")


# -- on the command line ---------------------------------------------------------------------------------------


def test_digest_json_has_the_documented_shape(home: Path) -> None:
    result = CliRunner().invoke(cli, ["digest", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"since", "until", "stories"}
    assert datetime.fromisoformat(data["until"]) - datetime.fromisoformat(data["since"]) == timedelta(hours=24)
    story = data["stories"][0]
    assert set(story) == {"headline", "summary", "outlets", "citations"}
    assert set(story["outlets"]) == STORM_OUTLETS and len(data["stories"]) == 3
    assert {tuple(sorted(c)) for c in story["citations"]} == {("n", "published", "source", "title", "url")}
    assert [c["n"] for s in data["stories"] for c in s["citations"]] == [1, 2, 3, 4, 5]

    text = CliRunner().invoke(cli, ["digest", "--topic", "house prices", "--since", "12h"])
    assert text.exit_code == 0 and text.stdout.startswith("Top stories about “house prices”")
    assert "1. House prices" in text.stdout and "Edda" not in text.stdout
    bad = CliRunner().invoke(cli, ["digest", "--since", "soon"])
    assert bad.exit_code == 2 and "expected a duration" in bad.stderr
    nothing = CliRunner().invoke(cli, ["digest", "--send"])
    assert nothing.exit_code == 2 and "TELEGRAM_BOT_TOKEN is not set" in nothing.stderr


async def test_digest_send_twice_delivers_once_to_every_subscribed_chat(
    server: FakeTelegram, home: Path, tmp_path: Path
) -> None:
    alice, dave, bob = server.add_user("Alice"), server.add_user("Dave"), server.add_user("Bob")
    forum = server.add_supergroup("Newsroom", forum=True, members=[bob])
    server.set_member_status(forum, bob, "creator")
    topic = server.add_forum_topic(forum, "Briefings", creator=bob)
    async with running_bot(server, home, poll_minutes=0):
        await say(server, alice, alice, "/subscribe")
        await say(server, alice, alice, "/follow house prices")
        await say(server, dave, dave, "/subscribe")
        await say(server, forum, bob, f"/subscribe@{BOT}", topic)
    server.block(dave)
    replies = {chat: len(server.bot_messages(chat)) for chat in (alice.id, forum.id)}

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFBOT_", "TELEGRAM_", "OPENAI_"))}
    env.update(
        BRIEFBOT_HOME=str(home),
        BRIEFBOT_CONFIG=str(tmp_path / "none.toml"),
        TELEGRAM_BOT_TOKEN=server.token,
        BRIEFBOT_TELEGRAM_API_URL=server.base_url,
        PTB_TIMEDELTA="1",
    )
    first = briefbot(env, "digest", "--send")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("2 digests sent (2 messages), 0 already delivered")
    assert "1 chat blocked the bot" in first.stdout and "Traceback" not in first.stderr

    [to_alice] = server.bot_messages(alice)[replies[alice.id] :]
    [to_forum] = server.bot_messages(forum)[replies[forum.id] :]
    assert to_forum.thread_id == topic  # the forum topic /subscribe was sent in
    assert to_alice.text is not None and to_alice.text.startswith("Your news briefing · ")
    stories = to_alice.text.split("\n\n")[1:]
    assert stories[0].startswith("House prices")  # followed first...
    storm = next(s for s in stories if "Edda" in s)  # ...then the story three outlets told, once, citing three
    assert set(storm.split("3 outlets: ")[1].split(", ")) == STORM_OUTLETS
    links = [e["url"] for e in to_alice.entities if e["type"] == "text_link"]
    assert sum("edda" in url for url in links) == 3

    from bot.state import State

    state = State(home / "state.sqlite3")
    try:
        assert not state.is_active(dave.id)  # 403: marked inactive
        logged = {(d.chat_id, d.status): d.message_ids for d in DeliveryLog(state).rows(kind="digest")}
        assert logged == {
            (alice.id, "sent"): [to_alice.message_id],
            (forum.id, "sent"): [to_forum.message_id],
            (dave.id, "failed"): [],
        }
    finally:
        state.close()

    second = briefbot(env, "digest", "--send", "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert (report["sent"], report["duplicate"], report["messages"]) == (0, 2, 0)
    assert len(server.bot_messages(alice)) == replies[alice.id] + 1
    assert len(server.bot_messages(forum)) == replies[forum.id] + 1
    assert not server.rate_limited
