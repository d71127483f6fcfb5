"""Who may use the bot: allow-lists, admins, one polite refusal; the rate limiter; the admin commands."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest

from bot.answering import AnswerEngine
from bot.settings import Settings
from bot.telegram.access import Access, RateLimiter
from index.archive import Archive
from tests import bot_harness as harness
from tests.bot_harness import HARBOR_Q, HARBOR_TITLE, ask, cited_titles, copy_corpus, running_bot, services_of
from tests.fakes.telegram import FakeTelegram
from tests.fakes.web import WebServer

archive, engine, server = harness.archive, harness.engine, harness.server  # shared fixtures

BOT = "briefbot_test_bot"
FIXTURES = Path(__file__).parent / "fixtures"


def test_access_rules() -> None:
    open_access = Access.from_settings(Settings(admins=[9]))
    assert open_access.is_open and open_access.may_ask(1, 1) and open_access.may_ask(None, -5)
    assert not open_access.is_admin(1) and open_access.is_admin(9) and not open_access.is_admin(None)

    closed = Access.from_settings(
        Settings(allowed_users=[1], allowed_chats=[-100], admins=[9]), aliases=lambda c: [-100] if c == -200 else []
    )
    assert not closed.is_open
    assert closed.may_ask(1, 1) and closed.may_ask(1, -300)  # a listed user, anywhere
    assert closed.may_ask(2, -100) and not closed.may_ask(2, 2) and not closed.may_ask(2, -300)  # members there only
    assert closed.may_ask(2, -200)  # the listed group became supergroup -200
    assert closed.may_ask(9, 9)  # admins may ask too
    assert "EVERYONE" in open_access.describe() and "1 allowed users" in closed.describe()


def test_settings_read_comma_separated_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_ALLOWED_USERS", "1, 2;3")
    monkeypatch.setenv("BRIEFBOT_ALLOWED_CHATS", "-1001")
    monkeypatch.setenv("BRIEFBOT_ADMINS", "7")
    access = Access.from_settings(Settings())
    assert access.users == {1, 2, 3} and access.chats == {-1001} and access.admins == {7}


def test_rate_limiter_is_a_sliding_window() -> None:
    now = [1000.0]
    limiter = RateLimiter(3, clock=lambda: now[0])
    assert [limiter.wait(1) for _ in range(3)] == [0, 0, 0]
    assert limiter.wait(1) == pytest.approx(60.0)
    assert limiter.wait(2) == 0  # per user
    now[0] += 30
    assert limiter.wait(1) == pytest.approx(30.0)
    assert limiter.should_tell(1, 30.0) and not limiter.should_tell(1, 29.0)  # told once per stretch
    now[0] += 30.5  # the first three leave the window one by one
    assert limiter.wait(1) == 0 and limiter.wait(1) == 0 and limiter.wait(1) == 0
    assert limiter.wait(1) > 0
    now[0] += 120
    limiter.forget_idle()
    assert limiter.wait(1) == 0
    assert RateLimiter(0).wait(1) == 0  # 0: no limit


async def test_allow_lists_and_one_refusal(
    server: FakeTelegram, briefbot_home: Path, archive: Archive, engine: AnswerEngine
) -> None:
    alice, bob, carol = server.add_user("Alice"), server.add_user("Bob"), server.add_user("Carol")
    club = server.add_group("Club", members=[alice, bob])
    other = server.add_supergroup("Other", members=[alice, bob], bot_status="administrator")
    settings = {"allowed_users": [alice.id], "allowed_chats": [club.id], "admins": [carol.id]}
    async with running_bot(server, briefbot_home, archive=archive, engine=engine, **settings) as app:
        assert cited_titles(await ask(server, alice, alice, HARBOR_Q)) == [HARBOR_TITLE]  # listed user: private
        assert cited_titles(await ask(server, other, alice, f"/ask@{BOT} {HARBOR_Q}")) == [HARBOR_TITLE]  # anywhere
        assert cited_titles(await ask(server, club, bob, f"/ask@{BOT} {HARBOR_Q}")) == [HARBOR_TITLE]  # listed chat
        assert cited_titles(await ask(server, carol, carol, HARBOR_Q)) == [HARBOR_TITLE]  # admins may ask

        refusal = await ask(server, bob, bob, HARBOR_Q)
        assert "this bot is private" in (refusal.text or "") and str(bob.id) in (refusal.text or "")
        group_refusal = await ask(server, other, bob, f"/ask@{BOT} {HARBOR_Q}")
        assert "only answer in chats my owner has allowed" in (group_refusal.text or "")
        assert group_refusal.reply_to_message_id is not None

        # Said once per chat: more tries and chatter get nothing more; a button press gets its answer only.
        server.add_message(bob, bob, "hello?")
        server.add_message(other, bob, f"/ask@{BOT} please")
        server.add_message(other, bob, "just chatting")
        answer = server.bot_messages(alice)[0]
        helpful = (answer.reply_markup or {})["inline_keyboard"][0][0]["callback_data"]
        press = server.add_callback_query(alice, bob, answer, helpful)
        await server.async_wait_for(lambda: press.answered, what="the press answered")
        assert press.answer_text == "Sorry, this bot is private."
        await ask(server, alice, alice, "/help")  # everything before it has been handled
        await asyncio.sleep(0.2)
        assert len(server.bot_messages(bob)) == 1 and len(server.bot_messages(other)) == 2
        row = services_of(app).state.feedback(int(helpful.split(":")[1]))
        assert row is not None and row.helpful is None  # bob's press was refused, not counted


async def test_admin_commands_are_for_admins(
    server: FakeTelegram, briefbot_home: Path, archive: Archive, engine: AnswerEngine
) -> None:
    server.flood_limits = None
    alice, admin = server.add_user("Alice"), server.add_user("Ada")
    async with running_bot(server, briefbot_home, archive=archive, engine=engine, admins=[admin.id]):
        for command in ("/stats", "/ingest https://x.example/a", "/addfeed https://x.example/f", "/feeds"):
            assert "for the bot's admins" in ((await ask(server, alice, alice, command)).text or ""), command
        assert "for the bot's admins" in ((await ask(server, alice, alice, "/removefeed x")).text or "")
        await ask(server, alice, alice, HARBOR_Q)
        stats = (await ask(server, admin, admin, "/stats")).text or ""
        assert "6 articles" in stats and "5 outlets" in stats and "2026-11-20 .. 2026-11-25" in stats
        assert "Questions answered: 1" in stats and "2 active" in stats
        assert "/ingest URL" in ((await ask(server, admin, admin, "/help")).text or "")
        assert "Usage: /ingest" in ((await ask(server, admin, admin, "/ingest")).text or "")
        assert "Usage: /ingest" in ((await ask(server, admin, admin, "/ingest /etc/passwd")).text or "")
        assert "No feeds registered" in ((await ask(server, admin, admin, "/feeds")).text or "")


async def test_ingest_and_feeds_from_a_chat(
    server: FakeTelegram,
    briefbot_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
    web_server: WebServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.flood_limits = None
    admin = server.add_user("Ada")
    copy_corpus(tmp_path_factory, briefbot_home)  # this test writes to the archive
    page = web_server.add("/news/flood-barrier", (FIXTURES / "article.html").read_bytes())
    feed = web_server.add("/feed.xml", (FIXTURES / "rss.xml").read_bytes(), content_type="application/rss+xml")

    async with running_bot(server, briefbot_home, admins=[admin.id]):
        refused = (await ask(server, admin, admin, f"/ingest {page}")).text or ""
        assert "refused: 127.0.0.1 is a private or local address" in refused  # chats may not reach the LAN
        assert "now holds 6 articles" in refused
        assert "refused" in ((await ask(server, admin, admin, f"/addfeed {feed}")).text or "")

    async with running_bot(server, briefbot_home, admins=[admin.id], allow_private_urls=True) as app:
        added = (await ask(server, admin, admin, f"/ingest {page}")).text or ""
        assert "Harbour Council Approves Flood Barrier" in added and "now holds 7 articles" in added
        again = (await ask(server, admin, admin, f"/ingest {page}")).text or ""
        assert "Already in the archive: 1" in again
        answer = await ask(server, admin, admin, "What did the harbour council approve about the flood barrier?")
        assert "Harbour Council Approves Flood Barrier After Year of Delays" in cited_titles(answer)

        assert "not an RSS or Atom feed" in ((await ask(server, admin, admin, f"/addfeed {page}")).text or "")
        assert "Added feed" in ((await ask(server, admin, admin, f"/addfeed {feed}")).text or "")
        listed = (await ask(server, admin, admin, "/feeds")).text or ""
        assert "1 feeds" in listed and feed in listed and "active, last polled never" in listed
        assert "Removed" in ((await ask(server, admin, admin, f"/removefeed {feed}")).text or "")
        assert "No such feed" in ((await ask(server, admin, admin, f"/removefeed {feed}")).text or "")
        assert services_of(app).archive.catalog.counts()[0] == 7
