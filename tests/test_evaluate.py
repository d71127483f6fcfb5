"""briefbot eval: metrics like score.py's, a run file score.py reads, abstention on null questions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.evaluate import abstention_cv, has_answer, retrieval_metrics, unit

QUESTIONS = [
    {
        "id": "q1",
        "question": "Who scored the winner in the Norland Cup final?",
        "answer": "Mensah",
        "date": "2026-11-29",
    },
    {"id": "q2", "question": "What rate did the Bank of Norland set?", "answer": "4.25%", "date": "2026-11-29"},
    {"id": "q3", "question": "Which storm flooded Port Aldren this week?", "answer": "Edda", "date": "2026-11-29"},
]
NULLS = [
    {"id": "n1", "question": "Which comedian hosted the 2020 Oscars?", "answer": "Nobody", "date": "2020-02-10"},
    {
        "id": "n2",
        "question": "What did the Martian parliament vote on this week?",
        "answer": "canals",
        "date": "2026-11-29",
    },
]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_metrics_follow_the_dpr_convention() -> None:
    assert has_answer("Baltimore", "…the Francis Scott Key Bridge in BALTIMORE collapsed…")
    assert has_answer("O’Neill", "Tip O'Neill")  # quotes normalised as score.py does
    runs = {"a": ["x", "has Mensah", "y"], "b": ["nothing"]}
    m = retrieval_metrics([{"id": "a", "answer": "Mensah"}, {"id": "b", "answer": "Edda"}], runs)
    assert (m["Hit@1"], m["Hit@5"], m["MRR@10"]) == (0.0, 0.5, 0.25)


def test_abstention_threshold_is_judged_on_questions_it_was_not_fitted_on() -> None:
    # Null scores 0..9; fold f holds out questions f and f + 5. Each fold's threshold sits just above the highest
    # of its 8 training scores (ceil(0.9 * 8) = 8): 9 in folds 0-3, 8 in fold 4, where the held-out 9 answers.
    null = [(float(i), False) for i in range(10)]
    dev = [(20.0, False)] * 8 + [(0.5, False), (30.0, True)]
    cv = abstention_cv(dev, null, target=0.9, folds=5)
    assert cv["null_abstention"] == 0.9
    assert cv["threshold"] == pytest.approx(8.8)
    # The low dev question abstains, and so does the one that abstains whatever the threshold.
    assert cv["false_abstention"] == 0.2
    assert abstention_cv([], [])["null_abstention"] == 0.0


def test_a_passage_is_reported_with_its_title() -> None:
    assert unit("Bridge collapses in Baltimore", "The ship hit a pier.") == (
        "Bridge collapses in Baltimore\nThe ship hit a pier."
    )
    assert unit("", "text") == "text"


def test_eval_over_the_demo_archive(
    demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data_or_none: Path | None
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("BRIEFBOT_HOME", str(home))
    questions = _jsonl(tmp_path / "q.jsonl", QUESTIONS)
    nulls = _jsonl(tmp_path / "null.jsonl", NULLS)
    run = tmp_path / "run.jsonl"
    result = CliRunner().invoke(
        cli, ["eval", questions, "--null", nulls, "--run-out", str(run), "--json", "--modes", "hybrid,keyword"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["retrieval"]["hybrid"]["Hit@5"] == 1.0 and report["retrieval"]["keyword"]["n"] == 3
    assert report["answers"]["answer_string_in_reply"] >= 2 / 3 and report["answers"]["false_abstention"] <= 1 / 3
    assert report["null"]["abstention"] == 1.0
    assert report["quotes"]["verbatim"] == 1.0 and report["latency_ms"]["p50"] > 0
    rows = [json.loads(line) for line in run.read_text().splitlines()]
    assert {r["id"] for r in rows} == {"q1", "q2", "q3", "n1", "n2"}
    assert all({"passages", "answer_text", "abstained"} <= set(r) for r in rows)
    if shared_data_or_none is not None:  # the benchmark's own scorer reads our run file
        score = shared_data_or_none / "rtqa-2024" / "score.py"
        out = subprocess.run(
            [sys.executable, str(score), questions, str(run), "--null", nulls], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        scored = json.loads(out.stdout)
        assert scored["retrieval"]["Hit@5"] == report["retrieval"]["hybrid"]["Hit@5"]
        assert scored["null"]["abstention_rate"] == 1.0


def test_a_bad_question_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(bad)])
    assert result.exit_code == 1 and "needs 'id' and 'question'" in result.stderr
    result = CliRunner().invoke(cli, ["eval", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 1 and "no such file" in result.stderr


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("", "no questions in it"),
        ('{"id": "a", "question": "Who won?"}\n', "'answer' must be a non-empty string"),
        ('{"id": "a", "question": "Who won?", "answer": ""}\n', "'answer' must be a non-empty string"),
        ('{"id": "a", "question": 123, "answer": "x"}\n', "'question' must be a non-empty string"),
        ('{"id": "a", "question": "Who?", "answer": "x", "date": "29/11/2026"}\n', "'date' must be a date"),
        ('{"id": "a", "question": "Who?", "answer": "x", "date": "2026-02-30"}\n', "'date' must be a date"),
    ],
)
def test_every_bad_row_is_named_before_anything_runs(tmp_path: Path, rows: str, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(rows, encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(bad)])
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1


def test_an_unwritable_run_file_fails_before_the_questions(tmp_path: Path) -> None:
    good = _jsonl(tmp_path / "q.jsonl", [{"id": "a", "question": "Who?", "answer": "x"}])
    for target, message in ((tmp_path, "a folder"), (tmp_path / "no" / "run.jsonl", "does not exist")):
        result = CliRunner().invoke(cli, ["eval", good, "--run-out", str(target)])
        assert result.exit_code == 1 and message in result.stderr, result.output
    result = CliRunner().invoke(cli, ["eval", str(tmp_path)])
    assert result.exit_code == 1 and "a folder, not a question file" in result.stderr


def test_eval_ingests_its_corpus_once_into_a_home_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_HOME", str(tmp_path / "home"))
    corpus = _jsonl(
        tmp_path / "corpus.jsonl",
        [
            {
                "url": "https://news.example/a1",
                "title": "Lighthouse keeper rescues stranded kayaker",
                "text": "A lighthouse keeper on Brenna Island rescued a stranded kayaker on Tuesday after spotting a "
                "flare. The kayaker, Ola Berg, was treated for cold.",
                "published": "2024-05-07",
                "source": "news.example",
            },
            {
                "url": "https://news.example/a2",
                "title": "City council approves new tram line",
                "text": "The city council of Halden approved a new tram line on Monday. The line will cost 2 billion "
                "crowns and open in 2028.",
                "published": "2024-05-06",
                "source": "news.example",
            },
        ],
    )
    questions = _jsonl(
        tmp_path / "q.jsonl",
        [
            {
                "id": "q1",
                "question": "Who rescued the stranded kayaker?",
                "answer": "lighthouse keeper",
                "date": "2024-05-10",
            },
            {"id": "q2", "question": "When will the new tram line open?", "answer": "2028", "date": "2024-05-10"},
        ],
    )
    for added, unchanged in ((2, 0), (0, 2)):  # the second run reuses the first one's index
        if unchanged:  # the same articles written anew elsewhere (make eval-newsqa writes them to a temporary file)
            (tmp_path / "again").mkdir()
            corpus = shutil.copy(corpus, tmp_path / "again" / "corpus.jsonl")
        result = CliRunner().invoke(cli, ["eval", questions, "--corpus", corpus, "--json"])
        assert result.exit_code == 0, result.output
        assert f"corpus: {added} added, {unchanged} unchanged, 0 failed" in result.stderr
        report = json.loads(result.stdout)
        assert report["retrieval"]["hybrid"]["Hit@1"] == 1.0 and report["answers"]["false_abstention"] == 0.0
    assert not (tmp_path / "home" / "catalog.sqlite3").exists()  # the user's own archive is left alone
    assert len(list((tmp_path / "home" / "eval").iterdir())) == 1


def test_eval_reads_newsqa_questions_by_kind_and_a_null_file_without_answers(
    tmp_path: Path, demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_HOME", str(demo_home))
    questions = _jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": "d1", "question": "What did Tervania say about the sanctions?", "answer": "unlawful",
             "kind": "quote", "date": "2026-11-29"},
            {"id": "d2", "question": "How many jobs will Silvanic cut?", "answer": "1,100", "kind": "number",
             "date": "2026-11-29"},
        ],
    )  # fmt: skip
    nulls = _jsonl(
        tmp_path / "null.jsonl",
        [
            {"id": "n1", "question": "Who won the 2031 chess olympiad in Halvik?", "date": "2026-11-29"},
            {"id": "n2", "question": "What did the Moon colony's mayor say?", "answer": "", "date": "2026-11-29"},
        ],
    )  # fmt: skip
    result = CliRunner().invoke(cli, ["eval", questions, "--null", nulls, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["answers"]["by_kind"]) == {"quote", "number"}
    assert report["null"]["n"] == 2 and "old_answer_in_reply" not in report["null"]  # no old answers given
    text = CliRunner().invoke(cli, ["eval", questions, "--null", nulls]).stdout
    assert "answer string in reply by kind: number" in text
