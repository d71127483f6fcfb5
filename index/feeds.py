"""RSS and Atom feeds and OPML files: entries to articles, outlines to feed URLs (``index.feed_registry`` keeps
the registered feeds that `briefbot poll` reads).

feedparser only ever gets bytes we fetched ourselves (wrapped in a stream, so it never takes them for a URL or
a file name): it fetches nothing. An entry with full content becomes an article directly; an entry with only a
summary is fetched from its link and extracted like any web page.
"""

from __future__ import annotations

import calendar
import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser

from index.article import ArticleRecord, normalize_text
from index.bounded import read_file
from index.errors import SourceError
from index.extract import extract_html, html_fragment_to_text
from index.fetch import Fetcher
from index.settings import IndexSettings
from index.urls import canonical_url, outlet_name

log = logging.getLogger(__name__)

FULL_CONTENT_MIN_CHARS = 500
"""An entry whose content has more text than this (and more than its summary) is taken as the full article."""


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


def _read_feed_file(path: str, settings: IndexSettings) -> bytes:
    try:
        return read_file(Path(path), settings.max_file_bytes)
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror or exc}") from None
