"""The one entry for a message, whatever door it came in by (Telegram, ``briefbot ask`` and ``chat``, evaluation).

``Asker.stream`` checks the question's limits, then decides: a question about the news as a whole ("what
happened this week?") gets that period's briefing (``bot.digest``), anything else the answer engine's answer
(``bot.answering``). Both come back as a ``Reply`` whose ``answer`` is the text every door can show and remember;
a briefing also carries its stories, which Telegram renders as a digest. Front doors render, nothing more.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.answering import Answer, AnswerEngine, QuestionContext
from bot.answering.engine import as_datetime, end_of_day
from bot.digest import Briefing, briefing_request, compose_briefing
from bot.settings import Settings
from index.errors import BriefbotError
from index.timewin import Window


class QuestionError(BriefbotError):
    """A question that cannot be asked as it is (empty, too long); the message says what would do."""

    exit_code = 2


@dataclass(frozen=True)
class Reply:
    """What a message gets: an answer (an abstention included), and the briefing when it asked for one."""

    answer: Answer
    briefing: Briefing | None = None


class Asker:
    """Answers messages from one archive: briefings and answers, the same way for every front door."""

    def __init__(self, engine: AnswerEngine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings or engine.settings  # the front door's limits (the engine's by default)

    def check(self, question: str) -> str:
        """The question, stripped; ``QuestionError`` when it is empty or longer than ``max_question_chars``."""
        text = question.strip()
        if not text:
            raise QuestionError("the question is empty")
        if len(text) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is too long ({len(text)} characters; at most {self.settings.max_question_chars}, "
                "BRIEFBOT_MAX_QUESTION_CHARS)"
            )
        return text

    async def stream(
        self,
        question: str,
        context: QuestionContext | None = None,
        *,
        now: datetime | None = None,
        tz: str = "UTC",
        topics: Sequence[str] = (),
    ) -> AsyncIterator[str | Reply]:
        """The reply to ``question``: partial texts while an LLM writes, then the ``Reply``, always last.

        Args:
            question: the message.
            context: the chat's history, the reference day ("as of"), filters, passages to retrieve. A question
                with filters is always a search: "what's new?" with ``--source Reuters`` searches Reuters.
            now: the current time (default: ``context.today``'s end, or the clock).
            tz: the chat's time zone, for the days of a briefing.
            topics: the chat's followed topics, first in a briefing.

        Raises:
            QuestionError: an empty or overlong question.
        """
        question = self.check(question)
        context = context or QuestionContext()
        now = now or (as_datetime(context.today) if context.today else datetime.now(UTC))
        period = briefing_request(question, now) if context.filters is None else None
        if period is not None:
            yield await self.brief(period, question=question, now=now, tz=tz, topics=topics, past=bool(context.today))
            return
        async for item in self.engine.stream(question, context):
            yield Reply(item) if isinstance(item, Answer) else item

    async def reply(
        self,
        question: str,
        context: QuestionContext | None = None,
        *,
        now: datetime | None = None,
        tz: str = "UTC",
        topics: Sequence[str] = (),
    ) -> Reply:
        """``stream``'s final reply."""
        final: Reply | None = None
        async for item in self.stream(question, context, now=now, tz=tz, topics=topics):
            if isinstance(item, Reply):
                final = item
        assert final is not None, "a reply always ends the stream"
        return final

    def reply_sync(self, question: str, context: QuestionContext | None = None) -> Reply:
        """``reply`` for callers without an event loop (the CLI, evaluation)."""

        async def run() -> Reply:
            try:
                return await self.reply(question, context)
            finally:
                if self.engine.llm is not None:
                    await self.engine.llm.aclose()

        return asyncio.run(run())

    async def brief(
        self,
        text: str,
        *,
        question: str | None = None,
        now: datetime | None = None,
        tz: str = "UTC",
        topics: Sequence[str] = (),
        past: bool = False,
    ) -> Reply:
        """The briefing ``text`` asks for ("sanctions this week", "" for the last 24 hours): ``/brief`` and
        questions about the news as a whole. An empty period gets the usual abstention, naming the period (and,
        with ``past``, counting what the archive held as of ``now``, a past day)."""
        now = now or datetime.now(UTC)
        briefing = await compose_briefing(
            self.engine.archive,
            text,
            now=now,
            tz_name=tz,
            topics=topics,
            max_stories=self.settings.digest_max_stories,
            llm=self.engine.llm,
            timeout=self.settings.llm_timeout,
            summary_tokens=self.settings.llm_summary_max_tokens,
        )
        asked = question or f"/brief {text}".strip()
        if not briefing.empty:
            return Reply(briefing.as_answer(asked), briefing)
        digest = briefing.digest
        window = Window(digest.since, digest.until, briefing.label, text, (0, 0))
        refusal = self.engine.abstention(window, as_of=end_of_day(now) if past else None)
        return Reply(Answer(asked, refusal, [], True, []), briefing)
