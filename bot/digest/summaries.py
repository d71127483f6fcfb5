"""Story summaries: the lead sentences of the story's most representative article (extractive, always there), or,
with a chat model, one or two sentences the model writes from the story's articles, kept only when they pass the
checks below (else the extractive summary stays)."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from typing import Protocol

import prompts
from bot.answering.extractive import dateline_end
from bot.answering.verify import unsupported
from bot.digest.stories import Digest, Story
from index.sentences import split_sentences
from index.terms import words

log = logging.getLogger(__name__)

SUMMARY_CHARS = 350

_BYLINE = re.compile(
    r"^(?:by\s|updated\b|published\b|posted\b|photo\b|image\b|advertisement\b|listen\b|watch\b|read more\b)",
    re.IGNORECASE,
)


class SummaryModel(Protocol):
    """A chat model: ``bot.answering.ChatLLM`` fits, and so does any fake with the same method."""

    async def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int | None = None, timeout: float | None = None
    ) -> str:
        """The model's whole reply to ``messages`` (OpenAI chat format), within ``max_tokens`` and ``timeout``."""
        ...


def _strip_dateline(sentence: str) -> str:
    return sentence[dateline_end(sentence) :]


def _is_prose(sentence: str) -> bool:
    if len(words(sentence)) < 6 or _BYLINE.match(sentence):
        return False
    letters = [ch for ch in sentence if ch.isalpha()]
    return not letters or sum(ch.isupper() for ch in letters) < 0.6 * len(letters)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—–- ")
    return cut + "…"


def lead_summary(text: str, max_chars: int = SUMMARY_CHARS) -> str:
    """The first one or two sentences of an article's prose: datelines, bylines and headline lines skipped.

    Args:
        text: the article's text.
        max_chars: the longest summary. A second sentence is added when the first is short and both fit; a
            first sentence longer than this is cut at a word and ends with "…".

    Returns:
        The summary, white space folded (the text's start when it has no sentence of prose).
    """
    chosen: list[str] = []
    for begin, end in split_sentences(text[:4000]):
        sentence = " ".join(_strip_dateline(text[begin:end]).split())
        if not _is_prose(sentence):
            if chosen:
                break
            continue
        if not chosen:
            chosen.append(sentence)
            if len(sentence) >= max_chars // 2:
                break
        elif len(chosen[0]) + 1 + len(sentence) <= max_chars:
            chosen.append(sentence)
            break
        else:
            break
    if not chosen:  # no prose sentence: the text's start, folded
        return _shorten(" ".join(text.split()), max_chars)
    return _shorten(" ".join(chosen), max_chars)


def _summary_problem(reply: str, story: Story, max_chars: int) -> tuple[str | None, str]:
    """(why the model's summary is not used, or None; the summary cleaned): it must be plain sentences (no
    markup or citation markers, five words or more) that the story's articles support (``unsupported``: their
    names, numbers and most of their words are in the articles the model was given), and not the instructions."""
    text = " ".join(reply.replace("**", "").split()).strip().strip('"“”')
    if not text or len(words(text)) < 5:
        return "fewer than five words", text
    if re.search(r"\[\d+\]|<[a-z/]", text):
        return "markup or citation markers", text
    if len(text) > max_chars:
        spans = [text[:e] for _, e in split_sentences(text) if e <= max_chars]
        if not spans:
            return f"one sentence longer than {max_chars} characters", text
        text = spans[-1]
    reason = unsupported(text, story.leads, prompt=prompts.load("summary"))
    return reason, text


async def summarize_stories(
    digest: Digest,
    llm: SummaryModel,
    *,
    timeout: float = 30.0,
    max_tokens: int = 120,
    max_chars: int = SUMMARY_CHARS,
    concurrency: int = 4,
) -> Digest:
    """The digest with each story's summary written by ``llm`` from its articles' leads.

    Args:
        digest: a composed digest (extractive summaries).
        llm: the chat model.
        timeout: seconds per story before its extractive summary stays.
        max_tokens: the longest reply asked for.
        max_chars: the longest summary kept; a longer reply is cut at a sentence that fits.
        concurrency: requests in flight at once.

    Returns:
        A new digest. A story keeps its extractive summary when the model fails, times out, or replies with
        something the checks of ``_summary_problem`` reject; every rejection is logged with its reason.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(story: Story) -> Story:
        articles = "\n\n".join(f"[{k}] {lead}" for k, lead in enumerate(story.leads, 1))
        messages = [
            {"role": "system", "content": prompts.load("summary")},
            {"role": "user", "content": f"Headline: {story.headline}\n\nArticles:\n\n{articles}"},
        ]
        try:
            async with gate:
                call = llm.complete(messages, max_tokens=max_tokens, timeout=timeout)
                reply = await asyncio.wait_for(call, timeout + 1.0)
        except Exception as exc:  # any model failure falls back to the extractive summary
            reason = str(exc) or type(exc).__name__
            log.warning("LLM summary of %r failed (%s): the extractive one stays", story.headline, reason)
            return story
        problem, summary = _summary_problem(reply, story, max_chars)
        if problem is not None:
            log.warning("LLM summary of %r rejected (%s): the extractive one stays", story.headline, problem)
            return story
        return replace(story, summary=summary)

    stories = await asyncio.gather(*(one(s) for s in digest.stories))
    return replace(digest, stories=tuple(stories))
