"""One question, one answer, whichever door it comes in by: Telegram (through the fake Bot API), `briefbot ask
--json`, `briefbot chat` and `briefbot eval` all go through ``bot.ask`` and the one engine path; they differ in
rendering only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.bot_harness import HARBOR_Q, ask, cited_titles, copy_corpus, running_bot, server  # noqa: F401
from tests.fakes.telegram import FakeTelegram


async def _cli(*args: str, input: str | None = None) -> str:
    """The CLI as a user runs it: in a thread of its own, outside the test's event loop (as in a terminal)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_the_same_question_gets_the_same_answer_at_every_door(
    server: FakeTelegram,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    briefbot_home: Path,
    tmp_path: Path,
) -> None:
    copy_corpus(tmp_path_factory, briefbot_home)

    asked = json.loads(await _cli("ask", "--json", HARBOR_Q))
    assert not asked["abstained"] and asked["citations"]
    text, citations = asked["answer"], asked["citations"]
    assert "“The harbor will reopen on Monday" in text

    # chat: the same text, then the same sources
    chatted = await _cli("chat", input=HARBOR_Q + "\n")
    assert chatted.startswith(text + "\n\nSources:\n")
    for c in citations:
        assert f"  [{c['n']}] {c['source']}, {c['published'][:10]}: {c['title']}\n      {c['url']}" in chatted

    # eval: the reply it scores is the same text
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "h1", "question": HARBOR_Q, "answer": "Monday"}) + "\n")
    run_file = tmp_path / "run.jsonl"
    await _cli("eval", str(questions), "--run-out", str(run_file), "--json")
    assert json.loads(run_file.read_text())["answer_text"] == text

    # Telegram: the same text with linked markers, the same sources in the same order
    alice = server.add_user("Alice")
    async with running_bot(server, briefbot_home):
        message = await ask(server, alice, alice, HARBOR_Q)
    shown = message.text or ""
    assert shown.startswith(text)
    assert cited_titles(message) == [c["title"] for c in citations]


async def test_a_question_about_the_us_this_week_is_a_search_not_a_briefing(
    server: FakeTelegram,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    briefbot_home: Path,
) -> None:
    copy_corpus(tmp_path_factory, briefbot_home)
    general = json.loads(await _cli("ask", "--json", "--today", "2026-11-26", "What happened this week?"))
    assert "briefing" in general and len(general["briefing"]["stories"]) >= 3
    us = json.loads(await _cli("ask", "--json", "--today", "2026-11-26", "What happened in the US this week?"))
    # The corpus has nothing on the US: a search says so for the week; a generic briefing would list stories.
    assert "briefing" not in us and us["abstained"], us
    assert "for this week" in us["answer"]
