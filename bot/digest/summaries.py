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
    """A chat model: ``bot.llm.ChatLLM`` fits, and so does any fake with the same method."""

    async def complete(self, messages: list[dict[str, str]]) -> str:
        """The model's reply to ``messages`` (OpenAI chat format)."""
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


def _clean_summary(reply: str, max_chars: int) -> str | None:
    text = " ".join(reply.replace("**", "").split()).strip().strip('"“”')
    if not text or len(words(text)) < 5 or re.search(r"\[\d+\]|<[a-z/]", text):
        return None
    if len(text) > max_chars:
        spans = [text[:e] for _, e in split_sentences(text) if e <= max_chars]
        return spans[-1] if spans else None
    return text


async def summarize_stories(
    digest: Digest, llm: SummaryModel, *, timeout: float = 30.0, max_chars: int = SUMMARY_CHARS, concurrency: int = 4
) -> Digest:
    """The digest with each story's summary written by ``llm`` from its articles' leads.

    Args:
        digest: a composed digest (extractive summaries).
        llm: the chat model.
        timeout: seconds per story before its extractive summary stays.
        max_chars: the longest summary kept; a longer reply is cut at a sentence that fits.
        concurrency: requests in flight at once.

    Returns:
        A new digest. A story keeps its extractive summary when the model fails, times out, or replies with
        something other than plain sentences (markup, citation markers, fewer than five words).
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
                reply = await asyncio.wait_for(llm.complete(messages), timeout)
        except Exception as exc:  # any model failure falls back to the extractive summary
            log.warning("LLM summary failed for %r: %s", story.headline, exc)
            return story
        summary = _clean_summary(reply, max_chars)
        return replace(story, summary=summary) if summary else story

    stories = await asyncio.gather(*(one(s) for s in digest.stories))
    return replace(digest, stories=tuple(stories))
