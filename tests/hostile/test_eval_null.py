"""``briefbot eval --null`` takes questions the archive cannot answer: they need no answer (issue 9, item 8).

The "old answer in the reply" figure is computed over the null questions that do name an old answer, and left
out when none does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.evaluate import Outcome, read_jsonl, summarise

QUESTION = {"id": "q1", "question": "Which storm flooded Port Aldren?", "answer": "Edda", "date": "2026-11-29"}
NULLS = [
    {"id": "n1", "question": "What did the Martian parliament vote on?", "date": "2026-11-29"},
    {"id": "n2", "question": "Who won the lunar chess open?", "answer": "", "date": "2026-11-29"},
    {"id": "n3", "question": "Which comedian hosted the 2020 Oscars?", "answer": "Nobody", "date": "2020-02-10"},
]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_null_questions_without_an_answer_are_read(tmp_path: Path) -> None:
    rows = read_jsonl(_jsonl(tmp_path / "null.jsonl", NULLS), answers=False)
    assert [r["id"] for r in rows] == ["n1", "n2", "n3"]
    with pytest.raises(Exception, match="'answer' must be a non-empty string"):
        read_jsonl(str(tmp_path / "null.jsonl"))  # a dev question still needs its answer


def _outcome(qid: str, text: str) -> Outcome:
    return Outcome(qid, [], text, abstained=False, seconds=0.01)


def test_old_answer_in_reply_counts_only_questions_that_name_one() -> None:
    nulls = [*NULLS, {"id": "n4", "question": "Who?", "answer": "Edda"}]
    outcomes = {q["id"]: _outcome(q["id"], "Storm Edda flooded the harbour.") for q in nulls}
    report = summarise([], nulls, outcomes, [])
    assert report["null"]["n"] == 4
    assert report["null"]["old_answer_in_reply"] == 0.5  # n3 ("Nobody": not in the reply) and n4 ("Edda": in it)
    without = summarise([], NULLS[:2], {q: outcomes[q] for q in ("n1", "n2")}, [])
    assert without["null"]["n"] == 2 and "old_answer_in_reply" not in without["null"]


def test_eval_accepts_a_null_file_without_answers(
    demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("BRIEFBOT_HOME", str(home))
    questions = _jsonl(tmp_path / "q.jsonl", [QUESTION])
    nulls = _jsonl(tmp_path / "null.jsonl", NULLS)
    result = CliRunner().invoke(cli, ["eval", questions, "--null", nulls, "--json", "--modes", "hybrid"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["null"]["n"] == 3
    assert 0.0 <= report["null"]["old_answer_in_reply"] <= 1.0
