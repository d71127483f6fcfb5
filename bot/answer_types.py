"""The one result type every caller of the answer engine gets: CLI, Telegram, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Citation:
    """Source number ``n`` of an answer: the article it points at and the words quoted from it."""

    n: int
    article_id: str
    title: str
    url: str
    source: str
    published: datetime | None
    quote: str = ""

    def as_json(self, *, with_quote: bool = True) -> dict[str, object]:
        """``{"n", "title", "url", "source", "published"[, "quote"]}``, the shape every JSON output uses."""
        out: dict[str, object] = {
            "n": self.n,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published": self.published.isoformat() if self.published else None,
        }
        if with_quote:
            out["quote"] = self.quote
        return out


@dataclass(frozen=True)
class UsedPassage:
    """A passage the answer was built from."""

    passage_id: str
    article_id: str
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    """An answer: ``text`` carries ``[n]`` markers that refer to ``citations`` by ``n``.

    ``abstained`` is true when the archive had nothing on the question; then ``citations`` is empty and ``text``
    says so.
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    passages: list[UsedPassage] = field(default_factory=list)
