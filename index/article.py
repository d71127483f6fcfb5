"""What a source yields and what the archive stores: an article with its canonical URL, outlet and UTC date."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

_WS = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n+")


@dataclass(frozen=True)
class ArticleRecord:
    """One article as a source delivered it, before it is stored.

    Attributes:
        url: canonical URL (tracking parameters and fragment dropped); a ``file://`` URI for local files
            without one.
        title: headline.
        text: main text, paragraphs separated by blank lines.
        published: publication time, timezone-aware UTC, or None when the source gave none.
        source: outlet name ("Reuters", "usatoday.com").
        author: byline when known.
        origin: where it came from (a path, a feed URL), for messages.
        alt_urls: other URLs the same article is known under.
    """

    url: str
    title: str
    text: str
    published: datetime | None
    source: str
    author: str | None = None
    origin: str = ""
    alt_urls: tuple[str, ...] = field(default_factory=tuple)

    @property
    def article_id(self) -> str:
        return article_id(self.url)


def article_id(url: str) -> str:
    """The stable id of an article: sha1 of its canonical URL (the convention of the rtqa-2024 data)."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def normalize_text(text: str) -> str:
    """Unicode NFC, unified line ends, runs of spaces folded, paragraphs separated by exactly one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_WS.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return _BLANKS.sub("\n\n", text).strip()


def content_hash(text: str) -> str:
    """Hash of the text with case and white space folded: the same story under two URLs has the same hash."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A marker in a stream of records: everything before it must be committed before the source goes on.

    Feed polling yields one after each feed's entries, and records the feed's new ETag only when the consumer
    asks for the next item, so a crash never leaves a feed marked as read with entries lost.
    """
