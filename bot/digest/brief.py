"""Briefings: the top stories of a period, on demand. ``/brief sanctions this week`` asks for one by command; a
question about the news as a whole ("what happened this week?", "any news today?", "what's new?") asks for one in
words (``briefing_request`` tells such a question from a question about something).

A briefing is a digest of the period (in the chat's time zone, its followed topics first), composed the same way
for Telegram, ``briefbot ask`` and ``chat``; only its rendering differs (``Briefing.as_answer`` for text and JSON,
``bot.digest.render`` for Telegram).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.answering import Answer, Citation
from bot.answering.followup import PRONOUN, is_follow_up
from bot.digest.compose import compose_digest_async
from bot.digest.stories import Digest
from bot.digest.summaries import SummaryModel
from bot.zones import zone
from index.archive import Archive
from index.terms import STOPWORDS, words
from index.timewin import parse_window, strip_window

#: Words of a request for the news in general ("what happened this week?", "what's new?", "any headlines
#: today?"): a question made of these, stopwords and a time window asks for a briefing, not a search.
BRIEFING_WORDS = frozenset(
    """
    what what's whats new news latest happened happening happens going on tell me give show us i we briefing brief
    update updates headline headlines story stories top main today's summary summarise summarize digest anything
    everything interesting important big biggest key please missed miss catch up there been
    """.split()
)
#: At least one of these must be there when no period is named ("what's new?" yes, "tell me everything" no).
_NEWS_CUES = frozenset(
    """
    news new latest happened happening headline headlines stories story briefing brief update updates digest summary
    summarise summarize going missed miss
    """.split()
)
LAST_DAY = "the last 24 hours"


def briefing_request(question: str, now: datetime) -> str | None:
    """For a question that asks for the news of a period as a whole ("what happened this week?"), the words that
    name the period ("this week"; "" when it names none); None for a question about something.

    A word in capitals is a name, not a filler: "What happened in the US this week?" asks about the US.
    """
    if is_follow_up(question):
        return None  # "and what about today?" follows up on the last question
    window = parse_window(question, now)
    rest = strip_window(question, window)
    shouting = question.upper() == question
    tokens = words(rest)
    if not shouting and any(len(w) > 1 and w.isupper() for w in tokens):
        return None  # "the US", "the EU", "NATO": about something
    lowered = [w.lower().replace("’", "'") for w in tokens]
    if not all(w in BRIEFING_WORDS or w in STOPWORDS for w in lowered) or PRONOUN.search(rest):
        return None  # about something, or a follow-up ("what did she say?")
    if window is None and not any(w in _NEWS_CUES for w in lowered):
        return None
    return window.matched if window else ""


def brief_window(text: str, now: datetime, tz_name: str) -> tuple[str, datetime, datetime, str]:
    """(topic, since, until, label) of "/brief sanctions this week": the window read from the text in the chat's
    zone, the rest as the topic; no window: the last 24 hours."""
    window = parse_window(text, now, zone(tz_name)) if text else None
    topic = strip_window(text, window).strip(" ?.!,;:") if text else ""
    if window is None:
        return topic, now - timedelta(hours=24), now, LAST_DAY
    return topic, window.start, max(window.end, window.start + timedelta(seconds=1)), window.label


@dataclass(frozen=True)
class Briefing:
    """The top stories of a period (and topic), and how to name them."""

    digest: Digest
    topic: str  # "" for all the news
    label: str  # the period in words: "this week", "the last 24 hours"

    @property
    def empty(self) -> bool:
        return self.digest.empty

    def as_answer(self, question: str) -> Answer:
        """The stories as an answer, one a line: each story's summary, citing the article it is taken from, and
        the other outlets that covered it. (A chat remembers this text, so "tell me more about the second story"
        can follow.)"""
        lines: list[str] = []
        citations: list[Citation] = []
        for story in self.digest.stories:
            source = next((c for c in story.citations if c.title == story.headline), story.citations[0])
            n = len(citations) + 1
            citations.append(replace(source, n=n, quote=story.summary))
            others = [o for o in story.outlets if o != source.source]
            lines.append(f"{story.summary} [{n}]" + (f" (also {', '.join(others)})" if others else ""))
        return Answer(question, "\n".join(lines), citations, False, [])


async def compose_briefing(
    archive: Archive,
    text: str,
    *,
    now: datetime,
    tz_name: str = "UTC",
    topics: Sequence[str] = (),
    max_stories: int = 8,
    llm: SummaryModel | None = None,
    timeout: float = 30.0,
    summary_tokens: int = 120,
) -> Briefing:
    """The briefing that ``text`` asks for ("sanctions this week", "this week", ""): its window read in the chat's
    zone (default: the last 24 hours), the rest as its topic, the chat's followed ``topics`` first."""
    topic, since, until, label = brief_window(text, now, tz_name)
    digest = await compose_digest_async(
        archive,
        since=since,
        until=until,
        topics=topics,
        topic=topic or None,
        max_stories=max_stories,
        llm=llm,
        timeout=timeout,
        max_tokens=summary_tokens,
    )
    return Briefing(digest, topic, label)
