"""The answer engine: search, the evidence test, the extractive reader, the LLM, verification, and the types every
caller gets back. ``AnswerEngine`` is the entry; ``bot.ask`` above it decides between an answer and a briefing."""

from bot.answering.engine import AnswerEngine
from bot.answering.llm import ChatLLM, LLMError, make_llm
from bot.answering.types import NO_ANSWER, Answer, Citation, Evidence, QuestionContext, UsedPassage

__all__ = [
    "NO_ANSWER",
    "Answer",
    "AnswerEngine",
    "ChatLLM",
    "Citation",
    "Evidence",
    "LLMError",
    "QuestionContext",
    "UsedPassage",
    "make_llm",
]
