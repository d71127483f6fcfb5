"""LLM answers through any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM).

Configured by ``BRIEFBOT_LLM_MODEL`` with the openai client's own ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (a
local server needs no key). Passages are numbered with outlet, date and title and fitted to a token budget
counted with tiktoken. Every call is streamed, capped at ``llm_max_tokens`` and bounded by one deadline
(``llm_timeout``) that covers retries too. Errors (deadline, 429, 5xx, context overflow, refusals) raise
``LLMError`` so the caller falls back to the extractive answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import openai
from openai import AsyncStream
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

import prompts
from bot.answering.types import NO_ANSWER
from bot.settings import Settings
from index.search import Hit
from index.tokens import count

log = logging.getLogger(__name__)


class LLMError(Exception):
    """The model could not answer (deadline, rate limit, server error, context overflow, refusal, empty reply).

    ``str(error)`` says why in words; ``partial`` is what the model had written by then (a stream cut at its
    deadline keeps its verified part).
    """

    def __init__(self, reason: str, *, partial: str = "") -> None:
        super().__init__(reason)
        self.partial = partial


#: The key sent to a local server when OPENAI_BASE_URL is set and OPENAI_API_KEY is not.
LOCAL_SERVER_KEY = "no-key-needed"
#: A rewritten follow-up is one question: a longer reply is not one.
REWRITE_MAX_TOKENS = 96


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


@dataclass(frozen=True)
class Chunk:
    """The reply so far (``text``), and on the last chunk why the model stopped ("stop", "length", ...)."""

    text: str
    finish_reason: str | None = None


class ChatLLM:
    """An OpenAI-compatible chat model, every call bounded in time and tokens.

    ``timeout`` is the whole wait of one call, first byte to last token, retries included: the client itself
    never retries (its retries would each get the full timeout again), ``settings.llm_max_retries`` retries of a
    rate limit, server error or lost connection happen inside the same deadline.
    """

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
            base_url = os.environ.get("OPENAI_BASE_URL")
            key = os.environ.get("OPENAI_API_KEY")
            if not key and base_url:
                # A local server (llama.cpp, Ollama, vLLM) needs no key, but the client refuses to start without
                # one: send a placeholder such servers ignore.
                key = LOCAL_SERVER_KEY
            self._client = openai.AsyncOpenAI(api_key=key, timeout=self.settings.llm_timeout, max_retries=0)
        return self._client

    async def aclose(self) -> None:
        """Close the client (a later call makes a new one, e.g. in another event loop)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def messages(self, question: str, numbered: Numbered) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.answer_prompt()},
            {"role": "user", "content": f"Passages:\n\n{context_block(numbered)}\n\nQuestion: {question}"},
        ]

    @staticmethod
    def answer_prompt() -> str:
        return prompts.load("answer", no_answer=NO_ANSWER)

    async def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int | None = None, timeout: float | None = None
    ) -> str:
        """The model's whole reply (summaries, rewrites): ``LLMError`` when it fails, refuses, returns nothing
        or is cut at ``max_tokens`` (a cut summary or rewrite is no use)."""
        text, finish = "", None
        async for chunk in self.stream(messages, max_tokens=max_tokens, timeout=timeout):
            text, finish = chunk.text, chunk.finish_reason
        text = text.strip()
        if finish == "length":
            raise LLMError(f"the reply was cut at {max_tokens or self.settings.llm_max_tokens} tokens", partial=text)
        if finish == "content_filter" or not text:
            raise LLMError("the model refused or returned nothing")
        return text

    async def stream(
        self, messages: list[dict[str, str]], *, max_tokens: int | None = None, timeout: float | None = None
    ) -> AsyncIterator[Chunk]:
        """The reply as it grows: each chunk holds the whole text so far; the last one says why it ended.

        Raises:
            LLMError: the deadline passed (``partial`` holds the text so far), the endpoint failed after its
                retries, or the prompt does not fit the model's context.
        """
        budget = self.settings.llm_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        tokens = max_tokens or self.settings.llm_max_tokens
        text = ""
        try:
            async with asyncio.timeout_at(deadline):
                stream = await self._open(messages, tokens, deadline)
                finish: str | None = None
                async for piece in stream:
                    choice = piece.choices[0] if piece.choices else None
                    if choice is None:
                        continue
                    if choice.delta and choice.delta.content:
                        text += choice.delta.content
                        yield Chunk(text)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                yield Chunk(text, finish or "stop")
        except TimeoutError:
            raise LLMError(f"no complete reply within {budget:g} s", partial=text) from None
        except openai.OpenAIError as exc:
            raise LLMError(_describe(exc), partial=text) from exc

    async def _open(
        self, messages: list[dict[str, str]], max_tokens: int, deadline: float
    ) -> AsyncStream[ChatCompletionChunk]:
        """Start the streamed request, retrying what is worth retrying while the deadline allows."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                return await self.client.chat.completions.create(
                    model=self.model,
                    messages=_wire(messages),
                    temperature=0,
                    max_tokens=max_tokens,
                    stream=True,
                    timeout=max(0.1, deadline - loop.time()),
                )
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                if isinstance(exc, openai.APITimeoutError):
                    raise
                attempt += 1
                pause = min(2.0 ** (attempt - 1), 8.0)
                if attempt > self.settings.llm_max_retries or loop.time() + pause >= deadline:
                    raise
                log.info("LLM endpoint: %s; retrying in %.1f s", _describe(exc), pause)
                await asyncio.sleep(pause)

    async def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        turns = "\n".join(f"User: {q}\nAssistant: {a[:500]}" for q, a in history)
        messages = [
            {"role": "system", "content": prompts.load("condense")},
            {"role": "user", "content": f"{turns}\nUser: {question}"},
        ]
        return await self.complete(messages, max_tokens=REWRITE_MAX_TOKENS)


def _describe(exc: openai.OpenAIError) -> str:
    """An endpoint error in words for logs and ``fallback_reason`` (a timeout's own message is empty)."""
    if isinstance(exc, openai.APITimeoutError):
        return "the endpoint did not answer in time"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        kind = str(body.get("type") or "")
        message = str(body.get("message") or exc.message or "")
        if "context" in kind or "context" in message.lower():
            return f"the prompt does not fit the model's context ({message})"
        return f"HTTP {exc.status_code} from the endpoint: {message or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
