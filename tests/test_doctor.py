"""`briefbot doctor` as an operator meets it: one line per check, a problem line (and exit 1) for each thing
that is wrong: stores out of step, a failing or paused feed, a rejected or unreachable bot token, a digest that
failed or is overdue, weights that are not the pinned ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.delivery.outbox import DeliveryLog
from bot.doctor import summary
from bot.settings import Settings
from bot.state import State
from index.archive import Archive
from index.feed_registry import FeedRegistry
from index.health import archive_checks
from tests import bot_harness as harness
from tests.bot_harness import copy_corpus
from tests.fakes.telegram import FakeTelegram
from tests.fakes.web import unused_port

server = harness.server


def doctor(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("PROBLEM")]


@pytest.fixture
def home(briefbot_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_corpus(tmp_path_factory, briefbot_home)


def test_a_new_home_and_a_healthy_archive_have_no_problems(briefbot_home: Path, home: Path) -> None:
    code, out = doctor("--no-telegram")
    assert code == 0, out
    assert "in step" in out and "all well" in out and not problems(out)
    assert "sha256:8199be6f" in out  # the weights' hash, checked against the pinned one

    code, out = doctor("--json", "--no-telegram")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    store = next(c for c in report["checks"] if c["name"] == "store")
    assert store["passages"] == store["vectors"] == store["keyword_rows"] > 0


def test_stores_out_of_step_are_named(home: Path) -> None:
    with Archive(Settings(home=home)) as archive:
        first, second = [r[0] for r in archive.catalog.db.execute("SELECT id FROM passages ORDER BY rowid LIMIT 2")]
        archive.store.delete([first])  # a vector lost
        (rowid,) = archive.catalog.db.execute("SELECT rowid FROM passages WHERE id = ?", (second,)).fetchone()
        writer = archive.keywords.index.writer()  # and a keyword row, behind the catalog's back
        writer.delete_documents_by_term("rowid", rowid)
        writer.commit()
        writer.wait_merging_threads()
        passages = archive.catalog.counts()[1]
    code, out = doctor("--no-telegram")
    assert code == 1
    [line] = problems(out)
    assert f"the vector store holds {passages - 1} vectors for {passages} passages" in line
    assert f"the keyword index holds {passages - 1} rows" in line and "briefbot reindex" in line


def test_failing_and_paused_feeds_are_problems(home: Path) -> None:
    with Archive(Settings(home=home)) as archive:
        registry = FeedRegistry(archive.catalog.db)
        for url in ("https://a.example/feed", "https://b.example/feed", "https://c.example/feed"):
            registry.add(url)
        registry.record_failure("https://a.example/feed", "HTTP 404", max_failures=5)
        for _ in range(2):
            registry.record_failure("https://b.example/feed", "timed out", max_failures=2)
    code, out = doctor("--no-telegram")
    assert code == 1
    assert "3 registered, 2 failing or paused" in out
    paused, failing = sorted(problems(out), key=lambda line: "paused" not in line)
    assert "b.example/feed is paused after 2 failures (timed out)" in paused and "feeds resume" in paused
    assert "a.example/feed failed its last 1 polls (HTTP 404)" in failing

    result = CliRunner().invoke(cli, ["feeds", "resume", "https://b.example/feed"])
    assert result.exit_code == 0
    assert "paused" not in "".join(problems(doctor("--no-telegram")[1]))


def test_weights_that_are_not_the_pinned_ones_are_a_problem(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.embed._ONNX_SHA256", "0" * 64)
    [line] = [c.line() for c in archive_checks(Settings(home=home)) if c.problem]
    assert "model: local:all-MiniLM-L6-v2" in line and "not the pinned weights" in line


def test_the_bot_token_is_checked_with_get_me(briefbot_home: Path, server: FakeTelegram, monkeypatch) -> None:
    monkeypatch.setenv("BRIEFBOT_TELEGRAM_API_URL", server.base_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", server.token)
    code, out = doctor()
    assert code == 0 and f"the token is valid: @{server.bot.username}" in out
    assert server.calls("getMe")

    rejected = "5550009999:AAOtherTokenTheServerDoesNotKnow-01234"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", rejected)
    code, out = doctor()
    assert code == 1 and "Telegram rejected the bot token" in problems(out)[0]

    monkeypatch.setenv("BRIEFBOT_TELEGRAM_API_URL", f"http://127.0.0.1:{unused_port()}/bot")
    code, out = doctor()
    [line] = problems(out)
    assert code == 1 and "cannot reach the Bot API" in line
    assert rejected not in out and rejected.split(":")[1] not in out


def test_a_failed_or_overdue_digest_is_a_problem(briefbot_home: Path) -> None:
    settings = Settings()
    now = datetime.now(UTC)
    clock_then = now - timedelta(days=5)
    state = State(settings.state_path, clock=lambda: clock_then)
    try:
        for chat in (101, 102, 103, 104):
            state.subscribe(chat, "08:00", thread_id=None, by=None)
        state.clock = lambda: now - timedelta(days=4)
        log = DeliveryLog(state)
        old = log.claim(102, "digest", (now - timedelta(days=4)).date().isoformat())
        assert old is not None
        log.finish(old, "sent")
        state.clock = lambda: now - timedelta(hours=2)
        log = DeliveryLog(state)
        failed = log.claim(101, "digest", now.date().isoformat())
        fine = log.claim(103, "digest", now.date().isoformat())
        assert failed is not None and fine is not None
        log.finish(failed, "failed", error="Bad Request: chat not found")
        log.finish(fine, "sent")
    finally:
        state.close()
    code, out = doctor("--no-telegram")
    assert code == 1 and "4 subscribed chats, 3 with a digest problem" in out
    lines = problems(out)
    assert any("chat 101" in line and "failed: Bad Request: chat not found" in line for line in lines)
    assert any("chat 102: no digest for 4 days" in line for line in lines)
    assert any("chat 104: no digest since it subscribed" in line for line in lines)
    assert not any("chat 103" in line for line in lines)


def test_the_start_up_line_sums_it_up(home: Path) -> None:
    settings = Settings(home=home)
    found = archive_checks(settings)
    line = summary(found)
    assert line.startswith("health: ") and "in step" in line and line.endswith("no problems")
    with Archive(settings) as archive:
        FeedRegistry(archive.catalog.db).add("https://a.example/feed")
        FeedRegistry(archive.catalog.db).record_failure("https://a.example/feed", "HTTP 500", max_failures=5)
    line = summary(archive_checks(settings))
    assert "1 problem (run `briefbot doctor`)" in line and "HTTP 500" in line


def test_an_archive_that_cannot_be_opened_is_one_problem(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIEFBOT_EMBEDDING_MODEL", "text-embedding-3-small")  # not the model of its vectors
    code, out = doctor("--no-telegram")
    [line] = problems(out)
    assert code == 1 and line.startswith("PROBLEM archive: ") and "briefbot reindex" in line
