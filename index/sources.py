"""From source strings (paths, folders, URLs) to articles: one ``ArticleRecord`` per article, one ``SourceError``
per item that could not be read. A bad item never stops the others and never raises.

    source                       read as
    folder                       every supported file below it, recursively, in sorted order
    .txt .md                     first non-empty line the title, optional Date:/Source:/URL:/Author: lines
    .html .htm                   a web page, main text extracted with trafilatura
    .json .jsonl .json.gz ...    records {url, title, text, published, source}
    .xml .rss .atom .opml        an RSS/Atom feed or an OPML list of feeds (sniffed)
    http(s)://...                fetched; a feed when it is one, else a web page
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from index.article import ArticleRecord, normalize_text
from index.bounded import BoundedStream, read_file, too_big
from index.errors import SourceError
from index.extract import extract_html, parse_published
from index.feeds import looks_like_feed, looks_like_opml, read_feed, read_opml
from index.fetch import Fetcher, UndecodableError, decode_bytes
from index.settings import IndexSettings
from index.urls import canonical_url, outlet_name

log = logging.getLogger(__name__)

Item = ArticleRecord | SourceError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
JSON_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz"})
FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom", ".opml"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | FEED_SUFFIXES

LOCAL_SOURCE = "local file"
_HEADER = re.compile(r"^(date|published|source|url|author|by)\s*:\s*(.+)$", re.IGNORECASE)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml"})
_XML_TYPES = frozenset({"application/xml", "text/xml", "text/plain", "application/octet-stream", ""})
_OPML_TYPES = frozenset({"text/x-opml", "application/x-opml", "text/x-opml+xml"})


def read_sources(
    sources: Iterable[str], settings: IndexSettings, *, fetcher: Fetcher | None = None
) -> Iterator[ArticleRecord | SourceError]:
    """Every article in the given sources, in order, with one ``SourceError`` per item that failed.

    Args:
        sources: paths (files or folders) and http(s) URLs.
        settings: size limits and HTTP settings.
        fetcher: the HTTP fetcher to use; one is made (and closed at the end) when a URL needs it.

    Yields:
        An ``ArticleRecord`` per article, a ``SourceError`` naming the file, line, URL or feed entry per
        failure. Never raises for bad input.
    """
    reader = _Reader(settings, fetcher)
    try:
        for source in sources:
            yield from reader.source(source)
    finally:
        reader.close()


def suffix_of(path: Path) -> str:
    """The file type suffix, double for compressed files (".jsonl.gz")."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


class _Reader:
    def __init__(self, settings: IndexSettings, fetcher: Fetcher | None) -> None:
        self.settings = settings
        self._fetcher = fetcher
        self._own_fetcher: Fetcher | None = None

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = self._own_fetcher = Fetcher(self.settings)
        return self._fetcher

    def close(self) -> None:
        if self._own_fetcher is not None:
            self._own_fetcher.close()

    def source(self, source: str) -> Iterator[Item]:
        text = source.strip()
        scheme = text.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) else ""
        if scheme in ("http", "https"):
            yield from self.url(text)
            return
        if scheme == "file":
            text = unquote(urlsplit(text).path)
        elif scheme:
            yield SourceError(source, f"unsupported URL scheme {scheme}: only http and https can be fetched")
            return
        path = Path(text).expanduser()
        try:
            if path.is_dir():
                yield from self.folder(path)
            elif path.is_file():
                yield from self.file(path, explicit=True)
            elif path.exists():
                yield SourceError(source, "not a regular file or folder")
            else:
                yield SourceError(source, "no such file or folder")
        except OSError as exc:
            yield SourceError(source, f"cannot read: {exc.strerror or exc}")

    def folder(self, folder: Path) -> Iterator[Item]:
        files: list[Path] = []
        unreadable: list[SourceError] = []

        def denied(exc: OSError) -> None:  # os.walk skips what it cannot list: say so, as for a file
            unreadable.append(SourceError(exc.filename or str(folder), f"cannot read: {exc.strerror or exc}"))

        # Symbolic links to folders are not followed (no loops); hidden files and folders are skipped.
        for root, dirs, names in os.walk(folder, onerror=denied):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                path = Path(root, name)
                if not name.startswith(".") and suffix_of(path) in SUPPORTED_SUFFIXES and path.is_file():
                    files.append(path)
        yield from unreadable
        if not files and not unreadable:
            yield SourceError(str(folder), "folder holds no supported files (.txt .md .html .json .jsonl .xml)")
        for path in sorted(files):
            yield from self.file(path, explicit=False)

    def file(self, path: Path, *, explicit: bool) -> Iterator[Item]:
        name = str(path)
        suffix = suffix_of(path)
        try:
            if suffix in JSON_SUFFIXES:
                yield from self.json_file(path, suffix)
                return
            data = self._read_bytes(path)
            if suffix in HTML_SUFFIXES:
                yield extract_html(self._decode(name, data), path.resolve().as_uri(), origin=name)
            elif suffix in FEED_SUFFIXES:
                yield from self.xml_document(data, path.resolve().as_uri(), name)
            elif suffix in TEXT_SUFFIXES or explicit:
                yield from self.unknown_or_text(path, data, suffix)
        except SourceError as exc:
            yield exc
        except OSError as exc:
            yield SourceError(name, f"cannot read: {exc.strerror or exc}")

    def unknown_or_text(self, path: Path, data: bytes, suffix: str) -> Iterator[Item]:
        name = str(path)
        text = self._decode(name, data)
        if suffix not in TEXT_SUFFIXES:
            head = text.lstrip()[:1024].lower()
            if looks_like_feed(data) or looks_like_opml(data):
                yield from self.xml_document(data, path.resolve().as_uri(), name)
                return
            if head.startswith(("<!doctype html", "<html")):
                yield extract_html(text, path.resolve().as_uri(), origin=name)
                return
        yield text_article(text, path, markdown=suffix in (".md", ".markdown"))

    def xml_document(self, data: bytes, url: str, name: str) -> Iterator[Item]:
        if looks_like_opml(data):
            for _title, feed_url in read_opml(data, source=name):
                yield from self.url(feed_url, in_opml=True)
        else:
            yield from read_feed(data, url, self.fetcher, origin=name)

    def url(self, url: str, *, in_opml: bool = False) -> Iterator[Item]:
        try:
            result = self.fetcher.fetch(url)
            ctype = result.content_type
            if ctype in _OPML_TYPES or (ctype in _XML_TYPES and looks_like_opml(result.content)):
                if in_opml:  # an OPML list naming another (or itself) is not followed
                    yield SourceError(url, "an OPML list inside an OPML list is not followed")
                    return
                for _title, feed_url in read_opml(result.content, source=url):
                    yield from self.url(feed_url, in_opml=True)
            elif ctype in _FEED_TYPES or (ctype in _XML_TYPES and looks_like_feed(result.content)):
                yield from read_feed(result.content, result.url, self.fetcher, origin=url)
            elif ctype in _HTML_TYPES or (not ctype and result.text.lstrip()[:15].lower().startswith("<")):
                record = extract_html(result.text, result.url, origin=url)
                yield _with_alt_url(record, url)
            else:
                yield SourceError(url, f"unsupported content type {ctype or 'unknown'}")
        except SourceError as exc:
            yield exc

    def json_file(self, path: Path, suffix: str) -> Iterator[Item]:
        name = str(path)
        limit = self.settings.max_file_bytes
        if suffix.endswith(".gz"):
            self._check_gzip(path)
            stream = BoundedStream(gzip.open(path, "rb"), limit, name, uncompressed=True)  # noqa: SIM115
        else:
            self._check_size(path)
            stream = BoundedStream(path.open("rb"), limit, name)
        try:
            with stream:
                if suffix.startswith(".json") and not suffix.startswith(".jsonl"):
                    yield from self._json_document(stream.read(), name)
                    return
                empty = True
                for lineno, raw in enumerate(stream, start=1):
                    if not raw.strip():
                        continue
                    empty = False
                    yield _json_line(raw, name, lineno)
                if empty:
                    yield SourceError(name, "empty file")
        except SourceError as exc:
            yield exc
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            yield SourceError(name, f"corrupt gzip file ({exc or type(exc).__name__})")

    def _json_document(self, data: bytes, name: str) -> Iterator[Item]:
        if not data.strip():
            yield SourceError(name, "empty file")
            return
        try:
            value = json.loads(data)
        except UnicodeDecodeError:
            yield SourceError(name, "JSON must be UTF-8 text")
            return
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data" and data.lstrip().startswith(b"{"):
                # One object per line under a .json name: read it as JSON Lines.
                for lineno, raw in enumerate(data.splitlines(), start=1):
                    if raw.strip():
                        yield _json_line(raw, name, lineno)
            else:
                yield SourceError(f"{name}:{exc.lineno}", f"invalid JSON ({exc.msg})")
            return
        if isinstance(value, dict):
            yield _record(value, name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                where = f"{name}[{i}]"
                yield _record(item, where) if isinstance(item, dict) else SourceError(where, "not a JSON object")
        else:
            yield SourceError(name, "expected a JSON object or an array of objects")

    def _check_size(self, path: Path) -> None:
        size = path.stat().st_size
        if size > self.settings.max_file_bytes:
            raise SourceError(str(path), too_big(self.settings.max_file_bytes))

    def _check_gzip(self, path: Path) -> None:
        # A gzip file ends with its uncompressed size: refuse before reading when that is over the limit. Only a
        # shortcut: the size is modulo 2**32, of the last member only, and can be forged; the read counts.
        limit = self.settings.max_file_bytes
        size = path.stat().st_size
        with path.open("rb") as f:
            if f.read(2) != b"\x1f\x8b":
                raise SourceError(str(path), "not a gzip file")
            if size >= 18:
                f.seek(-4, 2)
                uncompressed = int.from_bytes(f.read(4), "little")
                # Deflate compresses at most ~1032:1: a larger claim is a truncated file's garbage, which the
                # streaming read reports as corrupt (and still stops at the limit).
                plausible = uncompressed <= size * 1032
                if (plausible and uncompressed > limit) or size > limit:
                    raise SourceError(str(path), too_big(limit, uncompressed=True))

    def _read_bytes(self, path: Path) -> bytes:
        data = read_file(path, self.settings.max_file_bytes)
        if not data.strip():
            raise SourceError(str(path), "empty file")
        return data

    @staticmethod
    def _decode(name: str, data: bytes) -> str:
        try:
            return decode_bytes(data)
        except UndecodableError as exc:
            raise SourceError(name, f"not a text file: {exc}") from None


def _json_line(raw: bytes, name: str, lineno: int) -> Item:
    where = f"{name}:{lineno}"
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        return SourceError(where, "line is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return SourceError(where, f"invalid JSON ({_json_problem(raw, exc, lineno)})")
    if not isinstance(value, dict):
        return SourceError(where, "not a JSON object")
    return _record(value, where)


def _json_problem(raw: bytes, exc: json.JSONDecodeError, lineno: int) -> str:
    """What is wrong with one JSON line: cut short (the record ends before it is complete) or malformed."""
    content = raw.rstrip(b"\r\n\t ")
    # json reports positions in characters; the line is UTF-8, so compare in characters too.
    length = len(content.decode("utf-8", errors="replace"))
    if exc.pos >= length or exc.msg.startswith("Unterminated string"):
        return f"line {lineno} is truncated: it ends before its record does"
    return f"line {lineno} is malformed: {exc.msg.rstrip(': ')} at column {exc.colno}"


def _record(value: Mapping[str, Any], where: str) -> Item:
    """An article from a JSON record ``{url, title, text, published, source, author}``; other keys ignored."""
    url = value.get("url")
    text = value.get("text")
    if not isinstance(url, str) or not url.strip():
        return SourceError(where, "record has no url")
    if not isinstance(text, str) or not text.strip():
        return SourceError(where, "record has no text")
    text = normalize_text(text)
    title = value.get("title")
    title = normalize_text(title) if isinstance(title, str) and title.strip() else text.split("\n", 1)[0][:120]
    canonical = canonical_url(url)
    source = value.get("source")
    author = value.get("author")
    return ArticleRecord(
        url=canonical,
        title=title,
        text=text,
        published=parse_published(value.get("published")),
        source=source.strip() if isinstance(source, str) and source.strip() else outlet_name(canonical) or "",
        author=author.strip() if isinstance(author, str) and author.strip() else None,
        origin=where,
        alt_urls=(url.strip(),) if url.strip() != canonical else (),
    )


def text_article(text: str, path: Path, *, markdown: bool = False) -> ArticleRecord:
    """An article from a text or Markdown file: first non-empty line the title, then optional header lines
    (``Date:``/``Published:``, ``Source:``, ``URL:``, ``Author:``/``By:``), then the text.

    Raises:
        SourceError: the file is empty or holds a title and nothing else.
    """
    name = str(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = _skip_front_matter(lines) if markdown else lines
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise SourceError(name, "empty file")
    title = lines.pop(0).strip()
    if markdown:
        title = title.lstrip("#").strip()
    headers: dict[str, str] = {}
    while lines:
        match = _HEADER.match(lines[0].strip())
        if match:
            headers[match.group(1).lower()] = match.group(2).strip()
            lines.pop(0)
        elif not lines[0].strip() and not headers:
            lines.pop(0)
        else:
            break
    body = "\n".join(lines)
    if "\n\n" not in body.strip():
        # No blank lines at all: each line is a paragraph.
        body = "\n\n".join(line for line in body.split("\n") if line.strip())
    body = normalize_text(body)
    if not body:
        raise SourceError(name, "no article text after the title")
    file_uri = path.resolve().as_uri()
    url = headers.get("url", "")
    url = canonical_url(url) if url.startswith(("http://", "https://")) else file_uri
    published = parse_published(headers.get("date") or headers.get("published"))
    return ArticleRecord(
        url=url,
        title=normalize_text(title) or path.stem,
        text=body,
        published=published,
        source=headers.get("source") or LOCAL_SOURCE,
        author=headers.get("author") or headers.get("by"),
        origin=name,
        alt_urls=(file_uri,) if url != file_uri else (),
    )


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for i, line in enumerate(lines[1:], start=1):
            if line.strip() in ("---", "..."):
                return lines[i + 1 :]
    return lines


def _with_alt_url(record: ArticleRecord, requested: str) -> ArticleRecord:
    requested = canonical_url(requested)
    if requested == record.url or requested in record.alt_urls:
        return record
    return replace(record, alt_urls=(*record.alt_urls, requested))
