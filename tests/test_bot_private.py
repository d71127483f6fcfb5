"""The bot in private chats, end to end: the real Application polls the fake Bot API server and answers from a
real archive."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest

from bot.answering import NO_ANSWER, AnswerEngine
from bot.settings import Settings
from bot.telegram.services import App
from index.archive import Archive
from tests import bot_harness as harness
from tests.bot_harness import (
    HARBOR_Q,
    HARBOR_TITLE,
    RATES_TITLE,
    UNKNOWN_Q,
    ask,
    cited_titles,
    running_bot,
    services_of,
)
from tests.fakes.telegram import FakeTelegram, FakeUser, StoredMessage

archive, engine, server = harness.archive, harness.engine, harness.server  # shared fixtures

HARBOR_URL = "https://harbortimes.example/2026/11/velmar-port-reopens"


@pytest.fixture
async def bot(server: FakeTelegram, briefbot_home: Path, archive: Archive, engine: AnswerEngine) -> AsyncIterator[App]:
    async with running_bot(server, briefbot_home, archive=archive, engine=engine) as app:
        yield app


async def say(server: FakeTelegram, user: FakeUser, text: str) -> StoredMessage:
    """``user`` writes to the bot in private; returns the bot's reply."""
    return await ask(server, user, user, text)


async def test_a_question_gets_a_cited_html_answer_with_feedback_buttons(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice", username="alice")
    answer = await say(server, alice, HARBOR_Q)

    assert answer.parse_mode == "HTML"
    assert "“The harbor will reopen on Monday" in (answer.text or "") and "[1]" in (answer.text or "")
    assert cited_titles(answer) == [HARBOR_TITLE]
    links = [e["url"] for e in answer.entities if e["type"] == "text_link"]
    assert links and set(links) == {HARBOR_URL}  # the [1] marker and the footer title link the article
    assert answer.reply_to_message_id is None  # private chats: no quoting needed
    buttons = [b for row in (answer.reply_markup or {})["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["👍 Helpful", "👎 Not helpful"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    [send] = server.calls("sendMessage")
    assert send.params["link_preview_options"] == {"is_disabled": True}
    assert [c.params["action"] for c in server.calls("sendChatAction")] == ["typing"]
    assert server.failed_requests == []


async def test_nothing_in_the_archive_is_said_plainly(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    answer = await say(server, alice, UNKNOWN_Q)
    assert (answer.text or "").startswith(NO_ANSWER)
    assert "6 articles" in (answer.text or "") and "2026-11-25" in (answer.text or "")
    assert cited_titles(answer) == []


async def test_commands(bot: App, server: FakeTelegram) -> None:
    server.flood_limits = None  # eight replies in a row; flood limits have their own test
    alice = server.add_user("Alice", username="alice")

    start = await say(server, alice, "/start")
    assert "Hi Alice!" in (start.text or "")
    assert "6 articles from 5 outlets, the newest from 2026-11-25" in (start.text or "")

    help_text = (await say(server, alice, "/help")).text or ""
    assert "/latest" in help_text and "/reset" in help_text and "/ingest" not in help_text  # not an admin

    sources = (await say(server, alice, "/sources")).text or ""
    assert "5 outlets" in sources and "Capital Dispatch – 2" in sources and "Sports Desk – 1" in sources

    latest = await say(server, alice, "/latest 2")
    lines = [line for line in (latest.text or "").splitlines() if line[:1].isdigit()]
    assert lines == [
        "1. Keller & Sons <Holdings> profit up 8% as prices rise · Capital Dispatch · 2026-11-25",
        "2. Velmar United win the cup final 2-1 · Sports Desk · 2026-11-24",
    ]
    assert "Keller &amp; Sons &lt;Holdings&gt;" in (latest.source or "")  # escaped, so Telegram accepted it
    assert {e["url"] for e in latest.entities if e["type"] == "text_link"} == {
        "https://capitaldispatch.example/2026/11/keller-sons-results",
        "https://sportsdesk.example/2026/11/velmar-united-cup",
    }
    assert "Usage: /latest" in ((await say(server, alice, "/latest lots")).text or "")

    whoami = (await say(server, alice, "/whoami")).text or ""
    assert f"User id: {alice.id} (@alice)" in whoami and f"Chat id: {alice.id} (private)" in whoami
    assert "May ask here: yes; admin: no" in whoami

    assert "forgotten" in ((await say(server, alice, "/reset")).text or "")
    assert "don't know that command" in ((await say(server, alice, "/frobnicate")).text or "")
    assert server.failed_requests == []


async def test_follow_ups_use_only_their_own_chat(bot: App, server: FakeTelegram) -> None:
    alice, bob, carol = server.add_user("Alice"), server.add_user("Bob"), server.add_user("Carol")
    # Interleaved: each user's follow-up must borrow from their own previous question only.
    assert cited_titles(await say(server, alice, "What happened at the Port of Velmar?")) == [HARBOR_TITLE]
    assert cited_titles(await say(server, bob, "What is the Bank of Norland doing?")) == [RATES_TITLE]
    assert cited_titles(await say(server, alice, "What did she say?")) == [HARBOR_TITLE]
    assert cited_titles(await say(server, bob, "What did he say?")) == [RATES_TITLE]
    # The same follow-up with no history finds nothing: the answers above came from the chats' own turns.
    assert ((await say(server, carol, "What did she say?")).text or "").startswith(NO_ANSWER)

    assert "forgotten" in ((await say(server, alice, "/reset")).text or "")
    assert ((await say(server, alice, "What did she say?")).text or "").startswith(NO_ANSWER)
    state = services_of(bot).state
    questions = [t.question for t in state.turns(bob.id, None, 5)]
    assert questions == ["What is the Bank of Norland doing?", "What did he say?"]


async def test_history_survives_a_restart(
    server: FakeTelegram, briefbot_home: Path, archive: Archive, engine: AnswerEngine
) -> None:
    alice = server.add_user("Alice")
    async with running_bot(server, briefbot_home, archive=archive, engine=engine):
        await say(server, alice, "What happened at the Port of Velmar?")
    async with running_bot(server, briefbot_home, archive=archive, engine=engine):  # a new process, same home
        assert cited_titles(await say(server, alice, "What did she say?")) == [HARBOR_TITLE]


async def test_feedback_is_stored_and_every_press_answered_once(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    answer = await say(server, alice, HARBOR_Q)
    helpful = (answer.reply_markup or {})["inline_keyboard"][0][0]["callback_data"]
    press = server.add_callback_query(alice, alice, answer, helpful)
    stale = server.add_callback_query(alice, alice, answer, "fb:999999:0")
    junk = server.add_callback_query(alice, alice, answer, "something else")
    await server.async_wait_for(lambda: press.answered and stale.answered and junk.answered, timeout=5)

    assert press.answer_text == "Thanks, noted: helpful."
    assert stale.answer_text == junk.answer_text == "This button has expired."
    feedback_id, state = int(helpful.split(":")[1]), services_of(bot).state

    def stored() -> bool:  # the row learns its message id once the answer is out
        row = state.feedback(feedback_id)
        return row is not None and row.answer_message_id is not None

    await server.async_wait_for(stored, what="the feedback row complete")
    row = state.feedback(feedback_id)
    assert row is not None and row.helpful is True and row.voted_by == alice.id
    assert row.question == HARBOR_Q and row.answer.startswith("“The harbor will reopen")
    assert row.answer_message_id == answer.message_id and row.passage_ids
    assert all(r.ok for r in server.requests if r.method == "answerCallbackQuery")
    assert len(server.calls("answerCallbackQuery")) == 3


async def test_rejected_html_is_sent_again_as_plain_text(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    server.fail_next(
        "sendMessage", 400, description='Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0'
    )
    answer = await say(server, alice, HARBOR_Q)
    assert answer.parse_mode is None
    assert "“The harbor will reopen on Monday" in (answer.text or "")
    assert f"Sources:\n1. Harbor Times · 2026-11-20 · {HARBOR_TITLE} {HARBOR_URL}" in (answer.text or "")
    assert answer.reply_markup is not None  # the feedback buttons came along
    assert [r.status for r in server.requests if r.method == "sendMessage"] == [400, 200]


async def test_a_429_is_waited_out_and_the_answer_still_delivered(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    server.fail_next("sendMessage", 429, retry_after=1)
    started = time.monotonic()
    answer = await say(server, alice, HARBOR_Q)
    assert time.monotonic() - started >= 1.0
    assert cited_titles(answer) == [HARBOR_TITLE]
    assert [r.status for r in server.requests if r.method == "sendMessage"] == [429, 200]


async def test_a_403_marks_the_chat_inactive_and_nothing_more_is_sent(bot: App, server: FakeTelegram) -> None:
    alice, bob = server.add_user("Alice"), server.add_user("Bob")
    state = services_of(bot).state
    server.fail_next("sendMessage", 403, chat_id=alice)
    server.add_message(alice, alice, HARBOR_Q)
    await server.async_wait_for(lambda: not state.is_active(alice.id), timeout=10, what="alice marked inactive")
    await say(server, bob, HARBOR_Q)  # the bot goes on with others...
    await asyncio.sleep(0.3)
    to_alice = [r for r in server.requests if r.params.get("chat_id") == alice.id and r.method == "sendMessage"]
    assert [r.status for r in to_alice] == [403]  # ...and sent nothing more to her: no apology, no retry
    chat = state.chat(alice.id)
    assert chat is not None and chat.inactive_reason == "blocked"

    # Writing again means she unblocked the bot: the chat is active again.
    assert cited_titles(await say(server, alice, HARBOR_Q)) == [HARBOR_TITLE]
    assert state.is_active(alice.id)


async def test_stickers_and_edits(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice], bot_status="administrator")  # sees everything
    server.add_sticker(alice, alice)
    [hint] = await server.async_wait_for_messages(alice, 1)
    assert hint.text == "I read text only: send me your question as a message."
    question = server.add_message(alice, alice, UNKNOWN_Q)
    await server.async_wait_for_messages(alice, 2)
    server.add_edited_message(question, HARBOR_Q)  # not asked for (allowed_updates): the first answer stands
    server.add_sticker(group, alice)  # in groups, stickers are just chatter
    await say(server, alice, "/help")
    assert len(server.bot_messages(alice)) == 3 and server.bot_messages(group) == []
    # Every update was taken (the bot confirms them by its next poll's offset, a moment after its reply).
    await server.async_wait_for(lambda: server.pending_updates == [], what="every update confirmed")


async def test_rate_limit_and_length_cap(server: FakeTelegram, briefbot_home: Path, archive: Archive) -> None:
    engine = AnswerEngine(archive, Settings(home=archive.settings.home))
    alice = server.add_user("Alice")
    async with running_bot(
        server, briefbot_home, archive=archive, engine=engine, rate_limit_per_minute=2, max_question_chars=80
    ):
        too_long = await say(server, alice, "Tell me " + "everything " * 10 + "about the harbor")
        assert "too long (134 characters; the limit is 80)" in (too_long.text or "")
        await say(server, alice, HARBOR_Q)
        await say(server, alice, UNKNOWN_Q)
        limited = await say(server, alice, HARBOR_Q)
        assert "2 questions a minute" in (limited.text or "") and "try again in" in (limited.text or "")
        server.add_message(alice, alice, HARBOR_Q)  # told once is enough: this one gets no reply
        assert "/latest" in ((await say(server, alice, "/help")).text or "")  # commands are not limited
        texts = server.texts(alice)
        assert len(texts) == 5 and sum("questions a minute" in t for t in texts) == 1
