"""The one result type every caller of the answer engine gets (Telegram, the CLI, evaluation), and its parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from bot.state import Turn
from index.search import SearchFilters
from index.timewin import Window

#: The fixed phrase every abstention starts with. The LLM prompt is filled in with it (``prompts/answer.txt``
#: holds ``{no_answer}``), tests and the fake model server read it from here.
NO_ANSWER = "I have nothing on that in the archive"

#: How a reply that has no answer but related coverage says so (it cites the closest items).
RELATED = "Nothing in the archive answers that directly; the closest coverage is"

#: Who wrote an answer's text: sentences copied from the articles, or a language model (verified).
Reader = Literal["extractive", "llm"]


@dataclass(frozen=True)
class QuestionContext:
    """Everything about a question besides its text.

    Attributes:
        history: the chat's previous turns, oldest first, for follow-up questions.
        today: the reference date for "today", "this week"; also "as of": what was published after it did not
            exist yet (evaluation, replays). None: now, and the whole archive.
        filters: outlet and date restrictions on top of the question's own window.
        k: passages to retrieve (None: ``settings.answer_k``).
    """

    history: Sequence[Turn] = ()
    today: date | datetime | None = None
    filters: SearchFilters | None = None
    k: int | None = None


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
    """A passage the answer was built from, as the index holds it."""

    passage_id: str
    article_id: str
    title: str
    text: str
    score: float


@dataclass
class Evidence:
    """Why the engine answered or abstained (``bot.answering.evidence``): its features and their score."""

    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the evidence score: at 0 or above, an answer
    related: bool = False  # not an answer, but the archive covers the question's subject
    window: Window | None = None  # the question's own time window
    as_of: datetime | None = None  # the archive as it was then (a past ``today``): later articles did not exist
    query: str = ""  # the question as searched (follow-ups made standalone, the window's words taken out)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def strong(self) -> bool:
        return self.score >= 0.0


@dataclass(frozen=True)
class Answer:
    """An answer: ``text`` carries ``[n]`` markers that refer to ``citations`` by ``n``.

    ``abstained`` is true when the archive had nothing that answers the question; ``text`` says so, and
    ``citations`` is empty unless the archive has related coverage (``related``): then it cites the closest
    items. ``reader`` says who wrote the text, ``fallback_reason`` why the LLM's answer was not used when one was
    configured, ``dropped`` which of the model's claims verification removed and why.
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    passages: list[UsedPassage] = field(default_factory=list)
    related: bool = False  # an abstention that cites the closest related coverage
    reader: Reader = "extractive"
    fallback_reason: str | None = None
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (claim, reason) verification removed
    evidence: Evidence | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, object]:
        """The shape of ``briefbot ask --json``."""
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "related": self.related,
            "reader": self.reader,
            "fallback_reason": self.fallback_reason,
            "dropped": [{"claim": claim, "reason": reason} for claim, reason in self.dropped],
            "citations": [c.as_json() for c in self.citations],
            "passages": [
                {"article_id": p.article_id, "text": p.text, "score": round(p.score, 6)} for p in self.passages
            ],
        }

    def as_text(self) -> str:
        """The answer for a terminal: its text, then the numbered sources with outlet, date, headline and link."""
        lines = [self.text]
        if self.citations:
            lines += ["", "Sources:"]
            for c in self.citations:
                day = c.published.date().isoformat() if c.published else "undated"
                lines.append(f"  [{c.n}] {c.source}, {day}: {c.title}")
                lines.append(f"      {c.url}")
        return "\n".join(lines)
