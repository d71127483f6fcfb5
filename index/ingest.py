"""The ingest pipeline: records -> normalise -> dedup -> chunk -> embed -> store, in atomic batches.

- The same URL with the same text is skipped before anything is chunked or embedded.
- The same URL with new text replaces the article's passages.
- The same text under another URL (a syndicated copy) is stored once; the article learns the new URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from index.archive import Archive
from index.article import ArticleRecord, article_id, content_hash, normalize_text
from index.catalog import StoredPassage
from index.chunk import chunk_text
from index.errors import BriefbotError, SourceError
from index.store import NO_DATE

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # syndicated copies: same text under another URL (also counted as unchanged)
    failed: list[SourceError] = field(default_factory=list)
    passages: int = 0  # passages written by this run
    embedded: int = 0  # passages sent to the embedding model (the rest came from the cache)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    new_article_ids: list[str] = field(default_factory=list)

    def as_json(self, archive: Archive | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "failed": [{"source": e.source, "error": e.reason} for e in self.failed],
        }
        if archive is not None:
            articles, passages = archive.catalog.counts()
            out["articles"], out["passages"] = articles, passages
        out["passages_written"] = self.passages
        out["embedded"] = self.embedded
        return out


@dataclass
class _Pending:
    record: ArticleRecord
    article_id: str
    url: str
    text: str
    content_hash: str
    replaced: list[str]  # passage ids of the stored version being replaced
    passages: list[StoredPassage] = field(default_factory=list)


def _passage_id(aid: str, start: int, end: int, text: str) -> str:
    return hashlib.sha1(f"{aid}:{start}:{end}:{text}".encode()).hexdigest()[:24]


def ingest(
    archive: Archive,
    items: Iterable[ArticleRecord | SourceError],
    *,
    batch_articles: int = 32,
    progress: Callable[[IngestReport], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestReport:
    """Store every record of ``items`` in the archive; errors in ``items`` are collected in the report.

    Args:
        archive: the open archive.
        items: records (and per-source errors) from ``index.sources.read_sources`` or feed polling.
        batch_articles: articles written per atomic batch.
        progress: called after each item with the running report.
        now: the clock (tests pass their own).

    Returns:
        What happened, item by item counted.
    """
    report = IngestReport()
    started = time.perf_counter()
    batch: list[_Pending] = []
    seen_urls: dict[str, str] = {}  # within the batch: url -> article id
    seen_hashes: dict[str, str] = {}  # within the batch: content hash -> article id
    for item in items:
        if isinstance(item, SourceError):
            report.failed.append(item)
        else:
            try:
                pending = _classify(archive, item, report, seen_urls, seen_hashes)
            except BriefbotError as exc:
                report.failed.append(SourceError(item.origin or item.url, str(exc)))
                pending = None
            if pending is not None:
                batch.append(pending)
                seen_urls[pending.url] = pending.article_id
                seen_hashes[pending.content_hash] = pending.article_id
        if len(batch) >= batch_articles:
            _write(archive, batch, report, now())
            batch, seen_urls, seen_hashes = [], {}, {}
        if progress:
            progress(report)
    if batch:
        _write(archive, batch, report, now())
    report.seconds = time.perf_counter() - started
    return report


def _classify(
    archive: Archive,
    record: ArticleRecord,
    report: IngestReport,
    seen_urls: dict[str, str],
    seen_hashes: dict[str, str],
) -> _Pending | None:
    text = normalize_text(record.text)
    if not text:
        raise SourceError(record.origin or record.url, "the article has no text")
    title = normalize_text(record.title).replace("\n", " ") or text.split("\n", 1)[0][:120]
    record = ArticleRecord(
        url=record.url,
        title=title,
        text=text,
        published=record.published,
        source=record.source,
        author=record.author,
        origin=record.origin,
        alt_urls=record.alt_urls,
    )
    digest = content_hash(f"{title}\n{text}")
    aid = seen_urls.get(record.url) or article_id(record.url)
    known = archive.catalog.by_url(record.url)
    if record.url in seen_urls:
        report.unchanged += 1
        return None
    if known is not None:
        aid, old_hash = known
        if old_hash == digest:
            report.unchanged += 1
            if record.alt_urls:
                with archive.catalog.transaction() as db:
                    archive.catalog.add_urls(db, aid, record.alt_urls)
            return None
        return _Pending(record, aid, record.url, text, digest, archive.catalog.passage_ids(aid))
    twin = seen_hashes.get(digest) or archive.catalog.by_hash(digest)
    if twin is not None:
        # A syndicated copy: the same story under another URL is stored once and knows all its URLs.
        report.unchanged += 1
        report.duplicates += 1
        with archive.catalog.transaction() as db:
            archive.catalog.add_urls(db, twin, [record.url, *record.alt_urls])
        return None
    return _Pending(record, aid, record.url, text, digest, [])


def _write(archive: Archive, batch: list[_Pending], report: IngestReport, now: datetime) -> None:
    settings = archive.settings
    embed_texts: list[str] = []
    ids: list[str] = []
    metas: list[dict[str, object]] = []
    for p in batch:
        for c in chunk_text(
            p.text,
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap,
            tokenizer=settings.tokenizer,
        ):
            pid = _passage_id(p.article_id, c.start, c.end, c.text)
            p.passages.append(StoredPassage(pid, p.article_id, c.index, c.start, c.end, c.text, c.tokens))
            ids.append(pid)
            embed_texts.append(f"{p.record.title}\n{c.text}")
            published = p.record.published
            metas.append(
                {
                    "article_id": p.article_id,
                    "source": p.record.source,
                    "published_ts": published.timestamp() if published else NO_DATE,
                    "idx": c.index,
                }
            )
    t0 = time.perf_counter()
    before = archive.embedder.embedded
    vectors = archive.embedder.embed(embed_texts) if embed_texts else np.zeros((0, 0), dtype=np.float32)
    report.embed_seconds += time.perf_counter() - t0
    report.embedded += archive.embedder.embedded - before

    replaced = {pid for p in batch for pid in p.replaced}
    new_ids = [pid for pid in ids if pid not in replaced]
    archive.catalog.journal_add(new_ids)  # (1)
    if ids:
        archive.store.upsert(ids, vectors, metas)  # (2)
    stale = sorted(replaced - set(ids))
    with archive.catalog.transaction() as db:  # (3)
        for p in batch:
            archive.catalog.put_article(
                db,
                article_id=p.article_id,
                url=p.url,
                title=p.record.title,
                source=p.record.source,
                author=p.record.author,
                published=p.record.published,
                text=p.text,
                content_hash=p.content_hash,
                origin=p.record.origin,
                passages=p.passages,
                now=now,
            )
            archive.catalog.add_urls(db, p.article_id, p.record.alt_urls)
        archive.catalog.journal_clear(db, new_ids)
        db.executemany("INSERT OR IGNORE INTO chroma_journal (id) VALUES (?)", [(i,) for i in stale])
    if stale:  # (4)
        archive.store.delete(stale)
        with archive.catalog.transaction() as db:
            archive.catalog.journal_clear(db, stale)
    for p in batch:
        if p.replaced:
            report.updated += 1
        else:
            report.added += 1
            report.new_article_ids.append(p.article_id)
    report.passages += len(ids)


def reindex(archive: Archive, *, progress: Callable[[int, int], None] | None = None) -> int:
    """Re-embed every passage with the configured model into a fresh collection, then swap it in.

    The old collection stays in place until the new one is complete, so an interrupted reindex loses nothing:
    run it again.

    Returns:
        The number of passages embedded.
    """
    from index.store import VectorStore

    settings = archive.settings
    tmp_name = f"{settings.collection}__reindex"
    with contextlib.suppress(Exception):  # chromadb raises NotFoundError or ValueError, by version
        archive.store.client.delete_collection(tmp_name)
    target = VectorStore(settings, archive.model_id, name=tmp_name)
    _, total = archive.catalog.counts()
    done = 0
    for rows in archive.catalog.iter_passages(batch=512):
        vectors = archive.embedder.embed([f"{r['title']}\n{r['text']}" for r in rows])
        metas = [
            {
                "article_id": r["article_id"],
                "source": r["source"],
                "published_ts": r["published_ts"] if r["published_ts"] is not None else NO_DATE,
                "idx": r["idx"],
            }
            for r in rows
        ]
        target.upsert([r["id"] for r in rows], vectors, metas)
        done += len(rows)
        if progress:
            progress(done, total)
    with contextlib.suppress(Exception):
        archive.store.client.delete_collection(settings.collection)
    target.rename(settings.collection)
    archive.store = target
    return done
