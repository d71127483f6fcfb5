"""Retention: `briefbot prune` and the bot's daily prune remove old articles from every store at once, crash-safe,
and chats keep working."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.answering import AnswerEngine, QuestionContext
from bot.cli import cli
from bot.delivery.alerts import _poll_once
from bot.settings import Settings
from bot.state import Turn
from bot.telegram.app import apply_retention
from index.archive import Archive
from index.article import ArticleRecord
from index.embed import CachedEmbedder
from index.feed_registry import FeedRegistry
from index.ingest import ingest
from index.maintenance import parse_age, prune
from tests import bot_harness as harness
from tests.bot_harness import HARBOR_Q, HARBOR_TITLE, ask, copy_corpus, running_bot, services_of
from tests.fakes.telegram import FakeTelegram
from tests.fakes.web import WebServer
from tests.test_feeds import fixture_text

server = harness.server  # the fake Bot API server fixture

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _rec(n: int, published: datetime | None, word: str = "") -> ArticleRecord:
    return ArticleRecord(
        url=f"https://ledger.example/{n}",
        title=f"Council story {n}",
        text=f"The council met on day {n} and voted {n} to 2 on the {word or 'budget'} plan. "
        f"“We will build it,” said councillor Berg {n}.\n\nA second paragraph about story {n} "
        f"and the {word or 'plan'}.",
        published=published,
        source="Ledger",
        origin=f"test:{n}",
    )


def _fill(archive: Archive) -> tuple[list[str], list[str]]:
    """Six articles: three dated long ago, one undated but ingested long ago (all old), two recent (kept).
    Returns (old ids, oldest first; kept ids)."""
    long_ago = NOW - timedelta(days=400)
    old = [_rec(i, long_ago + timedelta(days=i), word=f"zebrafish{i}") for i in range(3)]
    ingest(archive, old)
    undated_old = _rec(3, None, word="quagga")
    ingest(archive, [undated_old], now=lambda: long_ago - timedelta(days=1))  # undated: dated by its ingest
    kept = [_rec(4, NOW - timedelta(days=3)), _rec(5, None)]  # an undated one ingested now
    ingest(archive, kept)
    return [r.article_id for r in [undated_old, *old]], [r.article_id for r in kept]


def _consistent(archive: Archive) -> tuple[int, int]:
    """Asserts the stores agree (catalog passages == Chroma vectors == keyword index documents, nothing left for
    the keyword index to catch up on, no article without passages, no URL without its article); returns
    (articles, passages)."""
    db = archive.catalog.db
    articles, passages = archive.catalog.counts()
    assert archive.store.count() == passages
    assert archive.keywords.count() == passages and archive.catalog.keyword_backlog() == 0
    assert (
        db.execute("SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM passages)").fetchone()[0] == 0
    )
    assert (
        db.execute("SELECT count(*) FROM article_urls WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0]
        == 0
    )
    assert archive.catalog.journal() == []
    return articles, passages


@pytest.fixture
def archive(briefbot_home: Path) -> Archive:
    a = Archive(Settings())
    yield a
    a.close()


def test_prune_removes_old_articles_from_every_store_and_keeps_the_rest(archive: Archive) -> None:
    old, kept = _fill(archive)
    rows = archive.catalog.passages_of(old)
    pids = [p[0] for p in rows]
    keys = [CachedEmbedder.key(f"{title}\n{text}") for _, title, text in rows]
    assert len(archive.catalog.cache_lookup(archive.model_id, keys)) == len(keys) > 0

    report = prune(archive, NOW - timedelta(days=365), batch_articles=2)

    assert (report.articles, report.passages, report.vectors, report.cache_entries) == (
        4,
        len(pids),
        len(pids),
        len(pids),
    )
    assert report.urls == 4
    assert set(archive.catalog.articles(old + kept)) == set(kept)
    assert archive.store.existing(pids) == set() and archive.catalog.passages(pids) == {}
    assert archive.catalog.cache_lookup(archive.model_id, keys) == {}
    assert all(archive.catalog.by_url(f"https://ledger.example/{n}") is None for n in range(4))
    assert archive.keywords.search("zebrafish1 quagga", 10) == []
    assert _consistent(archive)[0] == 2
    again = prune(archive, NOW - timedelta(days=365))
    assert again.articles == 0 and archive.catalog.counts()[0] == 2


def test_a_dry_run_counts_the_same_and_writes_nothing(archive: Archive, briefbot_home: Path) -> None:
    _fill(archive)
    catalog = briefbot_home / "catalog.sqlite3"
    dump = "\n".join(sqlite3.connect(catalog).iterdump())
    vectors = archive.store.count()
    dry = prune(archive, NOW - timedelta(days=365), dry_run=True)
    assert "\n".join(sqlite3.connect(catalog).iterdump()) == dump and archive.store.count() == vectors
    real = prune(archive, NOW - timedelta(days=365))
    assert dry.dry_run and not real.dry_run
    assert {**dry.as_json(), "dry_run": False} == real.as_json()


CRASH = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime
    from bot.settings import Settings
    from index.archive import Archive
    from index.maintenance import prune
    from index.store import VectorStore

    real = VectorStore.delete
    def dying(self, ids):
        if sys.argv[1] == "after":
            real(self, ids)  # the vectors are gone, the journal not yet cleared
        os._exit(9)  # before: the SQLite transaction of the first batch committed, Chroma untouched
    VectorStore.delete = dying
    archive = Archive(Settings())
    prune(archive, datetime.fromisoformat(sys.argv[2]), batch_articles=2)
    """
)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_prune_killed_mid_way_leaves_the_stores_in_step_and_a_second_run_finishes(
    archive: Archive, when: str
) -> None:
    old, kept = _fill(archive)
    archive.close()
    cutoff = (NOW - timedelta(days=365)).isoformat()
    died = subprocess.run([sys.executable, "-c", CRASH, when, cutoff], capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    reopened = Archive(Settings())  # opening recovers the journalled vectors
    try:
        articles, _ = _consistent(reopened)
        assert articles == 4  # the first batch of two went, whole; the second never started
        assert set(reopened.catalog.articles(old[2:] + kept)) == set(old[2:] + kept)
        report = prune(reopened, datetime.fromisoformat(cutoff))
        assert report.articles == 2 and _consistent(reopened)[0] == 2
        assert set(reopened.catalog.articles(old + kept)) == set(kept)
    finally:
        reopened.close()


def test_a_prune_first_removes_what_an_interrupted_write_left_in_an_archive_kept_open(archive: Archive) -> None:
    _fill(archive)
    leftover = "left-by-a-killed-prune"
    archive.catalog.journal_add([leftover])  # journalled in SQLite, still in Chroma: as a kill after step (1) leaves
    archive.store.upsert([leftover], archive.embedder.embed(["anything"]), [{"article_id": "gone", "idx": 0}])
    prune(archive, NOW - timedelta(days=365))
    assert archive.store.existing([leftover]) == set()
    assert _consistent(archive)[0] == 2


def test_a_follow_up_to_a_pruned_article_gets_a_clear_reply(archive: Archive) -> None:
    old, _ = _fill(archive)
    engine = AnswerEngine(archive, Settings())
    question = "How did the council vote on the zebrafish1 plan?"
    first = engine.answer_sync(question, QuestionContext(today=NOW))
    assert first.citations and first.citations[0].article_id == old[2]
    prune(archive, NOW - timedelta(days=365))
    history = [Turn(question, first.text)]
    for follow_up in ("and what did councillor Berg say?", "tell me more about the first story"):
        answer = engine.answer_sync(follow_up, QuestionContext(today=NOW, history=history))
        assert answer.text.strip()
        assert all(c.article_id not in old for c in answer.citations)


# -- the command ------------------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_parse_age() -> None:
    assert parse_age("365d") == timedelta(days=365) and parse_age("52w") == timedelta(weeks=52)
    for bad in ("0", "0d", "-3d", "365", "1y", "d", "", "12 months", "99999999999d"):
        with pytest.raises(ValueError):
            parse_age(bad)


def test_prune_command_reports_json_and_refuses_bad_ages(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(archive)  # dated relative to NOW; the command prunes relative to the real clock
    archive.close()
    days = (datetime.now(UTC) - NOW).days + 365
    code, out, _ = run("prune", "--older-than", f"{days}d", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["articles"] == 4 and json.loads(out)["dry_run"] is True
    code, out, _ = run("prune", "--older-than", f"{days}d", "--json")
    report = json.loads(out)
    assert code == 0 and set(report) == {
        "cutoff",
        "dry_run",
        "articles",
        "passages",
        "vectors",
        "cache_entries",
        "urls",
    }
    assert report["articles"] == 4 and report["passages"] == report["vectors"] == report["cache_entries"] > 0
    code, out, _ = run("prune", "--older-than", f"{days}d")
    assert code == 0 and out.startswith("pruned 0 articles")

    for bad, why in (("0", "more than 0"), ("0d", "more than 0"), ("garbage", "365d"), ("12 months", "365d")):
        code, out, err = run("prune", "--older-than", bad)
        assert code == 2 and out == "" and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("Error: Invalid value for '--older-than'") and why in err
    code, _, err = run("prune")
    assert code == 2 and "BRIEFBOT_RETENTION_DAYS" in err
    monkeypatch.setenv("BRIEFBOT_RETENTION_DAYS", "a year")
    code, _, err = run("prune", "--dry-run")
    assert code == 2 and "retention_days" in err and "Traceback" not in err
    monkeypatch.setenv("BRIEFBOT_RETENTION_DAYS", "0")
    assert run("prune", "--dry-run")[0] == 2
    monkeypatch.setenv("BRIEFBOT_RETENTION_DAYS", str(days))
    code, out, _ = run("prune", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["articles"] == 0  # the setting is the default age
    monkeypatch.setenv("BRIEFBOT_RETENTION_DAYS", "")
    assert Settings().retention_days is None  # empty: keep everything


# -- the bot's daily prune --------------------------------------------------------------------------------------


async def test_the_bot_prunes_daily_and_a_follow_up_about_a_pruned_story_gets_a_clear_reply(
    server: FakeTelegram, briefbot_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    copy_corpus(tmp_path_factory, briefbot_home)  # six articles published 20-25 November 2026
    alice = server.add_user("Alice")
    async with running_bot(server, briefbot_home, retention_days=3) as app:
        assert app.job_queue is not None
        [job] = app.job_queue.get_jobs_by_name("prune")
        assert job.job.trigger.interval == timedelta(days=1)
        services = services_of(app)
        services.archive.embedder.embed(["warm up"])  # load the model before the first question's timeout starts
        first = await ask(server, alice, alice, HARBOR_Q)
        assert HARBOR_TITLE in (first.text or "")
        services.clock = lambda: datetime(2026, 11, 24, 12, tzinfo=UTC)  # the harbor story (20th) is now old
        report = await apply_retention(services)
        assert report is not None and report.articles == 2
        assert all(a.title != HARBOR_TITLE for a in services.archive.catalog.latest(10))
        follow_up = await ask(server, alice, alice, "and what did she say about the ferries?")
        assert "I have nothing on that" in (follow_up.text or "") and HARBOR_TITLE not in (follow_up.text or "")
        # The chat's history is kept (the turn is recorded a moment after the reply is out).
        for _ in range(100):
            if len(services.state.turns(alice.id, None, 10)) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(services.state.turns(alice.id, None, 10)) == 2


async def test_without_a_retention_setting_the_bot_keeps_everything(
    server: FakeTelegram, briefbot_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    copy_corpus(tmp_path_factory, briefbot_home)
    async with running_bot(server, briefbot_home) as app:
        assert app.job_queue is not None and app.job_queue.get_jobs_by_name("prune") == ()
        assert await apply_retention(services_of(app)) is None
        assert services_of(app).archive.catalog.counts()[0] == 6


def test_feed_entries_older_than_the_retention_period_are_not_taken_in_again(
    web_server: WebServer, briefbot_home: Path
) -> None:
    feed = web_server.add("/rss.xml", fixture_text("rss.xml", web_server), content_type="application/rss+xml")
    ferry = "Ferry operator adds night crossings for the summer"
    july = datetime(2024, 7, 1, tzinfo=UTC)  # the feed's dated entries are from 14 May 2024
    for retention, expected in ((None, [ferry]), (30, [])):
        settings = Settings(home=briefbot_home / f"home-{retention}", allow_private_urls=True, retention_days=retention)
        with Archive(settings) as archive:
            FeedRegistry(archive.catalog.db).add(feed)
            new, _ = _poll_once(archive, settings, july)
            assert [a.title for a in archive.catalog.latest(10)] == expected and len(new) == len(expected)


def test_ingest_skips_records_published_before_not_before(archive: Archive) -> None:
    cutoff = NOW - timedelta(days=30)
    report = ingest(archive, [_rec(1, cutoff - timedelta(days=1)), _rec(2, cutoff), _rec(3, None)], not_before=cutoff)
    assert (report.expired, report.added) == (1, 2) and report.as_json()["expired"] == 1
    assert archive.catalog.by_url("https://ledger.example/1") is None
