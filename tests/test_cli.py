"""The command line as a user meets it: exit codes, JSON reports, one clear line per failure, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.fakes.web import WebServer

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _write_articles(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vote.md").write_text(
        "# Council approves harbour wall repairs\n\nThe city council voted 7 to 2 on Monday to rebuild the "
        "harbour wall. “We cannot wait for the next storm,” said councillor Anna Berg.\n",
        encoding="utf-8",
    )
    records = [
        {
            "url": "https://harbortimes.example/a?utm_source=x",
            "title": "Ferry service resumes",
            "text": "The ferry to Skarvik resumed on Tuesday after three days of storms, the operator said.",
            "published": "2026-11-20",
            "source": "Harbor Times",
        },
        {"url": "https://harbortimes.example/b", "title": "No text"},
    ]
    (folder / "export.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n{broken\n", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")


def test_ingest_reports_each_failure_and_keeps_the_good_items(tmp_path: Path) -> None:
    _write_articles(tmp_path / "in")
    code, out, err = run("ingest", "--json", str(tmp_path / "in"), str(tmp_path / "missing.txt"))
    assert code == 1
    report = json.loads(out)
    assert set(report) >= {"added", "updated", "unchanged", "failed", "articles", "passages"}
    assert report["added"] == 2 and report["articles"] == 2 and report["passages"] >= 2
    failed = {f["source"]: f["error"] for f in report["failed"]}
    assert any("missing.txt" in s for s in failed)
    assert any("empty.txt" in s for s in failed)
    assert any("export.jsonl:2" in s for s in failed) and any("export.jsonl:3" in s for s in failed)
    assert "Traceback" not in err

    code, out, _ = run("ingest", "--json", str(tmp_path / "in" / "vote.md"))
    assert code == 0 and json.loads(out)["unchanged"] == 1


def test_ingest_text_output_names_failures_on_stderr(tmp_path: Path) -> None:
    _write_articles(tmp_path / "in")
    code, out, err = run("ingest", str(tmp_path / "in"))
    assert code == 1
    assert "2 added" in out and "failed" in out
    assert "failed: " in err and "empty.txt" in err


def test_usage_errors_exit_2() -> None:
    assert run("ingest")[0] == 2
    assert run("ask")[0] == 2
    assert run("nosuchcommand")[0] == 2
    code, _, err = run("ask", "--today", "yesterday-ish", "anything")
    assert code == 2 and "date" in err


def test_bad_settings_are_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_CHUNK_TOKENS", "lots")
    code, _, err = run("stats")
    assert code == 2 and "chunk_tokens" in err and "Traceback" not in err


def test_stats_and_ask_json(tmp_path: Path) -> None:
    _write_articles(tmp_path / "in")
    run("ingest", str(tmp_path / "in"))
    code, out, _ = run("stats", "--json")
    stats = json.loads(out)
    assert code == 0
    assert stats["articles"] == 2 and stats["sources"]["Harbor Times"] == 1
    assert stats["embedding_model"] == "local:all-MiniLM-L6-v2" and stats["newest"].startswith("2026-11-20")

    code, out, _ = run(
        "ask", "--json", "--today", "2026-11-29", "What did councillor Anna Berg say about the harbour wall?"
    )
    answer = json.loads(out)
    assert code == 0
    assert set(answer) == {
        "answer",
        "abstained",
        "related",
        "reader",
        "fallback_reason",
        "dropped",
        "citations",
        "passages",
    }
    assert answer["reader"] == "extractive" and answer["fallback_reason"] is None
    assert answer["abstained"] is False and "next storm" in answer["answer"]
    c = answer["citations"][0]
    assert set(c) == {"n", "title", "url", "source", "published", "quote"} and c["n"] == 1
    assert all({"article_id", "text", "score"} <= set(p) for p in answer["passages"])

    code, out, _ = run("ask", "--json", "What is the boiling point of tungsten?")
    assert json.loads(out)["abstained"] is True and json.loads(out)["citations"] == []


def test_chat_reads_questions_from_stdin_until_end_of_input(tmp_path: Path) -> None:
    _write_articles(tmp_path / "in")
    run("ingest", str(tmp_path / "in"))
    code, out, _ = run("chat", input="When did the ferry to Skarvik resume?\n\nWho won the 1930 World Cup?\n")
    assert code == 0
    assert "Tuesday" in out and "[1]" in out and "harbortimes.example" in out
    assert "I have nothing on that" in out


def test_chat_answers_a_request_for_the_news_of_a_period_with_its_top_stories(tmp_path: Path) -> None:
    _write_articles(tmp_path / "in")
    run("ingest", str(tmp_path / "in"))
    code, out, _ = run("chat", input="What happened in November 2026?\n/help\nwhat's new in 1999?\n")
    assert code == 0
    assert "The ferry to Skarvik resumed on Tuesday" in out and "harbortimes.example/a" in out
    assert "/reset forgets the conversation" in out  # a command is not taken for a question
    assert out.index("Ferry service resumes") < out.index("I have nothing on that in the archive for 1999.")
    code, out, _ = run("ask", "--json", "--today", "2026-11-21", "what happened this week?")
    answer = json.loads(out)
    assert code == 0 and answer["abstained"] is False and answer["passages"] == []
    assert [c["title"] for c in answer["citations"]] == ["Ferry service resumes"]
    assert answer["citations"][0]["quote"] in answer["answer"]


def test_the_console_script_runs_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "ingest", str(tmp_path / "nope.html")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "nope.html" in proc.stderr and "Traceback" not in proc.stderr


def test_feeds_commands_and_poll_through_a_local_server(web_server: WebServer, tmp_path: Path) -> None:
    from tests.test_feeds import ARTICLE_HTML, fixture_text

    web_server.add("/news/2024/05/14/harbour-flood-barrier-approved/", ARTICLE_HTML)
    feed = web_server.add(
        "/rss.xml", fixture_text("rss.xml", web_server), content_type="application/rss+xml", etag='"gazette-1"'
    )
    assert run("feeds", "add", feed)[0] == 0
    code, out, _ = run("feeds", "list")
    assert code == 0 and feed in out and "active" in out and "never" in out

    code, out, err = run("poll", "--json")
    first = json.loads(out)
    assert first["added"] >= 2  # full-content entries and the fetched page of a summary-only one
    assert code == (1 if first["failed"] else 0)
    assert all(f["source"] and f["error"] for f in first["failed"])  # e.g. an entry whose page is gone

    code, out, _ = run("poll", "--json")  # the feed answers 304 Not Modified: nothing new
    assert json.loads(out)["added"] == 0 and code == 0
    assert web_server.requests_to("/rss.xml")[-1].headers.get("If-None-Match") == '"gazette-1"'

    assert run("feeds", "remove", feed)[0] == 0
    code, _, err = run("feeds", "remove", feed)
    assert code == 1 and "no such feed" in err
    assert "no feeds registered" in run("feeds", "list")[1]


def test_ingest_a_web_page_by_url(web_server: WebServer) -> None:
    from tests.test_feeds import ARTICLE_HTML

    page = web_server.add("/news/barrier", ARTICLE_HTML)
    missing = web_server.add("/news/gone", "not here", status=404)
    code, out, _ = run("ingest", "--json", page, missing)
    report = json.loads(out)
    assert code == 1 and report["added"] == 1
    assert report["failed"] == [{"source": missing, "error": "HTTP 404 Not Found"}]


def test_ask_names_the_bad_option_and_knows_its_outlets_in_any_case(tmp_path: Path) -> None:
    _write_articles(tmp_path / "in")
    run("ingest", str(tmp_path / "in"))
    code, _, err = run("ask", "--until", "yesterday-ish", "ferry")
    assert code == 2 and "--until" in err and "'yesterday-ish'" in err and "--since" not in err
    code, out, _ = run("ask", "--source", "harbor times", "When did the ferry to Skarvik resume?")
    assert code == 0 and "Tuesday" in out
    code, _, err = run("ask", "--source", "Reuters", "ferry")
    assert code == 2 and "no outlet 'Reuters'" in err and "Harbor Times" in err
    code, _, err = run("ask", "x" * 600)
    assert code == 2 and "too long (600 characters; at most 500" in err
    code, _, err = run("ask", "--since", "2026-11-20", "--until", "2026-11-19", "ferry")
    assert code == 2 and "is not after --since" in err


def test_a_home_that_is_a_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "ask", "storm"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "BRIEFBOT_HOME": str(home)},
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("briefbot: ") and str(home) in proc.stderr


def test_a_reader_that_stops_early_gets_no_error_line(briefbot_home: Path) -> None:
    """`briefbot stats | head -1`: the pipe closes before briefbot writes; that is no error worth a line."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "stats"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first line
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and stderr == ""
