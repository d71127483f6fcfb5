"""The support check: junk a misbehaving model writes never survives verification, good answers do.

The cases (tests/fixtures/llm_outputs.json) are LLM-style outputs over passages of the demo corpus: marker lists,
prompt and question echoes, chat-transcript loops, invented numbers and names, claims cited to the wrong source;
and paraphrased answers a good model gives. ``bench/verify_support.py`` measures the threshold on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import prompts
from bot.answering import NO_ANSWER
from bot.answering.verify import claims, unsupported, verify

CASES = json.loads((Path(__file__).parent / "fixtures" / "llm_outputs.json").read_text(encoding="utf-8"))
SOURCES = {int(k): v for k, v in CASES["sources"].items()}
PROMPT = prompts.load("answer", no_answer=NO_ANSWER)
QUESTION = CASES["question"]


@pytest.mark.parametrize(("junk", "kind"), CASES["junk"])
def test_junk_never_survives(junk: str, kind: str) -> None:
    checked = verify(junk, SOURCES, question=QUESTION, prompt=PROMPT)
    assert checked.text == "", f"{kind} survived: {checked.text!r}"
    assert checked.dropped and all(d.reason for d in checked.dropped)


@pytest.mark.parametrize("good", CASES["good"])
def test_good_answers_keep_every_claim(good: str) -> None:
    checked = verify(good, SOURCES, question=QUESTION, prompt=PROMPT)
    assert checked.text == good, [d.reason for d in checked.dropped]


def test_a_mixed_answer_keeps_its_supported_claims_only() -> None:
    text = " ".join([CASES["good"][0], "Peskov said sanctions will end next week [1].", CASES["good"][5]])
    checked = verify(text, SOURCES, question=QUESTION, prompt=PROMPT)
    assert checked.text == f"{CASES['good'][0]} {CASES['good'][5]}"
    assert [d.reason for d in checked.dropped] == ["names not in the cited passages: Peskov"]
    assert checked.cited == [1, 2]


def test_names_and_numbers_must_stand_in_the_cited_source_not_another() -> None:
    claim = "Silvanic will cut about 1,100 jobs [3]."
    assert unsupported(claim, SOURCES[3]) is None
    assert "1,100" in (unsupported(claim, SOURCES[4]) or "")  # the right claim, the wrong source
    okafor = "Okafor said the decision was the hardest he had to make [3]."
    assert unsupported(okafor, SOURCES[3]) is None
    assert "Okafor" in (unsupported(okafor, SOURCES[2]) or "")


def test_a_repeated_claim_is_kept_once() -> None:
    good = CASES["good"][2]
    checked = verify(f"{good} {good} {good}", SOURCES)
    assert checked.text == good and [d.reason for d in checked.dropped] == ["repeats an earlier claim"] * 2


def test_every_case_is_one_claim_or_more() -> None:
    assert all(claims(g) for g in CASES["good"]) and len(CASES["junk"]) >= 20


def test_the_readme_states_the_threshold_in_force() -> None:
    from bot.answering.verify import SUPPORT_MIN

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"({round(SUPPORT_MIN * 100)} % at least, stemmed)" in readme
