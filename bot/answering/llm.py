"""LLM answers through any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM).

Configured by ``BRIEFBOT_LLM_MODEL`` with the openai client's own ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``.
Passages are numbered with outlet, date and title and fitted to a token budget counted with tiktoken. Errors
(timeout, 429, 5xx, refusals) raise ``LLMError`` so the caller falls back to the extractive answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import openai
from openai.types.chat import ChatCompletionMessageParam

import prompts
from bot.answering.types import NO_ANSWER
from bot.settings import Settings
from index.search import Hit
from index.tokens import count

log = logging.getLogger(__name__)


class LLMError(Exception):
    """The model could not answer (timeout, rate limit, server error, refusal, empty reply)."""


@dataclass(frozen=True)
class Numbered:
    """Passages grouped by article, each article numbered once: ``n -> hits``."""

    order: list[str]  # article ids in citation order
    hits: dict[str, list[Hit]]

    def number(self, article_id: str) -> int:
        return self.order.index(article_id) + 1


def number_passages(hits: Sequence[Hit], budget_tokens: int) -> Numbered:
    """Number the articles of ``hits`` in rank order and keep passages while they fit ``budget_tokens``."""
    order: list[str] = []
    grouped: dict[str, list[Hit]] = {}
    used = 0
    for h in hits:
        cost = count(h.text) + 30
        if used + cost > budget_tokens and order:
            continue
        used += cost
        if h.article_id not in grouped:
            order.append(h.article_id)
            grouped[h.article_id] = []
        grouped[h.article_id].append(h)
    return Numbered(order, grouped)


def context_block(numbered: Numbered) -> str:
    parts = []
    for n, aid in enumerate(numbered.order, start=1):
        first = numbered.hits[aid][0]
        day = first.published.date().isoformat() if first.published else "undated"
        body = "\n…\n".join(h.text for h in sorted(numbered.hits[aid], key=lambda h: h.start))
        parts.append(f"[{n}] {first.source}, {day}: {first.title}\n<passage>\n{body}\n</passage>")
    return "\n\n".join(parts)


class ChatLLM:
    """An OpenAI-compatible chat model."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_model:
            raise ValueError("no LLM model configured")
        self.model = settings.llm_model
        self.settings = settings
        self._client: openai.AsyncOpenAI | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The async client, made on first use: it belongs to the event loop that first uses it."""
        if self._client is None:
            self._client = openai.AsyncOpenAI(timeout=self.settings.llm_timeout, max_retries=1)
        return self._client

    async def aclose(self) -> None:
        """Close the client (a later call makes a new one, e.g. in another event loop)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def messages(self, question: str, numbered: Numbered) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": prompts.load("answer", no_answer=NO_ANSWER)},
            {"role": "user", "content": f"Passages:\n\n{context_block(numbered)}\n\nQuestion: {question}"},
        ]

    async def complete(self, messages: list[dict[str, str]]) -> str:
        try:
            resp = await self.client.chat.completions.create(
                model=self.model,
                messages=_wire(messages),
                temperature=0,
            )
        except openai.OpenAIError as exc:
            raise LLMError(f"{type(exc).__name__}: {exc}") from exc
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content or "").strip() if choice else ""
        refusal = getattr(choice.message, "refusal", None) if choice else None
        if refusal or not text or (choice and choice.finish_reason == "content_filter"):
            raise LLMError("the model refused or returned nothing")
        return text

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """The reply as it grows: each item is the whole text so far."""
        try:
            stream = await self.client.chat.completions.create(
                model=self.model,
                messages=_wire(messages),
                temperature=0,
                stream=True,
            )
            text = ""
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                    yield text
        except openai.OpenAIError as exc:
            raise LLMError(f"{type(exc).__name__}: {exc}") from exc

    async def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        turns = "\n".join(f"User: {q}\nAssistant: {a[:500]}" for q, a in history)
        messages = [
            {"role": "system", "content": prompts.load("condense")},
            {"role": "user", "content": f"{turns}\nUser: {question}"},
        ]
        return await self.complete(messages)


def _wire(messages: Sequence[Mapping[str, str]]) -> list[ChatCompletionMessageParam]:
    """Our ``{"role", "content"}`` messages as the openai client types them."""
    out: list[ChatCompletionMessageParam] = []
    for m in messages:
        if m["role"] == "system":
            out.append({"role": "system", "content": m["content"]})
        elif m["role"] == "assistant":
            out.append({"role": "assistant", "content": m["content"]})
        else:
            out.append({"role": "user", "content": m["content"]})
    return out


def make_llm(settings: Settings) -> ChatLLM | None:
    """The configured chat model, or None for extractive answers."""
    return ChatLLM(settings) if settings.llm_model else None
