"""The archive's health, for operators (``briefbot doctor`` and the bot's start-up line): the home's size and the
free disk under it, whether the catalog, the vectors and the keyword index hold the same passages, the embedding
model and the hash of its weights, the Chroma server, and the registered feeds that fail or are paused.

Every check is a ``Check``: a name, whether it is a problem, and one line an operator can act on. Nothing here
raises for a sick archive; a home that cannot even be opened is itself a problem line.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.archive import Archive
from index.embed import model_fingerprint
from index.errors import BriefbotError
from index.feed_registry import FeedRegistry
from index.settings import IndexSettings

#: Less free space than this under the home is a problem: an ingest, a backup or SQLite's WAL needs room.
LOW_DISK_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    """One finding: ``problem`` checks make ``briefbot doctor`` exit 1, one line each."""

    name: str
    problem: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{'PROBLEM' if self.problem else 'ok':8}{self.name}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "problem": self.problem, "detail": self.detail, **self.data}


def size_of(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def disk_check(settings: IndexSettings) -> Check:
    home = settings.home
    where = home if home.exists() else home.resolve().parent
    used = size_of(home) if home.is_dir() else 0
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Check("disk", True, f"{home}: cannot read the free space ({exc.strerror or exc})")
    data = {"home": str(home), "home_bytes": used, "free_bytes": free}
    detail = f"{home} holds {human_bytes(used)}; {human_bytes(free)} free on its disk"
    if free < LOW_DISK_BYTES:
        return Check("disk", True, f"{detail}: under {human_bytes(LOW_DISK_BYTES)}, free some space", data)
    return Check("disk", False, detail, data)


def store_check(archive: Archive) -> Check:
    """Catalog, vectors and keyword index counted against each other."""
    db = archive.catalog.db
    articles, passages = archive.catalog.counts()
    keyword = archive.keywords.count()
    backlog = archive.catalog.keyword_backlog()
    bare = int(
        db.execute(
            "SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM passages p WHERE p.article_id = a.id)"
        ).fetchone()[0]
    )
    vectors = archive.store.count()
    journal = len(archive.catalog.journal())
    data = {"articles": articles, "passages": passages, "vectors": vectors, "keyword_rows": keyword}
    data |= {"articles_without_passages": bare, "journal": journal, "keyword_backlog": backlog}
    detail = f"{articles:,} articles, {passages:,} passages, {vectors:,} vectors, {keyword:,} keyword rows"
    problems = []
    keywords_fix = ""
    if backlog:
        # Opening the archive applied what was pending: a backlog now is a writer at work, or a failing index.
        detail += f"; {backlog:,} passages waiting for the keyword index"
        if archive.read_only or _no_writer(archive):
            problems.append(f"the keyword index is {backlog:,} passages behind and no writer is at work")
            keywords_fix = "; see the log, or delete the home's keywords folder to rebuild it on the next start"
    elif keyword != passages:
        problems.append(f"the keyword index holds {keyword:,} rows for {passages:,} passages")
        keywords_fix = "; delete the home's keywords folder to rebuild it on the next start"
    if bare:
        problems.append(f"{bare:,} articles have no passages")
    if journal:
        # ``Archive`` removed what an interrupted write left when it opened: a journal now is a writer at work.
        detail += f"; an ingest is writing ({journal:,} vectors in flight)"
        if not passages <= vectors <= passages + journal:
            problems.append(f"{vectors:,} vectors for {passages:,} passages with {journal:,} in flight")
    elif vectors != passages:
        problems.append(f"the vector store holds {vectors:,} vectors for {passages:,} passages")
    if problems:
        fix = keywords_fix if keywords_fix and len(problems) == 1 else "; run `briefbot reindex` to rebuild"
        return Check("store", True, f"{detail}: {'; '.join(problems)}{fix}", data)
    return Check("store", False, f"{detail}: in step", data)


def _no_writer(archive: Archive) -> bool:
    with archive.writing(wait=False) as free:
        return free


def model_check(archive: Archive) -> Check:
    fingerprint, pinned = model_fingerprint(archive.model_id)
    data = {"model": archive.model_id, "fingerprint": fingerprint}
    detail = f"{archive.model_id} ({fingerprint})"
    if not pinned:
        return Check("model", True, f"{detail}: not the pinned weights; reinstall briefbot", data)
    return Check("model", False, detail, data)


def chroma_check(archive: Archive, settings: IndexSettings) -> Check:
    if not settings.chroma_url:
        return Check("chroma", False, f"local store in {settings.chroma_path}", {"server": None})
    started = time.perf_counter()
    try:
        archive.store.client.heartbeat()
    except Exception as exc:  # the HTTP client raises plain connection errors
        return Check("chroma", True, f"the server at {settings.chroma_url} does not answer ({exc})")
    ms = (time.perf_counter() - started) * 1000
    return Check(
        "chroma", False, f"server {settings.chroma_url} answers in {ms:.0f} ms", {"server": settings.chroma_url}
    )


def feed_checks(archive: Archive) -> list[Check]:
    """One line for the feeds, and one problem line per feed that is paused or whose last poll failed."""
    feeds = FeedRegistry(archive.catalog.db).list()
    out = []
    for feed in feeds:
        if feed.paused:
            out.append(
                Check(
                    "feed",
                    True,
                    f"{feed.url} is paused after {feed.failures} failures ({feed.last_error}); "
                    "`briefbot feeds resume URL` when it is fixed",
                    {"url": feed.url},
                )
            )
        elif feed.failures:
            out.append(
                Check(
                    "feed",
                    True,
                    f"{feed.url} failed its last {feed.failures} polls ({feed.last_error})",
                    {"url": feed.url},
                )
            )
    bad = len(out)
    summary = f"{len(feeds)} registered, {bad} failing or paused"
    return [Check("feeds", False, summary, {"registered": len(feeds), "failing": bad}), *out]


def archive_checks(settings: IndexSettings) -> list[Check]:
    """Every check of the archive under ``settings.home``; one problem line when it cannot be opened."""
    checks = [disk_check(settings)]
    if not settings.catalog_path.is_file():
        return [*checks, Check("store", False, f"{settings.home} holds no archive yet: `briefbot ingest` fills it")]
    try:
        archive = Archive(settings)
    except BriefbotError as exc:
        return [*checks, Check("archive", True, str(exc))]
    try:
        return [*checks, *store_checks(archive, settings)]
    finally:
        archive.close()


def store_checks(archive: Archive, settings: IndexSettings) -> list[Check]:
    """The checks of an open archive: its stores, its model, its Chroma server, its feeds."""
    return [store_check(archive), model_check(archive), chroma_check(archive, settings), *feed_checks(archive)]
