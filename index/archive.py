"""The archive: the SQLite catalog, the Chroma store and the keyword index opened together, kept in step, with
the embedder.

An article is in both stores or in neither. Writes go in this order: (1) the new passage ids are journalled in
SQLite, (2) vectors are upserted into Chroma, (3) one SQLite transaction writes the articles and passages, clears
the journal and journals the replaced passages, (4) the replaced passages are deleted from Chroma and the journal
cleared. A crash anywhere leaves only journalled ids in Chroma that no committed article owns; opening the archive
deletes them (``recover``). Deletions (``index.maintenance.prune``) go the other way round under the same rule.

The keyword index (``index.keywords``) follows the catalog through an outbox the catalog fills by trigger in the
same transactions: it is brought up to date after each committed batch, and on opening.

Two locks order the writers: ``writing`` (one writer per home, held for a whole ingest or prune) and, inside it,
``committing`` (held for one batch's four steps), which is all a backup (``index.backup``) takes.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import IO

import numpy as np

from index.catalog import Catalog
from index.db import storage_error
from index.embed import CachedEmbedder, make_embedder
from index.errors import StorageError
from index.keywords import KeywordIndex
from index.settings import IndexSettings
from index.store import VectorStore

log = logging.getLogger(__name__)


@dataclass
class Stats:
    articles: int
    passages: int
    sources: dict[str, int]
    oldest: datetime | None
    newest: datetime | None
    embedding_model: str
    vectors: int = 0
    journal: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "articles": self.articles,
            "passages": self.passages,
            "sources": self.sources,
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
            "embedding_model": self.embedding_model,
        }


def home_is_read_only(home: Path) -> bool:
    """True when the home exists but this user may not write it (a read-only mount, a folder or catalog without
    write permission). Root may write anything but a read-only mount."""
    if not home.is_dir():
        return False
    catalog = home / "catalog.sqlite3"
    return not os.access(home, os.W_OK) or (catalog.exists() and not os.access(catalog, os.W_OK))


@contextmanager
def _opening(home: Path, *, shared: bool) -> Iterator[None]:
    """One process at a time creates or migrates a home's stores: two opening a new home at once would both
    create the catalog's and Chroma's tables. Held only while opening (``open.lock``), so readers never wait for
    a long ingest; a read-only home needs (and can take) no lock."""
    if shared:
        yield
        return
    path = home / "open.lock"
    try:
        lock = open(path, "a")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise storage_error(path, exc) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _take_file_lock(path: Path, wait: bool, waiting: str, level: int) -> IO[str] | None:
    """An exclusive ``flock`` on ``path`` (created if needed), held until the returned file is unlocked and
    closed; None, without it, when ``wait`` is off and another holds it. ``waiting`` is logged at ``level``
    before a wait.

    Raises:
        StorageError: the lock file cannot be created.
    """
    try:
        lock = open(path, "a")  # noqa: SIM115  (the caller holds it)
    except OSError as exc:
        raise storage_error(path, exc) from None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                lock.close()
                return None
            log.log(level, waiting)
            fcntl.flock(lock, fcntl.LOCK_EX)
    except BaseException:
        lock.close()
        raise
    return lock


class Archive:
    """Catalog + vector store + embedder for one home."""

    def __init__(self, settings: IndexSettings, *, check_model: bool = True, read_only: bool | None = None) -> None:
        """Open (creating if needed) the archive under ``settings.home``.

        Args:
            settings: where and how.
            check_model: raise ``IndexMismatchError`` when the stored vectors come from another model
                (``reindex`` opens with False).
            read_only: open without writing anything: questions, stats and digests work, writes raise
                ``StorageError``. By default read-only exactly when this user may not write the home.

        Raises:
            StorageError: the home cannot be created, or (read-only) holds no archive.
        """
        self.settings = settings
        self.read_only = home_is_read_only(settings.home) if read_only is None else read_only
        self._lock = threading.RLock()  # threads of one process take turns; ``write.lock`` orders processes
        self._lock_file: IO[str] | None = None
        self._lock_depth = 0
        self._writer_thread: int | None = None
        self._commit_lock = threading.RLock()
        self._commit_file: IO[str] | None = None
        self._commit_depth = 0
        self._scannable, self._scannable_at = False, -math.inf
        if not self.read_only:
            try:
                settings.ensure_home()
            except OSError as exc:
                raise storage_error(settings.home, exc) from None
        elif not settings.catalog_path.is_file():
            raise StorageError(
                f"{settings.home}: the home is read-only and holds no archive yet; ingest into it with write "
                "access first, or set BRIEFBOT_HOME to the home that holds the archive"
            )
        self.model_id = settings.embedding_model
        with _opening(settings.home, shared=self.read_only):
            self.catalog = Catalog(settings.catalog_path, read_only=self.read_only)
            try:
                self.store = VectorStore(settings, self.model_id, check_model=check_model, read_only=self.read_only)
            except BaseException:
                self.catalog.close()
                raise
            try:
                self.keywords = KeywordIndex(settings.home / "keywords", read_only=self.read_only)
                if self.keywords.fresh:
                    self.catalog.keyword_requeue()
            except BaseException:
                self.catalog.close()
                self.store.close()
                raise
        if self.read_only:
            log.info("the home %s is read-only: opened for reading only", settings.home)
        else:
            self.recover()

    @cached_property
    def embedder(self) -> CachedEmbedder:
        inner = make_embedder(
            self.settings.embedding_model,
            base_url=self.settings.embedding_base_url,
            batch_size=self.settings.embedding_batch,
        )
        return CachedEmbedder(inner, self.catalog.cache_lookup, self.catalog.cache_store)

    @contextmanager
    def writing(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the home's write lock: one writer at a time across processes (the bot's feed polling and a CLI
        ingest may share a home) and threads. Re-entrant: a writer may take it again inside. Yields False,
        without the lock, when ``wait`` is off and another holds it.

        Raises:
            StorageError: the home is read-only, or the lock file cannot be created there.
        """
        if self.read_only:
            raise StorageError(
                f"{self.settings.home}: the home is read-only for this user, and this needs to write to it. Give "
                "this user write access, or set BRIEFBOT_HOME to a writable copy"
            )
        if not self._lock.acquire(blocking=wait):
            yield False
            return
        try:
            if self._lock_depth == 0 and not self._lock_home(wait):
                yield False
                return
            self._lock_depth += 1
            self._writer_thread = threading.get_ident()
            try:
                yield True
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    self._writer_thread = None
                    self.keywords.release()
                if self._lock_depth == 0 and self._lock_file is not None:
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                    self._lock_file.close()
                    self._lock_file = None
        finally:
            self._lock.release()

    def _lock_home(self, wait: bool) -> bool:
        waiting = f"waiting for another briefbot process writing to {self.settings.home} to finish"
        self._lock_file = _take_file_lock(self.settings.home / "write.lock", wait, waiting, logging.WARNING)
        return self._lock_file is not None

    @contextmanager
    def committing(self) -> Iterator[None]:
        """Hold the home's commit lock while both stores change together: one atomic batch of an ingest or a
        prune, a recovery, the swap of a reindex. A backup holds only this lock, so it waits for the batch in
        hand, never for a whole ingest, and copies the catalog and the vectors as of the same batch. Writers take
        it inside ``writing`` (never the other way round), so the two locks cannot deadlock. Re-entrant.

        Raises:
            StorageError: the lock file cannot be created in the home.
        """
        with self._commit_lock:
            if self._commit_depth == 0:
                waiting = f"waiting for the batch being written to {self.settings.home} to be committed"
                self._commit_file = _take_file_lock(self.settings.home / "commit.lock", True, waiting, logging.INFO)
            self._commit_depth += 1
            try:
                yield
            finally:
                self._commit_depth -= 1
                if self._commit_depth == 0 and self._commit_file is not None:
                    fcntl.flock(self._commit_file, fcntl.LOCK_UN)
                    self._commit_file.close()
                    self._commit_file = None
        # A batch committed by this writer: the keyword index catches up (outside the commit lock, which a backup
        # waits for). A backup, which takes only the commit lock, writes nothing.
        if self._commit_depth == 0 and self._lock_depth > 0 and self._writer_thread == threading.get_ident():
            self.sync_keywords()

    def recover(self) -> int:
        """Delete from Chroma the ids an interrupted write left behind; returns how many.

        Skipped while another process is writing: its journalled ids are work in progress, not leftovers.
        """
        with self.writing(wait=False) as locked:
            if not locked:
                return 0
            ids = self.catalog.journal()
            if ids:
                log.warning("recovering from an interrupted write: removing %d uncommitted vectors", len(ids))
                with self.committing():
                    self.store.delete(ids)
                    with self.catalog.transaction() as db:
                        self.catalog.journal_clear(db, ids)
            backlog = self.catalog.keyword_backlog()
            if backlog > 10_000:
                log.warning("indexing %d passages for keyword search (about 3 minutes a million, once)", backlog)
            self.sync_keywords()
            return len(ids)

    def sync_keywords(self) -> int:
        """Bring the keyword index up to date with the catalog; returns how many passages it took in. A failure
        is logged, not raised: the catalog is committed, and what is pending is applied by the next writer."""
        try:
            return self.keywords.sync(
                self.catalog.keyword_pending, self.catalog.keyword_rows, self.catalog.keyword_done
            )
        except (StorageError, ValueError, OSError) as exc:
            log.error("the keyword index could not catch up (%s); the next write or start retries", exc)
            return 0

    def scannable(self) -> bool:
        """Whether every passage's vector of this archive's model is in the catalog's ``vector_scan`` table (see
        ``index.search``). The count costs about 0.1 s on 1M passages: it is redone a minute after it was found
        false, ten after it was found true (a reindex in another process refills the table batch by batch)."""
        if self.catalog.vectors_model() != self.model_id:
            self._scannable = False
            return False
        if time.monotonic() - self._scannable_at > (600.0 if self._scannable else 60.0):
            self._scannable = self.catalog.all_vectors_kept(self.model_id)
            self._scannable_at = time.monotonic()
        return self._scannable

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of passages ``ids`` (those that exist): the ones kept in the catalog, Chroma's for
        the rest (passages stored before the catalog kept them). Reading thousands from Chroma is slow."""
        found = self.catalog.vectors(ids, self.model_id)
        missing = [pid for pid in ids if pid not in found]
        if missing:
            found.update(self.store.vectors(missing))
        return found

    def stats(self) -> Stats:
        articles, passages = self.catalog.counts()
        oldest, newest = self.catalog.date_range()
        return Stats(
            articles=articles,
            passages=passages,
            sources=self.catalog.sources(),
            oldest=oldest,
            newest=newest,
            embedding_model=self.model_id,
            vectors=self.store.count(),
            journal=len(self.catalog.journal()),
        )

    def close(self) -> None:
        self.keywords.close()
        self.catalog.close()
        self.store.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
