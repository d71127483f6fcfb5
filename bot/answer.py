"""The answer engine: question -> time window and search -> evidence test -> extractive or LLM answer -> verified.

One entry point for every caller (CLI, Telegram, evaluation): ``AnswerEngine.answer`` returns an ``Answer``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.answer_types import Answer, Citation, UsedPassage
from bot.extractive import Sentence, candidate_sentences, choose, idf_from_counts, stem
from bot.settings import Settings
from bot.verify import claims, markers, quotes, renumber, verify
from index.archive import Archive
from index.search import STOPWORDS, Hit, Searcher, SearchFilters, fts_query, query_terms, with_window
from index.timewin import Window, parse_window, strip_window

if TYPE_CHECKING:
    from bot.llm import ChatLLM, Numbered

log = logging.getLogger(__name__)
_WORDS = re.compile(r"[\w'’-]+")
_MARKERS = re.compile(r"\s*\[\d{1,3}\]")

#: The fixed phrase every abstention starts with: tests and the LLM prompt use it.
NO_ANSWER = "I have nothing on that in the archive"

# The evidence test, calibrated on the whole rtqa-2024 corpus (dev questions vs. the null set, BENCHMARKS.md):
# score = best cosine of the top 3 passages + best IDF-weighted share of the question's words in a top-5 passage.
# (The share of the question's rarest words, also measured, added nothing on the whole corpus.)
MIN_EVIDENCE = 0.99
WEIGHTS_TTL = 600.0  # seconds between refreshes of the word weights
_CONNECTIVE = re.compile(r"^(?:and|but|so|also|what about|how about|what else|more|tell me more)\b", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(?:he|she|they|them|it|its|his|her|their|those|these)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """A previous question of the same chat and the answer it got."""

    question: str
    answer: str = ""


@dataclass
class Evidence:
    """Why the engine answered or abstained."""

    similarity: float = 0.0
    coverage: float = 0.0  # best IDF-weighted share of the question's words in one passage
    rare: float = 0.0  # best share of the question's three rarest words in one passage
    window: Window | None = None
    as_of: datetime | None = None  # the archive as it was then (a past ``today``): later articles did not exist
    query: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.similarity + self.coverage

    @property
    def strong(self) -> bool:
        return self.score >= MIN_EVIDENCE


def publication_window(question: str, now: datetime) -> Window | None:
    """The question's time window, when it names when the news was published.

    A single named day ("on April 8", "on Monday", "March 3, 2024") names when something happens, not when it
    was reported: articles about it come out before and after, so it is no filter. "today" and "yesterday" are.
    """
    window = parse_window(question, now)
    if window is None:
        return None
    if window.end - window.start <= timedelta(days=1) and window.label not in ("today", "yesterday"):
        return None
    return window


#: Words of a request for the news in general ("what happened this week?", "what's new?", "any headlines
#: today?"): a question made of these, stopwords and a time window asks for a briefing, not a search.
BRIEFING_WORDS = frozenset(
    [
        "what", "what's", "whats", "new", "news", "latest", "happened", "happening", "happens", "going", "on",
        "tell", "me", "give", "show", "us", "i", "we", "briefing", "brief", "update", "updates", "headline",
        "headlines", "story", "stories", "top", "main", "today's", "summary", "summarise", "summarize", "digest",
        "anything", "everything", "interesting", "important", "big", "biggest", "key", "please", "missed", "miss",
        "catch", "up", "there", "been",
    ]
)  # fmt: skip


_NEWS_CUES = frozenset(
    ["news", "new", "latest", "happened", "happening", "headline", "headlines", "stories", "story", "briefing",
     "brief", "update", "updates", "digest", "summary", "summarise", "summarize", "going", "missed", "miss"]
)  # fmt: skip


def briefing_request(question: str, now: datetime) -> str | None:
    """For a question that asks for the news of a period as a whole ("what happened this week?"), the words that
    name the period ("this week"; "" when it names none); None for a question about something."""
    if _CONNECTIVE.search(question.strip()):
        return None  # "and what about today?" follows up on the last question
    window = parse_window(question, now)
    rest = strip_window(question, window)
    words = [w for w in (w.lower().strip("'’-").replace("’", "'") for w in _WORDS.findall(rest)) if w]
    if not all(w in BRIEFING_WORDS or w in STOPWORDS for w in words) or _PRONOUN.search(rest):
        return None  # about something, or a follow-up ("what did she say?")
    if window is None and not any(w in _NEWS_CUES for w in words):
        return None
    return window.matched if window else ""


def standalone_query(question: str, history: Sequence[Turn]) -> str:
    """The question made self-contained: a follow-up ("and what did Ukraine say?") borrows the content words of
    the previous question that it lacks."""
    if not history:
        return question
    item = _ordinal_item(question, history)
    if item is not None:
        # "tell me more about the second story", after a briefing: the words of that story.
        return f"{question} {' '.join(query_terms(_MARKERS.sub('', item))[:12])}".strip()
    terms = query_terms(question)
    # "and what did Ukraine say?" or "what did he announce?" lean on the previous turn; a question with words
    # enough of its own ("is there a new vaccine for RSV?") does not.
    follow_up = bool(_CONNECTIVE.search(question.strip())) and len(terms) <= 6
    follow_up = follow_up or (bool(_PRONOUN.search(question)) and len(terms) <= 2)
    if not follow_up:
        return question
    previous = [t for t in query_terms(history[-1].question) if t not in terms]
    return f"{question} {' '.join(previous)}".strip()


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8}
_ORDINAL_REF = re.compile(
    r"\b(?:the\s+)?(?P<word>first|second|third|fourth|fifth|sixth|seventh|eighth|last|(?P<nth>[1-8])(?:st|nd|rd|th))"
    r"\s+(?:story|one|item|headline)\b|\b(?:story|item|number|no\.)\s*#?(?P<n>[1-8])\b|#(?P<hash>[1-8])\b",
    re.IGNORECASE,
)


def _ordinal_item(question: str, history: Sequence[Turn]) -> str | None:
    """The item of the chat's latest list answer (one story a line, as briefings give them) that ``question``
    points at by its place ("the second story", "story 3", "#2", "the last one"); None when it points at none."""
    m = _ORDINAL_REF.search(question)
    if not m:
        return None
    lists = ([line for line in t.answer.splitlines() if line.strip()] for t in reversed(history[-3:]))
    items = next((lines for lines in lists if len(lines) >= 2), [])
    if not items:
        return None
    word = (m["word"] or "").lower()
    if word == "last":
        return items[-1]
    place = int(m["nth"] or m["n"] or m["hash"] or 0) or _ORDINALS.get(word, 0)
    return items[place - 1] if 1 <= place <= len(items) else None


class AnswerEngine:
    """Answers questions from one archive, extractively or with an LLM when one is configured."""

    def __init__(self, archive: Archive, settings: Settings, *, llm: ChatLLM | None = None) -> None:
        self.archive = archive
        self.settings = settings
        self.searcher = Searcher(archive)
        self.llm = llm
        self._refresh_weights()

    def _refresh_weights(self) -> None:
        """Word weights (IDF) from the archive as it is now; refreshed every few minutes as articles come in."""
        self._weights_at = time.monotonic()
        self._df = lru_cache(maxsize=4096)(self._document_frequency)
        self.idf = idf_from_counts(self._df, max(1, self.archive.catalog.counts()[1]))

    def _document_frequency(self, term: str) -> int:
        match = fts_query(term)
        if match is None:
            return 0
        row = self.archive.catalog.db.execute(
            "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?", (match,)
        ).fetchone()
        return int(row[0])

    # -- retrieval ----------------------------------------------------------------------------------------------
    def retrieve(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        today: date | datetime | None = None,
        filters: SearchFilters | None = None,
        k: int | None = None,
        mode: str = "hybrid",
    ) -> tuple[list[Hit], Evidence]:
        """The passages for ``question`` (with its time window applied) and the evidence measures."""
        now = _as_datetime(today) if today else datetime.now(UTC)
        query = standalone_query(question, history)
        window = publication_window(query, now)
        filters = filters or SearchFilters()
        if window is not None:
            filters = with_window(filters, window.start, window.end)
            query = strip_window(query, window) or query
        if today is not None:
            # "As of" a past date (evaluation, replays): what was published after it did not exist yet.
            filters = with_window(filters, None, _end_of_day(now), undated=True)
        result = self.searcher.search(
            query,
            k=k or self.settings.answer_k,
            filters=filters,
            mode=mode,  # type: ignore[arg-type]
            recency=0.1,
            now=now,
        )
        as_of = _end_of_day(now) if today is not None else None
        evidence = Evidence(window=window, as_of=as_of, query=query, timings=dict(result.timings))
        if result.hits:
            evidence.similarity = max(h.similarity for h in result.hits[:3])
            evidence.coverage, evidence.rare = _passage_coverage(query, result.hits[:5], self.idf)
        return result.hits, evidence

    # -- answers --------------------------------------------------------------------------------------------------
    def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        today: date | datetime | None = None,
        filters: SearchFilters | None = None,
        k: int | None = None,
    ) -> Answer:
        """Answer ``question`` from the archive, or abstain when the evidence is weak.

        Args:
            question: what the user asked.
            history: the chat's previous turns, oldest first, for follow-up questions.
            today: the reference date for "today", "this week" (default: now).
            filters: outlet and date restrictions on top of the question's own window.
            k: passages to retrieve (default ``settings.answer_k``).

        Returns:
            The answer; ``abstained`` is set when the archive has nothing on it. With an LLM configured, its
            answer is verified and any failure falls back to the extractive answer.
        """
        prepared = self.prepare(question, history=history, today=today, filters=filters, k=k)
        if prepared.final is not None or self.llm is None:
            return prepared.final or prepared.extractive
        return asyncio.run(self._finish_in_own_loop(prepared))

    async def _finish_in_own_loop(self, prepared: Prepared) -> Answer:
        """For sync callers: the LLM's client lives and dies with this call's event loop."""
        assert self.llm is not None
        try:
            return await self.finish_with_llm(prepared)
        finally:
            await self.llm.aclose()

    async def condensed(self, question: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """With an LLM and a history, the model rewrites a follow-up as a standalone question (the history is then
        spent); without one, or when the model fails, ``standalone_query``'s heuristic applies later."""
        history: Sequence[Turn] = kwargs.get("history") or ()
        if self.llm is None or not history:
            return question, kwargs
        from bot.llm import LLMError

        try:
            rewritten = await self.llm.condense(question, [(t.question, t.answer) for t in history])
        except LLMError as exc:
            log.info("condensing the follow-up failed, using the heuristic: %s", exc)
            return question, kwargs
        rewritten = " ".join(rewritten.split())[: self.settings.max_question_chars]
        return (rewritten or question), {**kwargs, "history": ()}

    async def answer_async(self, question: str, **kwargs: Any) -> Answer:
        """``answer`` for async callers: retrieval runs in a worker thread, the LLM call on the loop."""
        question, kwargs = await self.condensed(question, kwargs)
        prepared = await asyncio.to_thread(self.prepare, question, **kwargs)
        if prepared.final is not None or self.llm is None:
            return prepared.final or prepared.extractive
        return await self.finish_with_llm(prepared)

    async def stream(self, question: str, **kwargs: Any) -> AsyncIterator[str | Answer]:
        """The answer as it grows: partial texts (LLM mode only), then the final verified ``Answer``."""
        question, kwargs = await self.condensed(question, kwargs)
        prepared = await asyncio.to_thread(self.prepare, question, **kwargs)
        if prepared.final is not None or self.llm is None:
            yield prepared.final or prepared.extractive
            return
        from bot.llm import LLMError

        text, shown = "", ""
        try:
            async for text in self.llm.stream(prepared.messages):
                # Show only what already verifies: whole claims with valid citations and verbatim quotes.
                partial = self._verified_so_far(prepared, text)
                if partial and partial != shown:
                    shown = partial
                    yield partial
        except LLMError as exc:
            log.warning("LLM failed, answering extractively: %s", exc)
            yield prepared.extractive
            return
        yield self._from_llm_text(prepared, text)

    def prepare(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        today: date | datetime | None = None,
        filters: SearchFilters | None = None,
        k: int | None = None,
    ) -> Prepared:
        """Retrieval, the evidence test and the extractive answer; the LLM (if any) comes after."""
        if time.monotonic() - self._weights_at > WEIGHTS_TTL:
            self._refresh_weights()
        hits, evidence = self.retrieve(question, history=history, today=today, filters=filters, k=k)
        used = [UsedPassage(h.passage_id, h.article_id, h.text, h.score) for h in hits]
        texts = {aid: a.text for aid, a in self.archive.catalog.articles(h.article_id for h in hits).items()}
        chosen = choose(candidate_sentences(evidence.query, hits, self.idf, texts), hits)
        if not hits or not chosen or not evidence.strong:
            log.info(
                "abstain: evidence %.3f (sim=%.3f cov=%.3f rare=%.3f) window=%s",
                evidence.score,
                evidence.similarity,
                evidence.coverage,
                evidence.rare,
                evidence.window.label if evidence.window else None,
            )
            final = Answer(question, self.abstention(evidence.window, as_of=evidence.as_of), [], True, used)
            return Prepared(question, hits, evidence, final, final, [], None)
        extractive = self._extractive(question, hits, chosen, used, texts)
        messages: list[dict[str, str]] = []
        numbered = None
        if self.llm is not None:
            from bot.llm import number_passages

            numbered = number_passages(hits, self.settings.llm_context_tokens)
            messages = self.llm.messages(question, numbered)
        return Prepared(question, hits, evidence, None, extractive, messages, numbered)

    async def finish_with_llm(self, prepared: Prepared) -> Answer:
        """The LLM's answer to a prepared question, verified; the extractive answer when the model fails."""
        from bot.llm import LLMError

        assert self.llm is not None
        try:
            text = await self.llm.complete(prepared.messages)
        except LLMError as exc:
            log.warning("LLM failed, answering extractively: %s", exc)
            return prepared.extractive
        return self._from_llm_text(prepared, text)

    def _verified_so_far(self, prepared: Prepared, text: str) -> str:
        numbered = prepared.numbered
        assert numbered is not None
        sources = {n: [h.text for h in numbered.hits[aid]] for n, aid in enumerate(numbered.order, start=1)}
        cut = text.rfind("]")  # text after the last marker (and its full stop) is a claim still being written
        if cut >= 0 and text[cut + 1 : cut + 2] in (".", "!", "?"):
            cut += 1
        checked = verify(text[: cut + 1] if cut >= 0 else "", sources)
        return renumber(checked.text, checked.cited)

    def _from_llm_text(self, prepared: Prepared, text: str) -> Answer:
        """Verify the model's answer against the passages it was given; fall back when nothing survives."""
        numbered = prepared.numbered
        assert numbered is not None
        used = prepared.extractive.passages
        if text.strip().startswith(NO_ANSWER):
            return Answer(
                prepared.question,
                self.abstention(prepared.evidence.window, as_of=prepared.evidence.as_of),
                [],
                True,
                used,
            )
        sources = {n: [h.text for h in numbered.hits[aid]] for n, aid in enumerate(numbered.order, start=1)}
        checked = verify(text, sources)
        if not checked.text:
            log.warning("LLM answer failed verification (%d sentences dropped)", len(checked.dropped))
            return prepared.extractive
        citations = []
        said: dict[int, list[str]] = {}
        for claim in (c for paragraph in checked.text.split("\n") for c in claims(paragraph)):
            for n in set(markers(claim)):
                said.setdefault(n, []).extend(quotes(claim))
        for n in checked.cited:
            first = numbered.hits[numbered.order[n - 1]][0]
            citations.append(Citation(n, first.article_id, first.title, first.url, first.source, first.published))
        text, final = _renumbered(checked.text, checked.cited, citations, said)
        return Answer(prepared.question, text, final, False, used)

    def _extractive(
        self, question: str, hits: list[Hit], chosen: list[Sentence], used: list[UsedPassage], texts: dict[str, str]
    ) -> Answer:
        numbers: dict[str, int] = {}
        citations: list[Citation] = []
        said: dict[int, list[str]] = {}
        parts: list[str] = []
        for s in chosen:
            hit = hits[s.hit_index]
            n = numbers.get(hit.article_id)
            if n is None:
                n = numbers[hit.article_id] = len(numbers) + 1
                citations.append(Citation(n, hit.article_id, hit.title, hit.url, hit.source, hit.published))
            # One line of prose: a quotation that ran over a paragraph break stays one claim.
            parts.append(f"{' '.join(s.text.split())} [{n}]")
        # Sentences are checked against the whole article: a quotation may run past the passage it was found in.
        sources = {n: [texts.get(aid) or h.text for h in hits if h.article_id == aid] for aid, n in numbers.items()}
        checked = verify(" ".join(parts), sources)
        for claim in claims(checked.text):
            for n in markers(claim):
                said.setdefault(n, []).append(_MARKERS.sub("", claim).strip())
        return Answer(question, *_renumbered(checked.text, checked.cited, citations, said), False, used)

    def briefing(
        self, question: str, *, today: date | datetime | None = None, tz_name: str = "UTC", topics: Sequence[str] = ()
    ) -> Answer | None:
        """For a question that asks for the news of a period as a whole ("what happened this week?"), that
        period's top stories as an answer: each story's summary, citing the article it is taken from. None for a
        question about something. An empty period gets the usual abstention, naming the period."""
        now = _as_datetime(today) if today else datetime.now(UTC)
        period = briefing_request(question, now)
        if period is None:
            return None
        from bot.digest import brief_window, compose_digest

        _, since, until, label = brief_window(period, now, tz_name)
        digest = compose_digest(
            self.archive, since=since, until=until, topics=topics, max_stories=self.settings.digest_max_stories
        )
        if digest.empty:
            window = Window(since, until, label, period, (0, 0))
            as_of = _end_of_day(now) if today is not None else None
            return Answer(question, self.abstention(window, as_of=as_of), [], True, [])
        lines: list[str] = []
        citations: list[Citation] = []
        for story in digest.stories:
            source = next((c for c in story.citations if c.title == story.headline), story.citations[0])
            n = len(citations) + 1
            citations.append(replace(source, n=n, quote=story.summary))
            others = (
                f" (also {', '.join(o for o in story.outlets if o != source.source)})" if len(story.outlets) > 1 else ""
            )
            lines.append(f"{story.summary} [{n}]{others}")
        return Answer(question, "\n".join(lines), citations, False, [])

    def abstention(self, window: Window | None = None, *, as_of: datetime | None = None) -> str:
        """The honest "nothing found" answer: what the archive holds and how recent it is (``as_of`` a past day:
        what it held then)."""
        articles, newest = self.archive.catalog.holdings(as_of)
        scope = ""
        if window:
            label = window.label
            if label.startswith(("past ", "last ")) and not label.startswith(("last week", "last month", "last year")):
                label = "the " + label  # "past 2 days" -> "for the past 2 days"
            scope = (
                f" {label}" if label.startswith(("since ", "before ", "after ", "from ", "until ")) else f" for {label}"
            )
        held = f"It holds {articles} articles" + (f", the newest from {newest.date().isoformat()}" if newest else "")
        return f"{NO_ANSWER}{scope}. {held}."


@dataclass
class Prepared:
    """What ``prepare`` found: the hits, the evidence, and either a final answer or what the LLM needs."""

    question: str
    hits: list[Hit]
    evidence: Evidence
    final: Answer | None  # set when there is nothing more to do (abstention)
    extractive: Answer
    messages: list[dict[str, str]]
    numbered: Numbered | None


def _renumbered(
    text: str, cited: list[int], citations: list[Citation], said: dict[int, list[str]]
) -> tuple[str, list[Citation]]:
    """Sources numbered 1..n in the order the text first cites them, each with the words quoted from it."""
    by_n = {c.n: c for c in citations}
    final = [replace(by_n[old], n=new, quote=" … ".join(said.get(old, []))) for new, old in enumerate(cited, start=1)]
    return renumber(text, cited), final


def _passage_coverage(query: str, hits: Sequence[Hit], idf: Callable[[str], float]) -> tuple[float, float]:
    """The best share of the query's words (IDF-weighted) in one passage, and of its three rarest words."""
    weights: dict[str, float] = {}
    for t in query_terms(query):
        weights[stem(t)] = max(weights.get(stem(t), 0.0), idf(t))
    if not weights:
        return 0.0, 0.0
    total = sum(weights.values())
    rare = sorted(weights, key=lambda t: -weights[t])[:3]
    best, best_rare = 0.0, 0.0
    for h in hits:
        words = {stem(w) for w in _WORDS.findall(f"{h.title} {h.text}")}
        best = max(best, sum(w for t, w in weights.items() if t in words) / total)
        best_rare = max(best_rare, sum(1 for t in rare if t in words) / len(rare))
    return best, best_rare


def _end_of_day(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=moment.tzinfo) + timedelta(days=1)


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=UTC)
