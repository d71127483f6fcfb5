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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from index.archive import Archive
from index.article import ArticleRecord, Checkpoint, article_id, content_hash, normalize_text
from index.catalog import StoredPassage
from index.chunk import chunk_text
from index.errors import BriefbotError, SourceError
from index.store import NO_DATE, VectorStore

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # syndicated copies: same text under another URL (also counted as unchanged)
    expired: int = 0  # published before ``not_before`` (the retention period): not taken in
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
            "expired": self.expired,
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


@dataclass
class _Batch:
    """Articles waiting to be written together, and what they claim: their URLs and texts."""

    pending: dict[str, _Pending] = field(default_factory=dict)  # article id -> the latest version
    urls: dict[str, str] = field(default_factory=dict)  # url -> article id
    hashes: dict[str, str] = field(default_factory=dict)  # text hash -> article id
    extra_urls: list[tuple[str, str]] = field(default_factory=list)  # (article id, url) written with the batch

    def add(self, p: _Pending) -> None:
        self.pending[p.article_id] = p  # the same article twice in a batch: the later version wins
        for url in (p.url, *p.record.alt_urls):
            self.urls.setdefault(url, p.article_id)
        self.hashes.setdefault(p.content_hash, p.article_id)

    def __len__(self) -> int:
        return len(self.pending)


def _passage_id(aid: str, start: int, end: int, text: str) -> str:
    return hashlib.sha1(f"{aid}:{start}:{end}:{text}".encode()).hexdigest()[:24]


def ingest(
    archive: Archive,
    items: Iterable[ArticleRecord | SourceError | Checkpoint],
    *,
    batch_articles: int = 32,
    progress: Callable[[IngestReport], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    not_before: datetime | None = None,
) -> IngestReport:
    """Store every record of ``items`` in the archive; errors in ``items`` are collected in the report.

    Holds the home's write lock (``Archive.writing``) for the whole run, waiting for another writer to finish,
    and its commit lock (``Archive.committing``) per atomic batch only: a backup waits for one batch, not the run.

    Args:
        archive: the open archive.
        items: records (and per-source errors) from ``index.sources.read_sources`` or feed polling; a
            ``Checkpoint`` commits what came before it.
        batch_articles: articles written per atomic batch.
        progress: called after each item with the running report.
        now: the clock (tests pass their own).
        not_before: records published before it are skipped (counted as ``expired``): with a retention period,
            what a feed still lists after it was pruned is not taken in (and pruned) again every day.

    Returns:
        What happened, item by item counted.

    Raises:
        StorageError: the home cannot be written (read-only, full disk); what was committed before stays.
    """
    report = IngestReport()
    started = time.perf_counter()
    # One writer at a time, for the whole run: a second ingest of the same articles waits, then finds them
    # stored and unchanged instead of classifying them as new beside the first and embedding them again.
    with archive.writing():
        batch = _Batch()
        for item in items:
            if isinstance(item, SourceError):
                report.failed.append(item)
            elif isinstance(item, ArticleRecord) and not_before and item.published and item.published < not_before:
                report.expired += 1
            elif isinstance(item, ArticleRecord):
                try:
                    pending = _classify(archive, item, report, batch)
                except SourceError as exc:
                    report.failed.append(exc)
                    pending = None
                except BriefbotError as exc:
                    report.failed.append(SourceError(item.origin or item.url, str(exc)))
                    pending = None
                if pending is not None:
                    batch.add(pending)
            if len(batch) >= batch_articles or (isinstance(item, Checkpoint) and (batch.pending or batch.extra_urls)):
                _write(archive, batch, report, now())
                batch = _Batch()
            if progress:
                progress(report)
        if batch.pending or batch.extra_urls:
            _write(archive, batch, report, now())
    report.seconds = time.perf_counter() - started
    return report


def _classify(archive: Archive, record: ArticleRecord, report: IngestReport, batch: _Batch) -> _Pending | None:
    where = record.origin or record.url
    text = normalize_text(record.text)
    if not text:
        raise SourceError(where, "the article has no text")
    limit = archive.settings.max_article_chars
    if len(text) > limit:
        which = "" if record.url in where else f" ({record.url})"  # the origin may be a whole feed or file
        raise SourceError(
            where, f"article too long{which}: {len(text):,} characters, over {limit:,} (max_article_chars)"
        )
    title = normalize_text(record.title).replace("\n", " ") or text.split("\n", 1)[0][:120]
    record = replace(record, title=title, text=text)
    # The text alone decides "same story": syndicated copies often carry another headline.
    digest = content_hash(text)
    in_batch = batch.urls.get(record.url)
    if in_batch is not None:
        earlier = batch.pending.get(in_batch)
        if earlier is None or (earlier.content_hash == digest and earlier.record.title == title):
            report.unchanged += 1
            return None
        return replace(
            earlier,
            record=replace(record, url=earlier.url, source=earlier.record.source),
            text=text,
            content_hash=digest,
        )
    known = archive.catalog.by_url(record.url)
    if known is not None:
        stored = archive.catalog.article(known[0])
        assert stored is not None
        new_urls = [u for u in record.alt_urls if u not in batch.urls]
        batch.extra_urls.extend((stored.id, u) for u in new_urls)
        if stored.content_hash == digest and stored.title == title:
            report.unchanged += 1
            return None
        # An update. Reached through another of its URLs (a syndicated copy), it keeps its own URL and outlet.
        record = replace(record, url=stored.url, source=stored.source)
        return _Pending(record, stored.id, stored.url, text, digest, archive.catalog.passage_ids(stored.id))
    twin = batch.hashes.get(digest) or archive.catalog.by_hash(digest)
    if twin is not None:
        # A syndicated copy: the same story under another URL is stored once and knows all its URLs.
        report.unchanged += 1
        report.duplicates += 1
        for url in (record.url, *record.alt_urls):
            if url not in batch.urls:
                batch.urls[url] = twin
                batch.extra_urls.append((twin, url))
        return None
    return _Pending(record, article_id(record.url), record.url, text, digest, [])


def _write(archive: Archive, batch: _Batch, report: IngestReport, now: datetime) -> None:
    with archive.writing(), archive.committing():
        _write_locked(archive, list(batch.pending.values()), batch.extra_urls, report, now)


def _write_locked(
    archive: Archive, batch: list[_Pending], extra_urls: list[tuple[str, str]], report: IngestReport, now: datetime
) -> None:
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
        first = 0
        for p in batch:
            rows = vectors[first : first + len(p.passages)] if p.passages else None
            first += len(p.passages)
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
                vectors=rows,
                model=archive.model_id,
            )
            archive.catalog.add_urls(db, p.article_id, p.record.alt_urls)
        for aid, url in extra_urls:
            archive.catalog.add_urls(db, aid, [url])
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

    with archive.writing():
        return _reindex_locked(archive, progress)


def _reindex_locked(archive: Archive, progress: Callable[[int, int], None] | None) -> int:
    settings = archive.settings
    tmp_name = f"{settings.collection}__reindex"
    with contextlib.suppress(Exception):  # chromadb raises NotFoundError or ValueError, by version
        archive.store.client.delete_collection(tmp_name)
    target = VectorStore(settings, archive.model_id, name=tmp_name)
    with archive.catalog.transaction() as db:
        archive.catalog.reset_vectors(db, archive.model_id)  # the kept vectors follow, batch by batch
    archive.catalog.keyword_requeue()  # and the keyword index is built anew, when the swap below commits
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
        with archive.catalog.transaction() as db:
            archive.catalog.put_vectors(db, [r["id"] for r in rows], vectors, archive.model_id)
        done += len(rows)
        if progress:
            progress(done, total)
    with archive.committing():  # a backup copies the old collection or the new one, never half a swap
        with contextlib.suppress(Exception):
            archive.store.client.delete_collection(settings.collection)
        target.rename(settings.collection)
        archive.store = target
    return done
