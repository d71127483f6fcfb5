"""The ingest pipeline and the two stores: idempotent, deduplicating, crash-safe, model-checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings
from index.archive import Archive
from index.article import ArticleRecord, Checkpoint
from index.errors import IndexMismatchError, SourceError
from index.ingest import ingest, reindex
from index.store import NO_DATE


def _rec(n: int, *, text: str | None = None, url: str | None = None, source: str = "Harbor Times") -> ArticleRecord:
    body = text or (
        f"Story number {n} begins here. The mayor said “the harbor will reopen on Monday” after the storm. "
        f"Officials counted {n} boats damaged in the marina.\n\nA second paragraph about story {n} follows, "
        "with more detail on the repairs and the cost to the city."
    )
    return ArticleRecord(
        url=url or f"https://harbortimes.example/news/{n}",
        title=f"Story {n}",
        text=body,
        published=datetime(2026, 11, 20 + n % 5, 9, tzinfo=UTC),
        source=source,
        origin=f"test:{n}",
    )


@pytest.fixture
def archive(briefbot_home: Path) -> Archive:
    a = Archive(Settings())
    yield a
    a.close()


def test_ingest_then_reingest_embeds_nothing(archive: Archive) -> None:
    first = ingest(archive, [_rec(i) for i in range(5)])
    assert (first.added, first.unchanged, first.failed) == (5, 0, [])
    articles, passages = archive.catalog.counts()
    assert articles == 5 and passages == archive.store.count() > 0
    embedded = archive.embedder.embedded
    again = ingest(archive, [_rec(i) for i in range(5)])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    assert archive.embedder.embedded == embedded  # nothing went to the model
    assert archive.catalog.counts() == (articles, passages)


def test_changed_text_replaces_the_passages(archive: Archive) -> None:
    ingest(archive, [_rec(1)])
    aid = _rec(1).article_id
    old = set(archive.catalog.passage_ids(aid))
    changed = _rec(1, text="A completely rewritten story. The harbor stays closed, the mayor said on Friday.")
    report = ingest(archive, [changed])
    assert report.updated == 1 and report.added == 0
    new = set(archive.catalog.passage_ids(aid))
    assert new and not (new & old)
    assert archive.store.count() == len(new)  # the old vectors are gone from Chroma too
    assert "rewritten" in archive.catalog.article(aid).text  # type: ignore[union-attr]


def test_syndicated_copy_is_stored_once_and_knows_both_urls(archive: Archive) -> None:
    original = _rec(2)
    copy = _rec(2, url="https://valleycourier.example/wire/story-2", source="Valley Courier")
    report = ingest(archive, [original, copy])
    assert report.added == 1 and report.duplicates == 1
    assert archive.catalog.counts()[0] == 1
    assert set(archive.catalog.urls(original.article_id)) == {original.url, copy.url}
    # the copy's URL now finds the stored article, so a later run skips it as unchanged
    assert ingest(archive, [copy]).unchanged == 1


def test_errors_in_the_stream_do_not_stop_good_items(archive: Archive) -> None:
    items: list[ArticleRecord | SourceError] = [
        _rec(1),
        SourceError("bad.html", "no article text found"),
        _rec(3, text="   \n\n  "),
        _rec(4),
    ]
    report = ingest(archive, items)
    assert report.added == 2
    assert [e.source for e in report.failed] == ["bad.html", "test:3"]
    assert "no text" in report.failed[1].reason


def test_the_collection_records_its_model(archive: Archive, briefbot_home: Path) -> None:
    ingest(archive, [_rec(1)])
    archive.close()
    with pytest.raises(IndexMismatchError, match="briefbot reindex"):
        Archive(Settings(embedding_model="text-embedding-3-small"))


def test_reindex_rebuilds_the_vectors(archive: Archive) -> None:
    ingest(archive, [_rec(i) for i in range(3)])
    before = archive.store.count()
    assert reindex(archive) == before
    assert archive.store.count() == before
    hits = archive.store.query(archive.embedder.embed(["harbor reopen storm"])[0], 3)
    assert len(hits) == 3 and all(h.article_id for h in hits)
    archive.close()
    Archive(Settings()).close()  # the swapped-in collection still records the model


CRASH = textwrap.dedent(
    """
    import os, sys
    from datetime import UTC, datetime
    from bot.settings import Settings
    from index.archive import Archive
    from index.article import ArticleRecord, Checkpoint
    from index.catalog import Catalog
    from index.ingest import ingest

    calls = 0
    real = Catalog.put_article
    def dying(self, *a, **k):
        global calls
        calls += 1
        if calls == int(sys.argv[1]):
            os._exit(9)  # the process dies mid-batch: vectors are in Chroma, the SQLite transaction is not
        return real(self, *a, **k)
    Catalog.put_article = dying
    recs = [ArticleRecord(url=f"https://x.example/{i}", title=f"T{i}",
                          text=f"Article {i} says the council met. It voted {i} to 2.",
                          published=datetime(2026, 11, 1, tzinfo=UTC), source="X") for i in range(6)]
    archive = Archive(Settings())
    r = ingest(archive, recs, batch_articles=2)
    print(r.added, archive.catalog.counts()[0], archive.store.count())
    """
)


def test_a_crash_mid_ingest_leaves_no_half_written_article(briefbot_home: Path) -> None:
    run = [sys.executable, "-c", CRASH]
    died = subprocess.run([*run, "4"], capture_output=True, text=True, timeout=120)
    assert died.returncode == 9
    archive = Archive(Settings())  # opening recovers
    articles, passages = archive.catalog.counts()
    assert articles == 2  # the first batch of two committed, the second died
    assert archive.store.count() == passages == archive.keywords.count()
    assert archive.catalog.journal() == [] and archive.catalog.keyword_backlog() == 0
    # A reader left open (the bot) while another process ingests (the CLI) finds the new articles by keyword.
    from index.search import Searcher, SearchFilters

    reader = Searcher(archive)

    def found_articles() -> set[str]:
        hits = reader.keyword("council voted", 50, SearchFilters())
        return {p.article_id for p in archive.catalog.passages([pid for pid, _ in hits]).values()}

    assert len(found_articles()) == 2
    done = subprocess.run([*run, "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    added, total, vectors = map(int, done.stdout.split())
    assert (added, total) == (4, 6)
    for _ in range(50):  # tantivy's reader reloads when the other process commits (it watches the index's meta)
        if len(found_articles()) == 6:
            break
        time.sleep(0.1)
    assert len(found_articles()) == 6
    archive.close()
    archive = Archive(Settings())
    assert archive.store.count() == archive.catalog.counts()[1] == vectors == archive.keywords.count()
    archive.close()


def test_an_update_through_a_syndicated_url_keeps_the_original_url_and_outlet(archive: Archive) -> None:
    original = _rec(5)
    copy = _rec(5, url="https://valleycourier.example/wire/5", source="Valley Courier")
    ingest(archive, [original, copy])
    edited = replace(copy, text=copy.text + " The council will meet again on Friday.")
    report = ingest(archive, [edited])
    assert report.updated == 1 and archive.catalog.counts()[0] == 1
    stored = archive.catalog.article(original.article_id)
    assert stored is not None and stored.url == original.url and stored.source == "Harbor Times"
    assert "meet again on Friday" in stored.text


def test_one_article_twice_in_a_batch_leaves_no_orphan_vectors(archive: Archive) -> None:
    first = _rec(6)
    ingest(archive, [first, _rec(6, url="https://valleycourier.example/wire/6", source="Valley Courier")])
    a = replace(first, text=first.text + " Version A.")
    b = replace(first, url="https://valleycourier.example/wire/6", text=first.text + " Version B, the last word.")
    report = ingest(archive, [a, b])
    assert report.updated == 1
    stored = archive.catalog.article(first.article_id)
    assert stored is not None and stored.text.endswith("the last word.")
    assert archive.store.count() == archive.catalog.counts()[1]


def test_a_syndicated_copy_under_another_headline_is_still_one_story(archive: Archive) -> None:
    original = _rec(7)
    retitled = replace(_rec(7, url="https://meridianwire.example/7", source="Meridian Wire"), title="Harbour to reopen")
    report = ingest(archive, [original, retitled])
    assert (report.added, report.duplicates) == (1, 1)
    assert archive.catalog.counts()[0] == 1


def test_recovery_waits_for_no_one_and_spares_a_live_writer(archive: Archive, briefbot_home: Path) -> None:
    archive.catalog.journal_add(["in-flight-passage"])  # another process is between its steps (1) and (3)
    with archive.writing():
        other = Archive(Settings())  # opening does not delete the live writer's journal
        assert other.catalog.journal() == ["in-flight-passage"]
        other.close()
    assert Archive(Settings()).catalog.journal() == []  # once nobody writes, it is a leftover: recovered


def test_a_checkpoint_commits_what_came_before_it(archive: Archive) -> None:
    seen: list[int] = []

    def stream() -> Iterator[ArticleRecord | Checkpoint]:
        yield _rec(8)
        yield _rec(9)
        yield Checkpoint()
        seen.append(archive.catalog.counts()[0])  # what a feed poll sees before marking the feed as read
        yield _rec(10)

    report = ingest(archive, stream(), batch_articles=100)
    assert seen == [2] and report.added == 3


def test_a_failed_write_commits_no_url_of_its_batch(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.errors import EmbeddingError

    def broken(texts: object) -> object:
        raise EmbeddingError("endpoint down")

    monkeypatch.setattr(archive.embedder, "embed", broken)
    original = _rec(11)
    copy = _rec(11, url="https://valleycourier.example/wire/11")
    with pytest.raises(EmbeddingError):
        ingest(archive, [original, copy])
    assert archive.catalog.by_url(copy.url) is None and archive.catalog.urls(original.article_id) == []
    monkeypatch.undo()
    report = ingest(archive, [original, copy])
    assert report.added == 1 and set(archive.catalog.urls(original.article_id)) == {original.url, copy.url}


def test_undated_articles_are_outside_date_windows_but_inside_as_of_bounds(archive: Archive) -> None:
    from index.search import Searcher, SearchFilters, with_window

    undated = replace(_rec(12), published=None, url="https://x.example/undated", title="Undated harbour story")
    ingest(archive, [undated])
    searcher = Searcher(archive)
    window = SearchFilters(since=datetime(2020, 1, 1, tzinfo=UTC), until=datetime(2030, 1, 1, tzinfo=UTC))
    for mode in ("dense", "keyword"):
        found = searcher.search("harbour reopen", mode=mode, filters=window).hits  # type: ignore[arg-type]
        assert undated.article_id not in {h.article_id for h in found}
        as_of = with_window(SearchFilters(), None, datetime(2030, 1, 1, tzinfo=UTC), undated=True)
        found = searcher.search("harbour reopen", mode=mode, filters=as_of).hits  # type: ignore[arg-type]
        assert undated.article_id in {h.article_id for h in found}


@pytest.mark.parametrize("exact_max", [5000, 1])
def test_the_fast_filtered_searches_match_the_stores_own_filters(
    archive: Archive, exact_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact scoring of a narrow window's vectors (or, past EXACT_SEARCH_MAX, a wide plain result filtered here
    and Chroma's filtered search) ranks as Chroma's filter does."""
    from index import search
    from index.search import Searcher, SearchFilters

    monkeypatch.setattr(search, "EXACT_SEARCH_MAX", exact_max)

    ingest(archive, [_rec(i, source=("Harbor Times", "Valley Courier")[i % 2]) for i in range(12)])
    searcher = Searcher(archive)
    vector = searcher.embed_query("harbour storm repairs")
    filters = [
        SearchFilters(until=datetime(2026, 11, 23, tzinfo=UTC)),
        SearchFilters(since=datetime(2026, 11, 22, tzinfo=UTC), until=datetime(2026, 11, 23, tzinfo=UTC)),
        SearchFilters(sources=("Valley Courier",)),
        SearchFilters(since=datetime(2026, 11, 21, tzinfo=UTC), sources=("Harbor Times",), undated=True),
    ]
    for f in filters:
        exact = [h.passage_id for h in archive.store.query(vector, 4, f.chroma_where())]
        assert [pid for pid, _ in searcher.dense(vector, 4, f)] == exact, f


def test_the_keyword_index_filters_as_the_search_filters_admit(archive: Archive) -> None:
    """A window's or an outlet's keyword search, filtered inside the index, gives the passages and BM25 scores,
    in order, of the plain search filtered afterwards by ``SearchFilters.admits`` (undated articles included)."""
    from index.search import Searcher, SearchFilters

    records = [_rec(i, source=("Harbor Times", "Valley Courier")[i % 2]) for i in range(12)]
    records.append(replace(_rec(12), published=None))
    ingest(archive, records)
    searcher = Searcher(archive)
    question = "harbour storm repairs marina boats"
    everything = searcher.keyword(question, 1000, SearchFilters())
    assert len(everything) > 12
    rows = archive.catalog.db.execute(
        "SELECT p.id, a.published_ts, a.source FROM passages p JOIN articles a ON a.id = p.article_id"
    ).fetchall()
    meta = {pid: (NO_DATE if ts is None else ts, source) for pid, ts, source in rows}
    for f in [
        SearchFilters(since=datetime(2026, 11, 22, tzinfo=UTC), until=datetime(2026, 11, 24, tzinfo=UTC)),
        SearchFilters(until=datetime(2026, 11, 23, tzinfo=UTC)),
        SearchFilters(sources=("Valley Courier",)),
        SearchFilters(since=datetime(2026, 11, 21, tzinfo=UTC), sources=("Harbor Times",), undated=True),
        SearchFilters(until=datetime(2026, 11, 23, tzinfo=UTC), undated=True),
        SearchFilters(since=datetime(2027, 1, 1, tzinfo=UTC)),
    ]:
        expected = [(pid, score) for pid, score in everything if f.admits(*meta[pid])][:6]
        got = searcher.keyword(question, 6, f)
        assert [pid for pid, _ in got] == [pid for pid, _ in expected], f
        assert [round(s, 5) for _, s in got] == [round(s, 5) for _, s in expected], f
        assert bool(got) == (f.since is None or f.since.year < 2027), f


def test_the_keyword_index_follows_the_catalog(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every change to the catalog reaches the keyword index: new, replaced and deleted passages, an article's new
    outlet; an index commit whose outbox was not cleared (a crash between the two) is applied again without
    doubling anything; a deleted index is rebuilt from the catalog on the next open."""
    from index.search import Searcher, SearchFilters

    def in_step() -> None:
        assert archive.keywords.count() == archive.catalog.counts()[1]
        assert archive.catalog.keyword_backlog() == 0

    ingest(archive, [_rec(i) for i in range(4)])
    in_step()
    searcher = Searcher(archive)
    assert searcher.keyword("zebrafish", 5, SearchFilters()) == []
    ingest(archive, [_rec(1, text="Story one was rewritten. A zebrafish swam into the harbor, officials said.")])
    in_step()
    [(pid, _)] = searcher.keyword("zebrafish", 5, SearchFilters())
    assert archive.catalog.passages([pid])[pid].article_id == _rec(1).article_id
    assert searcher.keyword("zebrafish", 5, SearchFilters(sources=("Quay Gazette",))) == []
    with archive.writing(), archive.committing(), archive.catalog.transaction() as db:
        db.execute("UPDATE articles SET source = 'Quay Gazette' WHERE id = ?", (_rec(1).article_id,))
    in_step()
    assert [p for p, _ in searcher.keyword("zebrafish", 5, SearchFilters(sources=("Quay Gazette",)))] == [pid]

    def crash(rowids: object) -> None:
        raise OSError("killed between the index commit and the outbox's")

    with monkeypatch.context() as m:
        m.setattr(archive.catalog, "keyword_done", crash)
        ingest(archive, [_rec(7, text="A walrus was seen near the marina on Tuesday, the harbourmaster said.")])
        assert archive.catalog.keyword_backlog() > 0  # the ingest committed; the index's catch-up failed
    assert archive.sync_keywords() > 0
    in_step()
    assert len(searcher.keyword("walrus", 5, SearchFilters())) == 1

    home = archive.settings.home
    settings = archive.settings
    archive.close()
    shutil.rmtree(home / "keywords")
    with Archive(settings) as reopened:
        assert reopened.keywords.count() == reopened.catalog.counts()[1] > 0
        assert len(Searcher(reopened).keyword("walrus", 5, SearchFilters())) == 1


def test_an_archive_from_before_the_keyword_index_is_upgraded(tmp_path: Path) -> None:
    """A catalog made when SQLite FTS5 held the keywords (schema 5, no ``keywords/`` folder) opens with its FTS5
    tables gone, every passage in the keyword index and every kept vector in the scan table."""
    from index.db import connect
    from index.search import Searcher, SearchFilters

    settings = Settings(home=tmp_path / "old")
    with Archive(settings) as archive:
        ingest(archive, [_rec(i) for i in range(3)])
        passages = archive.catalog.counts()[1]
    db = connect(settings.catalog_path)
    db.executescript(
        """
        DROP TRIGGER passages_keywords_ai; DROP TRIGGER passages_keywords_ad; DROP TRIGGER passages_keywords_au;
        DROP TRIGGER articles_keywords_au; DROP TABLE keyword_pending;
        DROP TRIGGER passage_vectors_scan_ai; DROP TRIGGER passage_vectors_scan_ad; DROP TRIGGER articles_scan_au;
        DROP TABLE vector_scan;
        CREATE VIRTUAL TABLE passages_fts USING fts5(
            title, text, content='passages', content_rowid='rowid', tokenize='porter unicode61'
        );
        CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
            INSERT INTO passages_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
        END;
        CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
            INSERT INTO passages_fts(passages_fts, rowid, title, text)
                VALUES ('delete', old.rowid, old.title, old.text);
        END;
        INSERT INTO passages_fts(passages_fts) VALUES ('rebuild');
        PRAGMA user_version = 5;
        """
    )
    db.close()
    shutil.rmtree(settings.home / "keywords")
    with Archive(settings) as archive:
        assert archive.keywords.count() == passages and archive.catalog.keyword_backlog() == 0
        tables = {r[0] for r in archive.catalog.db.execute("SELECT name FROM sqlite_master")}
        assert "passages_fts" not in tables and "keyword_pending" in tables
        assert archive.catalog.db.execute("SELECT count(*) FROM vector_scan").fetchone()[0] == passages
        assert Searcher(archive).keyword("harbour storm", 3, SearchFilters())


def test_the_shortlisted_exact_search_ranks_as_chromas_own_filter(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the int8 codes shortlist fewer passages than a filter admits, the best of the shortlist, scored from
    the float32 vectors, are still Chroma's best, with Chroma's similarities."""
    from index import search
    from index.search import Searcher, SearchFilters

    monkeypatch.setattr(search, "SHORTLIST", 1)
    ingest(archive, [_rec(i, source=("Harbor Times", "Valley Courier")[i % 2]) for i in range(12)])
    searcher = Searcher(archive)
    both = SearchFilters(sources=("Harbor Times", "Valley Courier"))
    for question in ("harbour storm repairs", "story number 7 boats damaged", "the cost to the city"):
        vector = searcher.embed_query(question)
        for f in (both, SearchFilters(sources=("Valley Courier",))):
            assert searcher.admitted(f) > 5
            chroma = archive.store.query(vector, 1, f.chroma_where())
            exact = searcher.exact(vector, 1, f)
            assert exact is not None and [pid for pid, _ in exact] == [h.passage_id for h in chroma], (question, f)
            assert exact[0][1] == pytest.approx(1.0 - chroma[0].distance, abs=1e-5)


def _kept_matches_chroma(archive: Archive) -> None:
    ids = [r[0] for r in archive.catalog.db.execute("SELECT id FROM passages")]
    kept = archive.catalog.vectors(ids, archive.model_id)
    stored = archive.store.vectors(ids)
    assert set(kept) == set(stored) == set(ids)
    for pid in ids:
        assert np.allclose(kept[pid], stored[pid], atol=1e-6), pid  # Chroma may renormalise by an ulp
    assert archive.catalog.db.execute("SELECT count(*) FROM passage_vectors").fetchone()[0] == len(ids)
    # and the int8 copy the filtered search scans, filed under each passage's outlet and date
    scan = archive.catalog.db.execute("SELECT source, published_ts, passage, code FROM vector_scan").fetchall()
    derived = archive.catalog.db.execute(
        "SELECT a.source, coalesce(a.published_ts, -1), p.rowid, briefbot_int8(v.vector) FROM passage_vectors v "
        "JOIN passages p ON p.rowid = v.rowid JOIN articles a ON a.id = p.article_id"
    ).fetchall()
    assert sorted(map(tuple, scan)) == sorted(map(tuple, derived)) and len(scan) == len(ids)


def test_the_catalog_keeps_each_passage_vector_as_chroma_holds_it(archive: Archive) -> None:
    """The vectors kept beside the passages (for exact filtered search) are Chroma's, through updates, deletes,
    an article's new outlet and date, and a reindex; another model's are never read."""
    ingest(archive, [_rec(i) for i in range(4)])
    _kept_matches_chroma(archive)
    ingest(archive, [_rec(1, text="Story one was rewritten. The harbor stays shut until Friday, officials said.")])
    _kept_matches_chroma(archive)  # the replaced passages took their vectors along
    with archive.catalog.transaction() as db:
        db.execute(
            "UPDATE articles SET source = 'Quay Gazette', published_ts = NULL WHERE id = ?", (_rec(2).article_id,)
        )
    _kept_matches_chroma(archive)
    reindex(archive)
    _kept_matches_chroma(archive)
    assert archive.catalog.vectors_model() == archive.model_id
    some = [r[0] for r in archive.catalog.db.execute("SELECT id FROM passages LIMIT 2")]
    assert archive.catalog.vectors(some, "another-model") == {}


@pytest.mark.parametrize("kept", ["all", "half", "none"])
def test_exact_filtered_search_ranks_as_chromas_own_filter_with_or_without_kept_vectors(
    archive: Archive, kept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window's or an outlet's passages scored exactly from the catalog's vectors (and, for passages stored
    before the catalog kept them, from Chroma's) rank as Chroma's filtered search does; past CHROMA_FETCH_MAX
    unkept vectors the search is Chroma's own."""
    from index import search
    from index.search import Searcher, SearchFilters

    ingest(archive, [_rec(i, source=("Harbor Times", "Valley Courier")[i % 2]) for i in range(12)])
    with archive.catalog.transaction() as db:
        if kept == "none":
            db.execute("DELETE FROM passage_vectors")
        elif kept == "half":
            db.execute("DELETE FROM passage_vectors WHERE rowid % 2 = 0")
    searcher = Searcher(archive)
    vector = searcher.embed_query("harbour storm repairs")
    filters = [
        SearchFilters(since=datetime(2026, 11, 22, tzinfo=UTC), until=datetime(2026, 11, 23, tzinfo=UTC)),
        SearchFilters(sources=("Valley Courier",)),
        SearchFilters(since=datetime(2026, 11, 21, tzinfo=UTC), sources=("Harbor Times",), undated=True),
    ]
    for fetch_max in (5000, 0):
        monkeypatch.setattr(search, "CHROMA_FETCH_MAX", fetch_max)
        for f in filters:
            chroma = [h.passage_id for h in archive.store.query(vector, 5, f.chroma_where())]
            exact = searcher.exact(vector, 5, f)
            if kept == "none" and fetch_max == 0:
                assert exact is None, f  # too many without a kept vector: left to Chroma
            elif kept == "all" or fetch_max:
                assert exact is not None and [pid for pid, _ in exact] == chroma, f
            else:
                assert exact is None or [pid for pid, _ in exact] == chroma, f
            assert [pid for pid, _ in searcher.dense(vector, 5, f)] == chroma, f


def test_a_windows_or_an_outlets_passages_are_listed_from_the_indexes_alone(archive: Archive) -> None:
    """The exact search lists the admitted passages through the date or outlet index and the covering index of
    passage ids, never reading a passage's row (its text): what keeps it fast on a year of news."""
    from index.search import SearchFilters, admitted_vectors_sql

    ingest(archive, [_rec(i) for i in range(3)])
    for f in (SearchFilters(since=datetime(2026, 11, 21, tzinfo=UTC)), SearchFilters(sources=("Harbor Times",))):
        sql, args = admitted_vectors_sql(f, kept=True)
        plan = " | ".join(r[-1] for r in archive.catalog.db.execute(f"EXPLAIN QUERY PLAN {sql}", [*args, 10]))
        assert "COVERING INDEX passages_article_id" in plan, plan
        assert ("articles_published" if f.since else "articles_source") in plan, plan
        assert "SCAN" not in plan, plan
