"""RSS and Atom feeds: entries to articles, OPML import, and the registered feeds that `briefbot poll` reads.

feedparser only ever gets bytes we fetched ourselves (wrapped in a stream, so it never takes them for a URL or
a file name): it fetches nothing. An entry with full content becomes an article directly; an entry with only a
summary is fetched from its link and extracted like any web page.
"""

from __future__ import annotations

import calendar
import io
import logging
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import feedparser

from index.article import ArticleRecord, Checkpoint, normalize_text
from index.bounded import read_file
from index.db import from_iso
from index.errors import SourceError
from index.extract import extract_html, html_fragment_to_text
from index.settings import IndexSettings
from index.urls import canonical_url, outlet_name, redact_url

if TYPE_CHECKING:
    from index.fetch import Fetcher

log = logging.getLogger(__name__)

FULL_CONTENT_MIN_CHARS = 500
"""An entry whose content has more text than this (and more than its summary) is taken as the full article."""

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


_ENTRY_KEYS = ("link", "id", "title", "summary", "content")
OPML_MAX_BYTES = 20_000_000
"""An OPML file larger than this is refused: a list of a hundred thousand feeds is about 15 MB."""


def _head(data: bytes) -> bytes:
    return data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()


def looks_like_feed(data: bytes) -> bool:
    """True when the bytes start like an RSS, RDF or Atom document."""
    head = _head(data)
    marks = [head.find(tag) for tag in (b"<rss", b"<feed", b"<rdf:rdf")]
    first = min((m for m in marks if m >= 0), default=-1)
    html = head.find(b"<html")
    return first >= 0 and (html < 0 or first < html)


def looks_like_opml(data: bytes) -> bool:
    """True when the bytes start like an OPML document."""
    return b"<opml" in _head(data)


def _struct_to_utc(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _parse(data: bytes, url: str, origin: str) -> Any:
    # Content-Location: the base for relative links; Content-Type: without one feedparser flags every feed.
    headers = {"content-type": "application/xml"}
    if url.startswith(("http://", "https://")):
        headers["content-location"] = url
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    # A broken document can still give entries (feedparser's loose parser recovers them); only empty shells
    # mean nothing could be read.
    parsed["entries"] = [e for e in parsed.entries if any(e.get(k) for k in _ENTRY_KEYS)]
    if not parsed.entries:
        if parsed.bozo:
            reason = str(parsed.get("bozo_exception") or "not well-formed").strip()
            raise SourceError(origin, f"malformed feed XML ({reason})")
        if not parsed.version:
            raise SourceError(origin, "not an RSS or Atom feed")
    return parsed


def read_feed(
    data: bytes, url: str, fetcher: Fetcher | None, *, origin: str | None = None
) -> Iterator[ArticleRecord | SourceError]:
    """The articles of a feed document.

    Args:
        data: the feed as fetched or read (bytes: feedparser works out the encoding).
        url: where the feed lives; relative entry links resolve against it.
        fetcher: fetches the pages of summary-only entries; without one such entries are errors.
        origin: what to name in errors (defaults to ``url``).

    Yields:
        An article per entry, or a ``SourceError`` for the feed (malformed, not a feed) or for one entry
        (no link, its page failed).
    """
    origin = origin or url
    try:
        parsed = _parse(data, url, origin)
    except SourceError as exc:
        yield exc
        return
    yield from _entries(parsed, url, fetcher, origin)


def _entries(parsed: Any, url: str, fetcher: Fetcher | None, origin: str) -> Iterator[ArticleRecord | SourceError]:
    feed = parsed.feed
    outlet = normalize_text(html_fragment_to_text(feed.get("title") or "")) or outlet_name(feed.get("link") or url)
    outlet = outlet or "local file"
    base = url if url.startswith(("http://", "https://")) else (feed.get("link") or "")
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            yield _entry(entry, number, base, outlet, fetcher, origin)
        except SourceError as exc:
            yield exc


def _web_url(value: Any, base: str) -> str:
    """An http(s) URL from an entry's link or id, resolved against the feed's base; "" when there is none."""
    text = str(value or "").strip()
    if not text or text.startswith(("tag:", "urn:")):
        return ""
    if not text.startswith(("http://", "https://")) and base.startswith(("http://", "https://")):
        text = urljoin(base, text)
    return text if text.startswith(("http://", "https://")) else ""


def _entry(entry: Any, number: int, base: str, outlet: str, fetcher: Fetcher | None, origin: str) -> ArticleRecord:
    title = normalize_text(html_fragment_to_text(entry.get("title") or ""))
    name = f"{origin} entry {number}" + (f" ({title[:60]!r})" if title else "")
    link = _web_url(entry.get("link"), base) or _web_url(entry.get("id"), base)
    entry_id = (entry.get("id") or "").strip()
    published = _struct_to_utc(entry.get("published_parsed") or entry.get("updated_parsed"))
    author = (entry.get("author") or "").strip() or None

    summary = html_fragment_to_text(entry.get("summary") or "")
    contents = [html_fragment_to_text(c.get("value") or "") for c in entry.get("content") or []]
    full = max(contents, key=len, default="")
    if len(full) < len(summary) or not full:
        full = ""
    # Many feeds carry the whole article in the description: good enough when there is no page to fetch.
    if len(summary) > FULL_CONTENT_MIN_CHARS and not full and (not link or fetcher is None):
        full = summary
    if len(full) > FULL_CONTENT_MIN_CHARS:
        url = canonical_url(link) if link else entry_id
        if not url:
            raise SourceError(name, "entry has no link and no id")
        return ArticleRecord(
            url=url,
            title=title or full.split("\n", 1)[0][:120],
            text=full,
            published=published,
            source=outlet,
            author=author,
            origin=origin,
            alt_urls=(link,) if link and link != url else (),
        )

    if not link.startswith(("http://", "https://")):
        raise SourceError(name, "entry has no link to fetch its article from, and no full content")
    if fetcher is None:
        raise SourceError(name, "entry has only a summary and no fetcher was given for its page")
    try:
        page = fetcher.fetch(link)
        record = extract_html(page.text, page.url, origin=link)
    except SourceError as exc:
        raise SourceError(f"{name} {link}", exc.reason) from None
    alt = tuple(u for u in {*record.alt_urls, canonical_url(link)} if u != record.url)
    return replace(
        record,
        title=title or record.title,
        published=published or record.published,
        source=outlet,
        author=record.author or author,
        origin=origin,
        alt_urls=tuple(sorted(alt)),
    )


def read_opml(data: bytes, *, source: str = "OPML") -> list[tuple[str, str]]:
    """The feeds an OPML file lists, as ``(title, xmlUrl)`` in document order, nested outlines included.

    Raises:
        SourceError: the OPML is not well-formed XML.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SourceError(source, f"malformed OPML ({exc})") from None
    feeds: list[tuple[str, str]] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        attrs = {k.lower(): v.strip() for k, v in outline.attrib.items()}
        url = attrs.get("xmlurl", "")
        if url and url not in seen:
            seen.add(url)
            feeds.append((attrs.get("title") or attrs.get("text") or outlet_name(url), url))
    return feeds


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


def _read_feed_file(path: str, settings: IndexSettings) -> bytes:
    try:
        return read_file(Path(path), settings.max_file_bytes)
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror or exc}") from None


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
