"""The LLM path bounded in time and tokens, verified for support, with its provenance in the output: tested on the
local fake OpenAI-compatible server (fast, exact); tests/test_llm_real.py does the same against a real model."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.answering import Answer, AnswerEngine, QuestionContext, make_llm
from bot.answering.llm import LOCAL_SERVER_KEY
from bot.cli import cli
from bot.settings import Settings
from bot.state import Turn
from index.archive import Archive
from tests.conftest import DEMO_TODAY
from tests.fakes.openai_server import FakeOpenAI, quote_first_passage

QUESTION = "What did Tervania say about the sanctions?"


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(chunk_delay=0.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        yield server


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    shutil.copytree(demo_home, tmp_path / "copy")
    return tmp_path / "copy"


def engine_with(home: Path, **settings: object) -> AnswerEngine:
    values: dict[str, object] = {"home": home, "llm_model": "fake-model", "llm_timeout": 5.0, **settings}
    s = Settings(**values)  # type: ignore[arg-type]
    return AnswerEngine(Archive(s), s, llm=make_llm(s))


def test_every_call_asks_for_a_bounded_reply(home: Path, llm_server: FakeOpenAI) -> None:
    def reply(messages: list[dict[str, str]]) -> str:
        if "Rewrite the user's last question" in messages[0]["content"]:
            return "What did Tervania's foreign ministry say about the Coastal Union sanctions?"
        return quote_first_passage(messages)

    llm_server.reply = reply
    engine = engine_with(home, llm_max_tokens=300)
    history = [Turn("What did Tervania say?", "It denounced the sanctions [1].")]
    engine.answer_sync("and about the sanctions?", QuestionContext(history=history, today=DEMO_TODAY))
    condense, answer = llm_server.requests
    assert answer["max_tokens"] == 300 and answer["stream"] is True
    assert 0 < condense["max_tokens"] <= 100


def test_a_reply_cut_at_its_token_cap_keeps_its_verified_claims(home: Path, llm_server: FakeOpenAI) -> None:
    # The model rambles on; the cap cuts it mid-claim: the whole first claim stays, the unfinished one goes.
    llm_server.reply = lambda m: quote_first_passage(m) + " And then the ministry went on to say that " * 20
    engine = engine_with(home, llm_max_tokens=60)
    answer = engine.answer_sync(QUESTION, QuestionContext(today=DEMO_TODAY))
    assert answer.reader == "llm" and answer.text.startswith("The archive reports:") and answer.text.endswith("[1].")
    assert "went on" not in answer.text


def test_one_deadline_covers_the_whole_stream(home: Path, llm_server: FakeOpenAI) -> None:
    # A model that writes slowly forever: the answer still comes within llm_timeout (plus a little), with the
    # verified part it had written by then.
    llm_server.chunk_delay = 0.05
    llm_server.reply = lambda m: quote_first_passage(m) + " Tervania summoned envoys [1]." * 200
    engine = engine_with(home, llm_timeout=2.0, llm_max_tokens=2000)
    started = time.monotonic()
    answer = engine.answer_sync(QUESTION, QuestionContext(today=DEMO_TODAY))
    assert time.monotonic() - started < 2.0 + 1.5
    assert answer.reader == "llm" and answer.text.startswith("The archive reports:")
    assert answer.text.count("Tervania summoned envoys") <= 1  # repeats are dropped


def test_a_slow_prompt_past_the_deadline_falls_back_with_its_reason(home: Path, llm_server: FakeOpenAI) -> None:
    llm_server.first_delay = 3.0  # reading the prompt alone takes longer than the whole answer may
    engine = engine_with(home, llm_timeout=1.0)
    started = time.monotonic()
    answer = engine.answer_sync(QUESTION, QuestionContext(today=DEMO_TODAY))
    assert time.monotonic() - started < 1.0 + 1.5
    assert answer.reader == "extractive" and not answer.abstained
    assert answer.fallback_reason == "no complete reply within 1 s"


def test_retries_happen_inside_the_deadline(home: Path, llm_server: FakeOpenAI) -> None:
    for _ in range(10):
        llm_server.fail_next(503)
    engine = engine_with(home, llm_timeout=1.5, llm_max_retries=5)
    started = time.monotonic()
    answer = engine.answer_sync(QUESTION, QuestionContext(today=DEMO_TODAY))
    assert time.monotonic() - started < 1.5 + 1.0
    assert answer.reader == "extractive" and "HTTP 503" in (answer.fallback_reason or "")
    assert 2 <= len(llm_server.requests) <= 3  # 0.5 s + 1 s of backoff fit in 1.5 s; a third pause would not


def test_a_prompt_too_long_for_the_model_falls_back_and_says_so(home: Path, llm_server: FakeOpenAI) -> None:
    llm_server.context_words = 200
    answer = engine_with(home).answer_sync(QUESTION, QuestionContext(today=DEMO_TODAY))
    assert answer.reader == "extractive" and not answer.abstained
    assert "does not fit the model's context" in (answer.fallback_reason or "")


def test_a_local_server_needs_no_key(home: Path, llm_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    answer = engine_with(home).answer_sync(QUESTION, QuestionContext(today=DEMO_TODAY))
    assert answer.reader == "llm" and llm_server.keys == [LOCAL_SERVER_KEY]


@pytest.mark.parametrize(
    "rewrite",
    [
        "User: What did Tervania say? [2]. User: What did Tervania say? [2]. " * 8,  # a loop
        "What did the Kremlin say about the oil price cap and the grain deal in Moscow?",  # words from nowhere
        "",
    ],
)
def test_a_bad_rewrite_of_a_follow_up_is_replaced_by_the_heuristic(
    home: Path, llm_server: FakeOpenAI, rewrite: str, caplog: pytest.LogCaptureFixture
) -> None:
    def reply(messages: list[dict[str, str]]) -> str:
        if "Rewrite the user's last question" in messages[0]["content"]:
            return rewrite
        return quote_first_passage(messages)

    llm_server.reply = reply
    history = [Turn("What did Tervania say about the sanctions?", "It called them unlawful [1].")]
    with caplog.at_level("INFO"):
        answer = engine_with(home).answer_sync("and what about the ambassadors?", QuestionContext(history=history))
    assert not answer.abstained  # the heuristic's query (the follow-up plus the last question's words) answers
    searched = llm_server.requests[-1]["messages"][-1]["content"]
    assert "Kremlin" not in searched and "User:" not in searched
    assert "using the heuristic" in caplog.text


def test_ask_json_says_who_answered_and_why_not_the_model(home: Path, llm_server: FakeOpenAI) -> None:
    def ask() -> dict[str, object]:
        result = CliRunner().invoke(cli, ["ask", "--json", "--today", "2026-11-29", QUESTION], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    env = {"BRIEFBOT_HOME": str(home), "BRIEFBOT_LLM_MODEL": "fake-model"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        good = ask()
        assert good["reader"] == "llm" and good["fallback_reason"] is None
        llm_server.reply = lambda m: "[1]\n[2]\n[3]"
        junk = ask()
    assert (
        junk["reader"] == "extractive" and junk["fallback_reason"] == "nothing in the model's answer could be verified"
    )
    assert [d["reason"] for d in junk["dropped"]] == ["no words of its own"] * 3  # type: ignore[union-attr]


def test_a_stream_past_its_deadline_ends_with_what_it_had_verified(home: Path, llm_server: FakeOpenAI) -> None:
    llm_server.chunk_delay = 0.2  # two words a chunk: the first claim is whole after 0.4 s, then it loops
    llm_server.reply = lambda m: "Tervania summoned envoys [1]. " * 50
    engine = engine_with(home, llm_timeout=1.5)

    async def stream() -> tuple[list[object], float]:
        assert engine.llm is not None
        started = time.monotonic()
        try:
            items = [item async for item in engine.stream(QUESTION, QuestionContext(today=DEMO_TODAY))]
        finally:
            await engine.llm.aclose()
        return items, time.monotonic() - started

    items, seconds = asyncio.run(stream())
    final = items[-1]
    assert seconds < 1.5 + 1.0
    assert isinstance(final, Answer) and final.reader == "llm" and final.text == "Tervania summoned envoys [1]."
    assert items[:-1] == ["Tervania summoned envoys [1]."]  # shown once, as soon as it verified
