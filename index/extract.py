"""From a web page to an article: main text and metadata with trafilatura, dates to UTC, HTML fragments to text.

trafilatura only ever gets HTML we already hold, never a URL: it fetches nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import trafilatura
from trafilatura.utils import load_html

from index.article import ArticleRecord, normalize_text
from index.errors import SourceError
from index.urls import canonical_url, outlet_name

# trafilatura and htmldate explain every page they discard at WARNING; we report those pages ourselves as one
# SourceError each, so their chatter would only repeat it.
for _name in ("trafilatura", "htmldate", "courlan", "justext"):
    logging.getLogger(_name).setLevel(logging.ERROR)

MIN_ARTICLE_CHARS = 100
"""Less main text than this is a navigation page, a paywall stub or an empty shell, not an article."""

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.created",
    "pubdate",
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "hr",
        "dd",
        "dt",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "head", "title"})


def parse_published(value: object) -> datetime | None:
    """A publication time as a timezone-aware UTC datetime, or None when it cannot be read.

    Accepts ISO 8601 dates and times ("2024-05-14", "2024-05-14T07:30:00-04:00", "...Z"), RFC 2822 dates
    ("Tue, 14 May 2024 11:30:00 GMT") and datetimes. Times without a zone are taken as UTC.
    """
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        parsed = None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    else:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data.replace("\n", " "))


def html_fragment_to_text(html: str) -> str:
    """Text of an HTML fragment (a feed entry's content): tags dropped, blocks as paragraphs, entities decoded."""
    if "<" not in html and "&" not in html:
        return normalize_text(html)
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return normalize_text("".join(collector.parts))


def _first(tree: Any, xpath: str) -> str | None:
    for value in tree.xpath(xpath):
        text = str(value).strip()
        if text:
            return text
    return None


def _meta(tree: Any, *names: str) -> str | None:
    wanted = " or ".join(
        f"translate(@{attr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')='{name}'"
        for name in names
        for attr in ("property", "name", "itemprop")
    )
    return _first(tree, f"//meta[{wanted}]/@content")


def _canonical(tree: Any, url: str) -> str:
    """The page's canonical URL: rel=canonical, else og:url, whichever first resolves to http(s)."""
    candidates = (
        _first(
            tree,
            "//link[contains(concat(' ', translate(normalize-space(@rel), 'CANONIL', 'canonil'), ' '),"
            " ' canonical ')]/@href",
        ),
        _meta(tree, "og:url"),
    )
    for candidate in candidates:
        resolved = canonical_url(url, candidate)
        if candidate and resolved.startswith(("http://", "https://")):
            return resolved
    return canonical_url(url)


def _paragraphs(text: str, title: str | None) -> str:
    # trafilatura's plain text puts each block on a line; the archive separates paragraphs by a blank line.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and title and lines[0].casefold() == title.strip().casefold():
        lines = lines[1:]
    return normalize_text("\n\n".join(lines))


def _looks_like_host(name: str, url: str) -> bool:
    # trafilatura falls back to the hostname when a page names no site: that is no outlet name.
    lowered = name.lower().removeprefix("www.")
    return " " not in lowered and "." in lowered and lowered in url.lower()


def extract_html(html: str, url: str, *, origin: str | None = None) -> ArticleRecord:
    """The article in a web page: main text without navigation, ads or comments, and its metadata.

    Args:
        html: the page.
        url: where the page came from (its URL, or a ``file://`` URI); relative canonical links resolve
            against it.
        origin: what to name in errors and in ``ArticleRecord.origin`` (defaults to ``url``).

    Returns:
        The article: canonical URL (``rel=canonical`` or ``og:url`` when http(s)), title, text with
        paragraphs separated by blank lines, UTC date (``article:published_time`` when present, else the date
        trafilatura finds), author, outlet (site name, else the registered domain, else "local file").

    Raises:
        SourceError: the page holds no article text.
    """
    origin = origin or url
    tree = load_html(html) if html.strip() else None
    if tree is None:
        raise SourceError(origin, "empty HTML page")
    try:
        doc = trafilatura.bare_extraction(
            tree,
            url=url if url.startswith(("http://", "https://")) else None,
            with_metadata=True,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=False,
        )
    except Exception as exc:  # trafilatura is a heuristic parser over untrusted HTML: never a traceback
        raise SourceError(origin, f"could not extract the page ({type(exc).__name__})") from None
    title = (getattr(doc, "title", None) or _meta(tree, "og:title") or "").strip() or None
    text = _paragraphs(getattr(doc, "text", None) or "", title)
    if len(text) < MIN_ARTICLE_CHARS:
        raise SourceError(origin, "no article text found")

    page_url = canonical_url(url)
    final_url = _canonical(tree, url)
    published = parse_published(_meta(tree, *_PUBLISHED_META)) or _date_from(getattr(doc, "date", None))
    sitename = (getattr(doc, "sitename", None) or "").strip()
    if not sitename or _looks_like_host(sitename, final_url):
        sitename = _meta(tree, "og:site_name") or outlet_name(final_url) or "local file"
    if not title:
        title = text.split("\n", 1)[0][:120]
    return ArticleRecord(
        url=final_url,
        title=normalize_text(title),
        text=text,
        published=published,
        source=sitename,
        author=(getattr(doc, "author", None) or _meta(tree, "author") or None),
        origin=origin,
        alt_urls=(page_url,) if page_url != final_url else (),
    )


def _date_from(value: str | None) -> datetime | None:
    if value and _DATE_ONLY.match(value.strip()):
        return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
    return parse_published(value)
