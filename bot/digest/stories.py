"""What a digest is made of: stories (the articles of one cluster, with a headline, a summary and a citation per
article) and the digest of a window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.answering import Citation


@dataclass(frozen=True)
class Story:
    """One story of a digest: the articles of one cluster.

    Attributes:
        headline: the title of the cluster's most representative article.
        summary: one or two sentences.
        outlets: distinct outlet names, in the order of their first article.
        citations: one per article, earliest first, numbered across the whole digest.
        topics: the chat's followed topics the story matched.
        latest: when its newest article appeared.
        score: the ranking score (outlets, then size, then recency).
    """

    headline: str
    summary: str
    outlets: tuple[str, ...]
    citations: tuple[Citation, ...]
    topics: tuple[str, ...] = ()
    latest: datetime | None = None
    score: float = 0.0
    leads: tuple[str, ...] = field(default=(), repr=False)  # each article's start, for the LLM prompt

    def as_json(self) -> dict[str, object]:
        return {
            "headline": self.headline,
            "summary": self.summary,
            "outlets": list(self.outlets),
            "citations": [c.as_json(with_quote=False) for c in self.citations],
        }


@dataclass(frozen=True)
class Digest:
    """The stories of ``[since, until)``, best first; ``stats`` says how they were found (not in the JSON)."""

    since: datetime
    until: datetime
    stories: tuple[Story, ...]
    topic: str | None = None
    stats: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.stories

    def as_json(self) -> dict[str, object]:
        """``{"since", "until", "stories": [{"headline", "summary", "outlets", "citations": [...]}]}``."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "stories": [s.as_json() for s in self.stories],
        }
