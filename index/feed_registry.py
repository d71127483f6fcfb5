"""The registered feeds: the ``feeds`` table of the catalog, their conditional-GET state and failures, OPML
import, and ``poll``, which reads every registered feed once (``index.feeds`` parses what it fetches)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.article import ArticleRecord, Checkpoint
from index.bounded import read_file
from index.db import from_iso
from index.errors import SourceError
from index.feeds import OPML_MAX_BYTES, _entries, _parse, _read_feed_file, read_opml
from index.fetch import Fetcher
from index.settings import IndexSettings
from index.urls import canonical_url, redact_url

log = logging.getLogger(__name__)

FEEDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,             -- http(s) URL, or an absolute path to a feed file
    title TEXT,
    added_at TEXT NOT NULL,           -- ISO 8601 UTC
    etag TEXT,                        -- from the last 200 response: sent back as If-None-Match
    last_modified TEXT,               -- from the last 200 response: sent back as If-Modified-Since
    last_polled TEXT,
    last_success TEXT,
    failures INTEGER NOT NULL DEFAULT 0,   -- consecutive failed polls
    last_error TEXT,
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))
);
"""


@dataclass(frozen=True)
class Feed:
    """A registered feed and how its polls have gone."""

    url: str
    title: str | None
    added_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    paused: bool = False

    @property
    def is_file(self) -> bool:
        return not self.url.startswith(("http://", "https://"))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


_dt = from_iso


class FeedRegistry:
    """The registered feeds, in the ``feeds`` table (``FEEDS_SCHEMA``) of the catalog database.

    Args:
        conn: an open connection whose database has the ``feeds`` table.
        clock: the current time (a seam for tests).
    """

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], datetime] | None = None) -> None:
        self.conn = conn
        self.clock = clock or (lambda: datetime.now(UTC))

    @staticmethod
    def normalize(url: str) -> str:
        """The key a feed is stored under: its canonical URL, or the absolute path of a feed file.

        Raises:
            SourceError: neither an http(s) URL nor an existing file.
        """
        text = url.strip()
        if text.lower().startswith(("http://", "https://")):
            canonical = canonical_url(text)
            if "://" in canonical and canonical.split("://", 1)[1].split("/", 1)[0]:
                return canonical
        else:
            path = Path(text).expanduser()
            if path.is_file():
                return str(path.resolve())
        raise SourceError(url, "a feed must be an http(s) URL or an existing file")

    def add(self, url: str, title: str | None = None) -> Feed:
        """Register a feed (again: keeps its history, updates the title when one is given)."""
        key = self.normalize(url)
        with self.conn:
            self.conn.execute(
                "INSERT INTO feeds (url, title, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET title = COALESCE(excluded.title, feeds.title)",
                (key, title, _iso(self.clock())),
            )
        feed = self.get(key)
        assert feed is not None
        return feed

    def remove(self, url: str) -> bool:
        """Forget a feed; False when it was not registered."""
        try:
            key = self.normalize(url)
        except SourceError:
            key = url.strip()
        with self.conn:
            cursor = self.conn.execute("DELETE FROM feeds WHERE url IN (?, ?)", (key, url.strip()))
        return cursor.rowcount > 0

    def get(self, url: str) -> Feed | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM feeds WHERE url = ?", (url,)).fetchone()
        if row is None and url.strip().lower().startswith(("http://", "https://")):
            row = self.conn.execute(f"SELECT {_COLUMNS} FROM feeds WHERE url = ?", (canonical_url(url),)).fetchone()
        return _feed(row) if row else None

    def list(self) -> list[Feed]:
        """Every registered feed, paused ones included, in the order they were added."""
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM feeds ORDER BY added_at, rowid").fetchall()
        return [_feed(row) for row in rows]

    def resume(self, url: str) -> bool:
        """Unpause a feed and forget its failures; False when it is not registered."""
        feed = self.get(url)
        if feed is None:
            return False
        with self.conn:
            self.conn.execute("UPDATE feeds SET paused = 0, failures = 0 WHERE url = ?", (feed.url,))
        return True

    def record_success(self, url: str, *, etag: str | None, last_modified: str | None) -> None:
        now = _iso(self.clock())
        with self.conn:
            self.conn.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, last_polled = ?, last_success = ?, failures = 0,"
                " last_error = NULL WHERE url = ?",
                (etag, last_modified, now, now, url),
            )

    def record_failure(self, url: str, error: str, *, max_failures: int) -> Feed:
        """Count one more consecutive failure; the feed is paused when it reaches ``max_failures``."""
        with self.conn:
            self.conn.execute(
                "UPDATE feeds SET last_polled = ?, failures = failures + 1, last_error = ?,"
                " paused = CASE WHEN failures + 1 >= ? THEN 1 ELSE paused END WHERE url = ?",
                (_iso(self.clock()), error, max_failures, url),
            )
        feed = self.get(url)
        assert feed is not None
        return feed


_COLUMNS = "url, title, added_at, etag, last_modified, last_polled, last_success, failures, last_error, paused"


def _feed(row: tuple[Any, ...]) -> Feed:
    return Feed(
        url=row[0],
        title=row[1],
        added_at=_dt(row[2]) or datetime.fromtimestamp(0, UTC),
        etag=row[3],
        last_modified=row[4],
        last_polled=_dt(row[5]),
        last_success=_dt(row[6]),
        failures=int(row[7]),
        last_error=row[8],
        paused=bool(row[9]),
    )


def poll(
    registry: FeedRegistry, fetcher: Fetcher, settings: IndexSettings
) -> Iterator[ArticleRecord | SourceError | Checkpoint]:
    """Poll every registered feed that is not paused, once, and yield its articles.

    Web feeds are fetched with conditional GET (the ETag and Last-Modified of the last success): a 304 yields
    nothing and counts as a success. A feed that cannot be fetched or parsed counts a failure and yields one
    ``SourceError``; after ``settings.feed_max_failures`` in a row it is paused until ``registry.resume``.
    The new ETag is stored only after a ``Checkpoint`` that follows the feed's entries has been consumed (the
    ingest pipeline commits everything before it), so an interrupted poll is repeated.
    """
    for feed in registry.list():
        if feed.paused:
            log.info("feed %s is paused after %d failures: skipped", redact_url(feed.url), feed.failures)
            continue
        try:
            if feed.is_file:
                data, etag, last_modified = _read_feed_file(feed.url, settings), None, None
                url = Path(feed.url).as_uri()
            else:
                result = fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
                if result.not_modified:
                    registry.record_success(feed.url, etag=feed.etag, last_modified=feed.last_modified)
                    continue
                data, url = result.content, result.url
                etag, last_modified = result.etag, result.last_modified
            parsed = _parse(data, url, feed.url)
        except SourceError as exc:
            after = registry.record_failure(feed.url, exc.reason, max_failures=settings.feed_max_failures)
            reason = exc.reason
            if after.paused:
                reason += f"; paused after {after.failures} consecutive failures"
            yield SourceError(feed.url, reason)
            continue
        yield from _entries(parsed, url, fetcher, feed.url)
        yield Checkpoint()  # the consumer commits the entries before we mark the feed as read
        registry.record_success(feed.url, etag=etag, last_modified=last_modified)


def import_opml(
    registry: FeedRegistry, path_or_bytes: str | Path | bytes, *, max_bytes: int = OPML_MAX_BYTES
) -> list[Feed]:
    """Register every feed an OPML file lists; entries that are not http(s) URLs are skipped with a warning.

    Returns:
        The feeds registered (or already registered) from the file.

    Raises:
        SourceError: the file cannot be read or is not well-formed OPML.
    """
    if isinstance(path_or_bytes, bytes):
        data, source = path_or_bytes, "OPML"
    else:
        source = str(path_or_bytes)
        try:
            data = read_file(Path(path_or_bytes), max_bytes)
        except OSError as exc:
            raise SourceError(source, f"cannot read: {exc.strerror or exc}") from None
    feeds = []
    for title, url in read_opml(data, source=source):
        if not url.lower().startswith(("http://", "https://")):
            log.warning("%s: skipped %r: not an http(s) feed URL", source, url)
            continue
        feeds.append(registry.add(url, title or None))
    return feeds
