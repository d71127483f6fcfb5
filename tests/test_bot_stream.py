"""LLM mode: the answer streams into one message, edited at a throttled pace, then replaced by the verified
answer. The model is a fake OpenAI-compatible server on 127.0.0.1 reached through the real openai client."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

import pytest

from bot.answering import AnswerEngine, make_llm
from bot.settings import Settings
from bot.telegram.live import GROUP_INTERVAL, PLACEHOLDER, PRIVATE_INTERVAL
from index.archive import Archive
from tests import bot_harness as harness
from tests.bot_harness import HARBOR_Q, HARBOR_TITLE, cited_titles, copy_corpus, running_bot, services_of
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram import ChatRef, FakeTelegram, StoredMessage

archive, server = harness.archive, harness.server  # shared fixtures

BOT = "briefbot_test_bot"
FIRST_SENTENCE = "The Port of Velmar will reopen to shipping on Monday after last week's storm, the city said on Friday"
# Cited claims after the first keep the stream going past the edit interval (partials show whole verified
# claims only), then an uncited claim that verification must drop.
UNCITED = (
    " The quays reopen on Monday [1]. Ferries will run again [1]. Repairs will take months [1]."
    " The mayor also resigned in disgrace."
)


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(extra=UNCITED, chunk_words=2, chunk_delay=0.15) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        monkeypatch.setenv("BRIEFBOT_LLM_MODEL", "fake-model")
        yield fake


@pytest.fixture
async def llm_engine(archive: Archive, llm: FakeOpenAI) -> AsyncIterator[AnswerEngine]:
    settings = Settings(home=archive.settings.home, llm_timeout=10)
    model = make_llm(settings)
    assert model is not None
    yield AnswerEngine(archive, settings, llm=model)
    await model.client.close()


async def final_answer(server: FakeTelegram, chat: ChatRef) -> StoredMessage:
    """The bot's message in ``chat`` once it carries the feedback buttons (the final rendering)."""

    def with_buttons() -> list[StoredMessage]:
        return [m for m in server.bot_messages(chat) if m.reply_markup]

    return (await server.async_wait_for(with_buttons, timeout=15, what="final answer"))[0]


def spacing(server: FakeTelegram, message: StoredMessage) -> list[float]:
    """Seconds between the placeholder and each edit of ``message``, and between edits."""
    times = [c.at for c in server.sent if c.method == "sendMessage" and c.result["message_id"] == message.message_id]
    times += [
        c.at
        for c in server.sent
        if c.method == "editMessageText"
        and c.params["chat_id"] == message.chat_id
        and c.params["message_id"] == message.message_id
    ]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_private_answers_stream_with_throttled_edits_then_the_verified_answer(
    server: FakeTelegram, briefbot_home: Path, tmp_path_factory: pytest.TempPathFactory, llm: FakeOpenAI
) -> None:
    copy_corpus(tmp_path_factory, briefbot_home)
    alice = server.add_user("Alice")
    async with running_bot(server, briefbot_home) as app:  # the app makes its engine: BRIEFBOT_LLM_MODEL is set
        assert services_of(app).engine.llm is not None
        server.add_message(alice, alice, HARBOR_Q)
        answer = await final_answer(server, alice)
        state = services_of(app).state
        [turn] = await server.async_wait_for(lambda: state.turns(alice.id, None, 1), what="the turn stored")

    assert len(server.bot_messages(alice)) == 1  # one message, edited
    assert answer.history[0] == PLACEHOLDER
    partials = answer.history[1:]
    assert partials and all(p.endswith("…") and p.startswith("The archive reports") for p in partials)
    gaps = spacing(server, answer)
    assert len(gaps) == len(answer.history) and all(gap >= PRIVATE_INTERVAL for gap in gaps), gaps
    assert server.failed_requests == []  # never an edit with identical text, never a flood wait

    # The final rendering is the verified answer: the quote checked against the passage, the uncited claim gone.
    assert (answer.text or "").startswith(f'The archive reports: "{FIRST_SENTENCE}" [1].')
    assert "resigned" not in (answer.text or "") and "resigned" not in turn.answer
    assert cited_titles(answer) == [HARBOR_TITLE] and answer.parse_mode == "HTML"
    assert llm.requests and all(r["stream"] for r in llm.requests) and llm.requests[0]["model"] == "fake-model"


async def test_group_answers_stream_slower_in_the_topic(
    server: FakeTelegram, briefbot_home: Path, archive: Archive, llm: FakeOpenAI, llm_engine: AnswerEngine
) -> None:
    llm.chunk_delay = 0.05
    alice = server.add_user("Alice")
    forum = server.add_supergroup("Newsroom", forum=True, members=[alice])
    topic = server.add_forum_topic(forum, "Harbor")
    async with running_bot(server, briefbot_home, archive=archive, engine=llm_engine):
        question = server.add_message(forum, alice, f"/ask@{BOT} {HARBOR_Q}", thread_id=topic)
        answer = await final_answer(server, forum)

    assert answer.thread_id == topic and answer.reply_to_message_id == question.message_id
    gaps = spacing(server, answer)
    assert gaps and all(gap >= GROUP_INTERVAL for gap in gaps), gaps
    assert cited_titles(answer) == [HARBOR_TITLE] and server.failed_requests == []


async def test_a_failing_model_falls_back_to_the_extractive_answer(
    server: FakeTelegram, briefbot_home: Path, archive: Archive, llm: FakeOpenAI, llm_engine: AnswerEngine
) -> None:
    llm.fail_next(500)
    llm.fail_next(500)  # the openai client retries once
    alice = server.add_user("Alice")
    async with running_bot(server, briefbot_home, archive=archive, engine=llm_engine):
        server.add_message(alice, alice, HARBOR_Q)
        answer = await final_answer(server, alice)
    assert (answer.text or "").startswith("“The harbor will reopen on Monday")  # the extractive answer
    assert cited_titles(answer) == [HARBOR_TITLE] and len(llm.requests) == 2


async def test_live_answer_throttles_skips_repeats_and_waits_before_the_final_edit(server: FakeTelegram) -> None:
    from bot.answering import Answer, Citation
    from bot.telegram.live import LiveAnswer, Target

    alice = server.add_user("Alice")
    now, slept = [100.0], []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    final = Answer(
        "q",
        "The harbor will reopen on Monday. [1]",
        [Citation(1, "a1", "Port <news>", "https://h.example/a", "Harbor Times", None, "The harbor will reopen")],
    )
    async with server.application_builder().build() as app:
        live = LiveAnswer(app.bot, Target(alice.id), clock=lambda: now[0], sleep=sleep)
        await live.open()
        steps = [(101.0, "The"), (101.6, "The harbor"), (102.0, "The harbor will"), (103.15, "The harbor")]
        for at, partial in [*steps, (103.2, "The harbor will reopen")]:
            now[0] = at
            await live.show(partial)
        now[0] = 103.5
        [message] = await live.close(final)
    stored = server.message(alice, message.message_id)
    # 101.0 and 102.0 came too soon, 103.15 repeated what is shown; the final edit waited from 103.5 to 104.7.
    assert stored.history == [PLACEHOLDER, "The harbor …", "The harbor will reopen …"] and slept == [1.2]
    assert stored.text == "The harbor will reopen on Monday. [1]\n\nSources\n1. Harbor Times · Port <news>"
    assert server.failed_requests == []


async def test_long_answers_are_split_and_only_the_first_part_replies(server: FakeTelegram) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.answering import Answer, Citation
    from bot.telegram.live import Target, send_answer

    alice = server.add_user("Alice")
    group = server.add_group("Club", members=[alice])
    question = server.add_message(group, alice, f"/ask@{BOT} tell me everything")
    paragraph = "The council met again & argued <loudly> about the harbor. " * 40  # ~2,300 characters
    answer = Answer(
        "q",
        "\n\n".join(f"{paragraph}[{n}]" for n in (1, 2, 1, 2)),
        [Citation(n, f"a{n}", f"Story {n}", f"https://h.example/{n}", "Harbor Times", None) for n in (1, 2)],
    )
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("👍", callback_data="fb:1:1")]])
    async with server.application_builder().build() as app:
        sent = await send_answer(app.bot, Target(group.id, None, question.message_id, group=True), answer, keyboard)
    stored = [server.message(group, m.message_id) for m in sent]
    assert len(stored) >= 3 and all(len(m.text or "") <= 4096 for m in stored)
    assert [m.reply_to_message_id for m in stored] == [question.message_id] + [None] * (len(stored) - 1)
    assert [m.reply_markup is not None for m in stored] == [False] * (len(stored) - 1) + [True]
    assert "".join(m.text or "" for m in stored).count("argued <loudly>") == 160
    assert (stored[-1].text or "").endswith("2. Harbor Times · Story 2") and server.failed_requests == []
