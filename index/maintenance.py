"""Keeping a home tidy: retention (``prune`` articles older than a cutoff, from every store at once).

An article dates from its published date; an undated one from when it was ingested. Pruning removes, per
batch, the articles with their passages, URLs and embedding-cache entries, and their vectors in Chroma (the
keyword index follows the catalog: ``index.keywords``), with the same all-or-nothing rule as ingest
(``index.archive``): one SQLite transaction deletes the rows and journals the batch's passage ids, then the ids
are deleted from Chroma, then the journal is cleared. A crash anywhere leaves only journalled vectors that no
article owns, which ``Archive.recover`` removes on the next open; running the prune again finishes the job.

The bot's chat state is untouched: turns keep their text (a follow-up searches again and finds what is left),
and the delivery log keys digests by day and alerts by article id, so nothing is sent twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from index.archive import Archive
from index.embed import CachedEmbedder

#: Articles deleted per atomic batch.
PRUNE_BATCH = 200

_AGE = re.compile(r"^\s*(\d{1,7})\s*([dw])\s*$", re.IGNORECASE)


def parse_age(text: str) -> timedelta:
    """An age such as ``365d`` or ``52w``: a positive whole number of days or weeks.

    Raises:
        ValueError: anything else, with what would do.
    """
    m = _AGE.match(text)
    if not m:
        if text.strip().isdigit():
            if int(text) == 0:
                raise ValueError(f"{text!r}: the age must be more than 0 days")
            raise ValueError(f"{text!r} needs a unit: {int(text)}d for days, {int(text)}w for weeks")
        raise ValueError(f"{text!r} is not an age: give days or weeks, such as 365d or 52w")
    n = int(m[1])
    if n <= 0:
        raise ValueError(f"{text!r}: the age must be more than 0 days")
    days = n * (7 if m[2].lower() == "w" else 1)
    if days > 3_000_000:
        raise ValueError(f"{text!r} is out of range: at most 3,000,000 days")
    return timedelta(days=days)


def cutoff_for(age: timedelta, now: datetime) -> datetime:
    """``now - age``, clamped to the first representable moment (nothing is older than that)."""
    try:
        return now.astimezone(UTC) - age
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


@dataclass
class PruneReport:
    """What a prune removed (or, dry, would remove)."""

    cutoff: datetime
    dry_run: bool = False
    articles: int = 0
    passages: int = 0
    vectors: int = 0
    cache_entries: int = 0
    urls: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "articles": self.articles,
            "passages": self.passages,
            "vectors": self.vectors,
            "cache_entries": self.cache_entries,
            "urls": self.urls,
        }


def prune(
    archive: Archive,
    cutoff: datetime,
    *,
    dry_run: bool = False,
    batch_articles: int = PRUNE_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> PruneReport:
    """Remove every article dated before ``cutoff`` from the archive, and all that belongs to it.

    Holds the home's write lock for the whole run, as ingest does (waiting for another writer to finish).

    Args:
        archive: the open archive.
        cutoff: articles published before it (undated ones: ingested before it) go.
        dry_run: count what would go and write nothing.
        batch_articles: articles deleted per atomic batch.
        progress: called after each batch with (articles done, articles to do).

    Raises:
        StorageError: the home cannot be written; the batches committed before stay removed.
    """
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    if dry_run:
        ids = archive.catalog.older_than(cutoff)
        passages = archive.catalog.passages_of(ids)
        report.articles, report.passages = len(ids), len(passages)
        report.vectors = len(archive.store.existing([p[0] for p in passages]))
        keys = [CachedEmbedder.key(f"{title}\n{text}") for _, title, text in passages]
        report.cache_entries = archive.catalog.cache_count(archive.catalog.cache_models(), keys)
        report.urls = sum(len(archive.catalog.urls(aid)) for aid in ids)
        return report
    with archive.writing():
        archive.recover()  # what an interrupted write left (a prune killed while the bot kept its archive open)
        ids = archive.catalog.older_than(cutoff)
        models = archive.catalog.cache_models()
        before = archive.store.count()
        for i in range(0, len(ids), batch_articles):
            _prune_batch(archive, ids[i : i + batch_articles], models, report)
            if progress:
                progress(report.articles, len(ids))
        report.vectors = before - archive.store.count()
    return report


def _prune_batch(archive: Archive, ids: list[str], models: list[str], report: PruneReport) -> None:
    catalog = archive.catalog
    with archive.committing():
        passages = catalog.passages_of(ids)
        pids = [p[0] for p in passages]
        keys = [CachedEmbedder.key(f"{title}\n{text}") for _, title, text in passages]
        with catalog.transaction() as db:  # (1) the rows go, their vectors are journalled
            report.urls += catalog.delete_articles(db, ids)
            report.cache_entries += catalog.cache_delete(db, models, keys)
            catalog.journal_insert(db, pids)
        archive.store.delete(pids)  # (2)
        with catalog.transaction() as db:  # (3)
            catalog.journal_clear(db, pids)
    report.articles += len(ids)
    report.passages += len(pids)
