"""The answer engine: question -> time window and search -> evidence test -> extractive or LLM answer -> verified.

One path for every caller. ``AnswerEngine.stream`` is the core: the follow-up made standalone (by the LLM when
one is configured), retrieval and the evidence test in a worker thread, then the extractive answer or the LLM's,
verified, with the verified part of a growing LLM answer yielded as it comes. ``answer`` is the same steps
without the partial texts, and ``answer_sync`` runs ``answer`` for callers without an event loop (the CLI,
evaluation). Telegram, ``briefbot ask``, ``chat`` and ``eval`` all come through here (``bot.ask`` above decides
first whether a question asks for a briefing instead).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from bot.answering.evidence import RELATED_NAMES, measure
from bot.answering.extractive import Sentence, candidate_sentences, choose
from bot.answering.followup import rewrite_problem, standalone_query
from bot.answering.llm import ChatLLM, LLMError, Numbered, number_passages
from bot.answering.questions import asked
from bot.answering.types import NO_ANSWER, RELATED, Answer, Citation, Evidence, QuestionContext, UsedPassage
from bot.answering.verify import claims, markers, quotes, renumber, verify
from bot.settings import Settings
from index.archive import Archive
from index.search import Hit, Mode, Searcher, SearchFilters, WordWeights, with_window
from index.timewin import Window, parse_window, strip_window

log = logging.getLogger(__name__)
_MARKERS = re.compile(r"\s*\[\d{1,3}\]")

WEIGHTS_TTL = 600.0  # seconds between refreshes of the word weights
RELATED_ITEMS = 2  # the closest items a "related coverage" reply cites
#: The recency prior: a passage of an article published today scores this much more than an old one's (it fades
#: over a month), so among passages of like relevance the newer story wins (bench/fusion_ablation.py).
RECENCY = 0.3


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


@dataclass
class Prepared:
    """What ``prepare`` found: the hits, the evidence, and either a final answer or what the LLM needs."""

    question: str
    hits: list[Hit]
    evidence: Evidence
    final: Answer | None  # set when there is nothing more to do (an abstention)
    extractive: Answer
    messages: list[dict[str, str]]
    numbered: Numbered | None


class AnswerEngine:
    """Answers questions from one archive, extractively or with an LLM when one is configured."""

    def __init__(self, archive: Archive, settings: Settings, *, llm: ChatLLM | None = None) -> None:
        self.archive = archive
        self.settings = settings
        self.searcher = Searcher(archive)
        self.llm = llm
        self.idf = WordWeights(archive, ttl=WEIGHTS_TTL)

    # -- retrieval ----------------------------------------------------------------------------------------------
    def retrieve(
        self, question: str, context: QuestionContext | None = None, *, mode: Mode = "hybrid"
    ) -> tuple[list[Hit], Evidence]:
        """The passages for ``question`` (with its time window applied) and the evidence measures."""
        context = context or QuestionContext()
        today = context.today
        now = as_datetime(today) if today else datetime.now(UTC)
        query = standalone_query(question, context.history)
        window = publication_window(query, now)
        filters = context.filters or SearchFilters()
        if window is not None:
            filters = with_window(filters, window.start, window.end)
            query = strip_window(query, window) or query
        if today is not None:
            # "As of" a past date (evaluation, replays): what was published after it did not exist yet.
            filters = with_window(filters, None, end_of_day(now), undated=True)
        k = context.k or self.settings.answer_k
        result = self.searcher.search(query, k=k, filters=filters, mode=mode, recency=RECENCY, now=now)
        as_of = end_of_day(now) if today is not None else None
        evidence = Evidence(window=window, as_of=as_of, query=query, timings=dict(result.timings))
        return result.hits, evidence

    # -- the one path ---------------------------------------------------------------------------------------------
    async def stream(self, question: str, context: QuestionContext | None = None) -> AsyncIterator[str | Answer]:
        """The answer as it grows: the verified part of an LLM answer as it is written, then the final ``Answer``.

        Args:
            question: what the user asked.
            context: the chat's history, the reference day, filters, how many passages.

        Yields:
            Partial texts (LLM mode only: whole claims with valid citations and verbatim quotes), then the final
            answer, always last. An LLM failure falls back to the extractive answer (``fallback_reason`` says
            why); an archive with nothing on the question gives an abstention.
        """
        async for item in self._steps(question, context or QuestionContext(), partials=True):
            yield item

    async def answer(self, question: str, context: QuestionContext | None = None) -> Answer:
        """``stream``'s final answer."""
        final: Answer | None = None
        async for item in self._steps(question, context or QuestionContext(), partials=False):
            if isinstance(item, Answer):
                final = item
        assert final is not None, "the answer steps always end with an Answer"
        return final

    def answer_sync(self, question: str, context: QuestionContext | None = None) -> Answer:
        """``answer`` for callers without an event loop (the CLI, evaluation). The LLM client lives and dies with
        this call's event loop."""

        async def run() -> Answer:
            try:
                return await self.answer(question, context)
            finally:
                if self.llm is not None:
                    await self.llm.aclose()

        return asyncio.run(run())

    async def _steps(self, question: str, context: QuestionContext, *, partials: bool) -> AsyncIterator[str | Answer]:
        question, context = await self._condensed(question, context)
        prepared = await asyncio.to_thread(self.prepare, question, context)
        if prepared.final is not None or self.llm is None:
            yield prepared.final or prepared.extractive
            return
        text, shown, finish = "", "", None
        try:
            async for chunk in self.llm.stream(prepared.messages):
                text, finish = chunk.text, chunk.finish_reason
                if partials:
                    partial = self._verified_so_far(prepared, text)
                    if partial and partial != shown:
                        shown = partial
                        yield partial
        except LLMError as exc:
            # Past the deadline the verified part of what was written stands; with nothing verified (or an
            # endpoint that failed), the extractive answer.
            answer = self._from_llm_text(prepared, exc.partial, cut=str(exc)) if exc.partial else None
            if answer is None or answer.reader != "llm" or answer.abstained:
                log.warning("LLM failed, answering extractively: %s", exc)
                answer = replace(prepared.extractive, fallback_reason=str(exc))
            yield answer
            return
        cut = f"the model's answer was cut at {self.settings.llm_max_tokens} tokens" if finish == "length" else None
        yield self._from_llm_text(prepared, text, cut=cut)

    async def _condensed(self, question: str, context: QuestionContext) -> tuple[str, QuestionContext]:
        """With an LLM and a history, the model rewrites a follow-up as a standalone question (the history is then
        spent); without one, or when the model fails or its rewrite is no question (``rewrite_problem``),
        ``standalone_query``'s heuristic applies in ``retrieve``."""
        if self.llm is None or not context.history:
            return question, context
        try:
            rewritten = await self.llm.condense(question, [(t.question, t.answer) for t in context.history])
        except LLMError as exc:
            log.info("condensing the follow-up failed, using the heuristic: %s", exc)
            return question, context
        rewritten = " ".join(rewritten.split())
        problem = rewrite_problem(rewritten, question, context.history, self.settings.max_question_chars)
        if problem is not None:
            log.info("the model's rewrite of %r rejected (%s): using the heuristic", question, problem)
            return question, context
        return rewritten, replace(context, history=())

    def prepare(self, question: str, context: QuestionContext | None = None) -> Prepared:
        """Retrieval, the evidence test and the extractive answer; the LLM (if any) comes after. Blocking."""
        hits, evidence = self.retrieve(question, context)  # (retrieve reads a missing context as an empty one)
        used = [UsedPassage(h.passage_id, h.article_id, h.title, h.text, h.score) for h in hits]
        texts = {aid: a.text for aid, a in self.archive.catalog.articles(h.article_id for h in hits).items()}
        chosen = choose(candidate_sentences(evidence.query, hits, self.idf, texts), hits)
        features = measure(evidence.query, asked(evidence.query), hits, chosen[0].text if chosen else None, self.idf)
        evidence.features, evidence.score = features.as_dict(), features.score()
        if features.preview:
            # Only a preview of what was asked about ("will face" for "who won"): related coverage, no answer.
            evidence.score = min(evidence.score, -1.0)
        evidence.related = bool(hits) and features.names >= RELATED_NAMES
        if not hits or not chosen or not evidence.strong:
            log.info(
                "abstain (%s): evidence %.3f %s window=%s",
                "related coverage" if evidence.related else "nothing",
                evidence.score,
                evidence.features,
                evidence.window.label if evidence.window else None,
            )
            final = self._abstention(question, hits, used, evidence)
            return Prepared(question, hits, evidence, final, final, [], None)
        extractive = self._extractive(question, hits, chosen, used, texts, evidence)
        messages: list[dict[str, str]] = []
        numbered = None
        if self.llm is not None:
            numbered = number_passages(hits, self.settings.llm_context_tokens)
            messages = self.llm.messages(question, numbered)
        return Prepared(question, hits, evidence, None, extractive, messages, numbered)

    # -- composing ------------------------------------------------------------------------------------------------
    def _verified_so_far(self, prepared: Prepared, text: str) -> str:
        numbered = prepared.numbered
        assert numbered is not None
        sources = {n: [h.text for h in numbered.hits[aid]] for n, aid in enumerate(numbered.order, start=1)}
        cut = text.rfind("]")  # text after the last marker (and its full stop) is a claim still being written
        if cut >= 0 and text[cut + 1 : cut + 2] in (".", "!", "?"):
            cut += 1
        checked = verify(
            text[: cut + 1] if cut >= 0 else "", sources, question=prepared.question, prompt=ChatLLM.answer_prompt()
        )
        return renumber(checked.text, checked.cited)

    def _from_llm_text(self, prepared: Prepared, text: str, *, cut: str | None = None) -> Answer:
        """Verify the model's answer against the passages it was given; fall back when nothing survives.

        ``cut``: why the text ended early (deadline, token cap); its verified claims are kept all the same, the
        unfinished claim after the last marker never is.
        """
        numbered = prepared.numbered
        assert numbered is not None
        used, evidence = prepared.extractive.passages, prepared.evidence
        if text.strip().startswith(NO_ANSWER):
            refusal = self.abstention(evidence.window, as_of=evidence.as_of)
            return Answer(prepared.question, refusal, [], True, used, reader="llm", evidence=evidence)
        sources = {n: [h.text for h in numbered.hits[aid]] for n, aid in enumerate(numbered.order, start=1)}
        checked = verify(text, sources, question=prepared.question, prompt=ChatLLM.answer_prompt())
        dropped = [(d.claim, d.reason) for d in checked.dropped]
        for claim, reason in dropped:
            log.info("LLM claim dropped (%s): %.200r", reason, claim)
        if cut:
            log.info("LLM answer ended early (%s): %d claims verified", cut, len(claims(checked.text)))
        if not checked.text:
            reason = "nothing in the model's answer could be verified" + (f" ({cut})" if cut else "")
            log.warning("LLM answer not used: %s (%d claims dropped)", reason, len(dropped))
            return replace(prepared.extractive, fallback_reason=reason, dropped=dropped)
        citations = []
        said: dict[int, list[str]] = {}
        for claim in (c for paragraph in checked.text.split("\n") for c in claims(paragraph)):
            for n in set(markers(claim)):
                said.setdefault(n, []).extend(quotes(claim))
        for n in checked.cited:
            first = numbered.hits[numbered.order[n - 1]][0]
            citations.append(Citation(n, first.article_id, first.title, first.url, first.source, first.published))
        text, final = _renumbered(checked.text, checked.cited, citations, said)
        return Answer(prepared.question, text, final, False, used, reader="llm", evidence=evidence, dropped=dropped)

    def _extractive(
        self,
        question: str,
        hits: list[Hit],
        chosen: list[Sentence],
        used: list[UsedPassage],
        texts: dict[str, str],
        evidence: Evidence,
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
        text, final = _renumbered(checked.text, checked.cited, citations, said)
        return Answer(question, text, final, False, used, evidence=evidence)

    def _abstention(self, question: str, hits: list[Hit], used: list[UsedPassage], evidence: Evidence) -> Answer:
        """No answer: the closest related coverage, cited, when the archive covers the question's subject; else
        the plain refusal."""
        if not evidence.related:
            text = self.abstention(evidence.window, as_of=evidence.as_of)
            return Answer(question, text, [], True, used, evidence=evidence)
        citations: list[Citation] = []
        for h in hits:
            if all(c.article_id != h.article_id for c in citations):
                n = len(citations) + 1
                citations.append(Citation(n, h.article_id, h.title, h.url, h.source, h.published))
            if len(citations) == RELATED_ITEMS:
                break
        items = "; ".join(f"“{' '.join(c.title.split())}” [{c.n}]" for c in citations)
        text = f"{RELATED}: {items}."
        return Answer(question, text, citations, True, used, related=True, evidence=evidence)

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


def _renumbered(
    text: str, cited: list[int], citations: list[Citation], said: dict[int, list[str]]
) -> tuple[str, list[Citation]]:
    """Sources numbered 1..n in the order the text first cites them, each with the words quoted from it."""
    by_n = {c.n: c for c in citations}
    final = [replace(by_n[old], n=new, quote=" … ".join(said.get(old, []))) for new, old in enumerate(cited, start=1)]
    return renumber(text, cited), final


def end_of_day(moment: datetime) -> datetime:
    """Midnight after ``moment``, in its time zone."""
    return datetime(moment.year, moment.month, moment.day, tzinfo=moment.tzinfo) + timedelta(days=1)


def as_datetime(value: date | datetime) -> datetime:
    """An aware datetime: a naive one read as UTC, a date as the end of that day in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=UTC)
