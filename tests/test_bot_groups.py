"""The bot in groups and forum topics: privacy mode, replies in the right topic, per-topic context, membership
changes and migrations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest

from bot.answering import NO_ANSWER, AnswerEngine
from bot.telegram.services import App
from index.archive import Archive
from tests import bot_harness as harness
from tests.bot_harness import (
    CUP_Q,
    HARBOR_Q,
    HARBOR_TITLE,
    RATES_Q,
    RATES_TITLE,
    ask,
    cited_titles,
    running_bot,
    services_of,
)
from tests.fakes.telegram import FakeTelegram

CUP_TITLE = "Velmar United win the cup final 2-1"

archive, engine, server = harness.archive, harness.engine, harness.server  # shared fixtures

BOT = "briefbot_test_bot"


@pytest.fixture
async def bot(server: FakeTelegram, briefbot_home: Path, archive: Archive, engine: AnswerEngine) -> AsyncIterator[App]:
    async with running_bot(server, briefbot_home, archive=archive, engine=engine) as app:
        yield app


async def test_privacy_mode_only_commands_mentions_and_replies_are_answered(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    # As an administrator the bot receives every message, so ignoring chatter is its own doing.
    group = server.add_supergroup("Club", members=[alice], bot_status="administrator")

    chatter = server.add_message(group, alice, "what did the mayor say about the harbor?")
    other_bot = server.add_message(group, alice, "/ask@other_bot what did the mayor say?")
    command = await ask(server, group, alice, f"/ask@{BOT} {HARBOR_Q}")
    assert cited_titles(command) == [HARBOR_TITLE]
    assert command.reply_to_message_id is not None
    asked = server.message(group, command.reply_to_message_id)
    assert asked.text == f"/ask@{BOT} {HARBOR_Q}"

    plain_command = await ask(server, group, alice, f"/ask {RATES_Q}")
    assert cited_titles(plain_command) == [RATES_TITLE]

    mention = await ask(server, group, alice, f"@{BOT} {RATES_Q}")
    assert cited_titles(mention) == [RATES_TITLE]
    reply = await ask(server, group, alice, CUP_Q, reply_to=command)
    assert cited_titles(reply) == [CUP_TITLE]

    answered = {m.reply_to_message_id for m in server.bot_messages(group)}
    assert None not in answered and chatter.message_id not in answered and other_bot.message_id not in answered
    assert len(server.bot_messages(group)) == 4
    state = services_of(bot).state
    # The mention is not part of the question the conversation remembers.
    assert [t.question for t in state.turns(group.id, None, 10)][2] == RATES_Q


async def test_forum_topics_get_answers_in_the_topic_with_their_own_context(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    forum = server.add_supergroup("Newsroom", forum=True, members=[alice])
    harbor_topic = server.add_forum_topic(forum, "Harbor")
    other_topic = server.add_forum_topic(forum, "Other")

    first = await ask(server, forum, alice, f"/ask@{BOT} What happened at the Port of Velmar?", thread_id=harbor_topic)
    assert first.thread_id == harbor_topic and first.data["is_topic_message"]
    question = server.message(forum, first.reply_to_message_id or 0)
    assert question.thread_id == harbor_topic and question.from_bot is False

    elsewhere = await ask(server, forum, alice, f"/ask@{BOT} What did she say?", thread_id=other_topic)
    assert elsewhere.thread_id == other_topic and (elsewhere.text or "").startswith(NO_ANSWER)
    follow_up = await ask(server, forum, alice, f"/ask@{BOT} What did she say?", thread_id=harbor_topic)
    assert follow_up.thread_id == harbor_topic and cited_titles(follow_up) == [HARBOR_TITLE]

    typing = [c.params for c in server.calls("sendChatAction") if c.params["chat_id"] == forum.id]
    assert {p.get("message_thread_id") for p in typing} == {harbor_topic, other_topic}
    assert server.failed_requests == []


async def test_empty_ask_and_bare_mention_get_a_hint(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice])
    assert "Ask me something after the command" in ((await ask(server, group, alice, f"/ask@{BOT}")).text or "")
    assert "Ask me a question" in ((await ask(server, group, alice, f"@{BOT}")).text or "")
    help_text = (await ask(server, group, alice, f"/help@{BOT}")).text or ""
    assert f"/ask@{BOT} your question" in help_text


async def test_membership_changes_are_recorded(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice], bot_status="left")
    state = services_of(bot).state

    server.add_my_chat_member(group, alice, new_status="member")
    await server.async_wait_for(lambda: state.chat(group.id), what="the group recorded")
    chat = state.chat(group.id)
    assert chat is not None and chat.active and chat.type == "group" and chat.title == "Club"

    server.add_my_chat_member(group, alice, new_status="kicked")
    await server.async_wait_for(lambda: not state.is_active(group.id), what="the group marked inactive")
    chat = state.chat(group.id)
    assert chat is not None and chat.removed_at is not None and chat.inactive_reason == "kicked"

    server.block(alice, send_update=True)  # in a private chat, "kicked" means the user blocked the bot
    await server.async_wait_for(lambda: not state.is_active(alice.id), what="the private chat marked inactive")
    assert server.calls("sendMessage") == []  # none of this is answered


async def test_migration_to_a_supergroup_keeps_the_conversation(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice])
    state = services_of(bot).state
    await ask(server, group, alice, f"/ask@{BOT} What happened at the Port of Velmar?")

    supergroup = server.migrate_group(group)
    await server.async_wait_for(lambda: (old := state.chat(group.id)) is not None and old.migrated_to, what="migration")
    old = state.chat(group.id)
    assert old is not None and old.migrated_to == supergroup.id and not old.active
    assert state.turns(group.id, None, 5) == []

    follow_up = await ask(server, supergroup, alice, f"/ask@{BOT} What did she say?")
    assert cited_titles(follow_up) == [HARBOR_TITLE]
    new = state.chat(supergroup.id)
    assert new is not None and new.active and new.type == "supergroup"


async def test_a_kicked_bot_stops_sending_to_the_group(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    group = server.add_supergroup("Club", members=[alice])
    state = services_of(bot).state
    server.fail_next(
        "sendMessage", 403, chat_id=group, description="Forbidden: bot was kicked from the supergroup chat"
    )
    server.add_message(group, alice, f"/ask@{BOT} {HARBOR_Q}")
    await server.async_wait_for(lambda: not state.is_active(group.id), timeout=10, what="group marked inactive")
    await asyncio.sleep(0.3)
    assert [r.status for r in server.requests if r.method == "sendMessage"] == [403]


async def test_a_mention_asking_for_the_news_gets_the_briefing_in_the_group(bot: App, server: FakeTelegram) -> None:
    alice = server.add_user("Alice")
    group = server.add_group("Newsroom", members=[alice])
    brief = await ask(server, group, alice, f"@{BOT} what's new since 2000?")
    assert (brief.text or "").startswith("Top stories · since ")
    assert "Velmar council approves a 12 km tram line" in (brief.text or "") and "1 outlet: " in (brief.text or "")
    follow = await ask(server, group, alice, f"/ask@{BOT} {HARBOR_Q}")  # and questions still get answers
    assert cited_titles(follow) == [HARBOR_TITLE]
