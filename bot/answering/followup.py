"""Follow-up questions made standalone: "and what did Ukraine say?" borrows the content words of the question
before it, "tell me more about the second story" the words of that story of the last briefing.

With an LLM configured the model rewrites follow-ups instead (``bot.answering.engine``); this heuristic is what
applies without one, and when the model's rewrite is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.state import Turn
from index.terms import STOPWORDS, query_terms, stem, stems, words

#: A question that opens like this leans on the one before it ("and what about today?").
CONNECTIVE = re.compile(r"^(?:and|but|so|also|what about|how about|what else|more|tell me more)\b", re.IGNORECASE)
#: A question with one of these and few words of its own refers back ("what did she say?").
PRONOUN = re.compile(r"\b(?:he|she|they|them|it|its|his|her|their|those|these)\b", re.IGNORECASE)
_MARKERS = re.compile(r"\s*\[\d{1,3}\]")
_TRANSCRIPT = re.compile(r"\b(?:user|assistant|system|model)\s*:|\[\d{1,3}\]|<[a-z/]", re.IGNORECASE)
#: The least share of a rewrite's content words that must come from the question and the conversation.
REWRITE_OWN_WORDS = 0.8

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8}
_ORDINAL_REF = re.compile(
    r"\b(?:the\s+)?(?P<word>first|second|third|fourth|fifth|sixth|seventh|eighth|last|(?P<nth>[1-8])(?:st|nd|rd|th))"
    r"\s+(?:story|one|item|headline)\b|\b(?:story|item|number|no\.)\s*#?(?P<n>[1-8])\b|#(?P<hash>[1-8])\b",
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    """Whether ``question`` opens by leaning on the previous one ("and what about today?")."""
    return bool(CONNECTIVE.search(question.strip()))


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
    follow_up = is_follow_up(question) and len(terms) <= 6
    follow_up = follow_up or (bool(PRONOUN.search(question)) and len(terms) <= 2)
    if not follow_up:
        return question
    previous = [t for t in query_terms(history[-1].question) if t not in terms]
    return f"{question} {' '.join(previous)}".strip()


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


def rewrite_problem(rewritten: str, question: str, history: Sequence[Turn], max_chars: int) -> str | None:
    """Why the model's rewrite of a follow-up is no standalone question (None when it is one): empty, longer than
    a question may be or much longer than the question and the turn before it, a transcript or markup, more than
    one question, or made of words that are not the question's and the conversation's."""
    if not rewritten.strip():
        return "empty"
    if len(rewritten) > max_chars:
        return f"{len(rewritten)} characters, longer than a question may be"
    previous = history[-1].question if history else ""
    if len(rewritten) > 2 * (len(question) + len(previous)) + 40:
        return "much longer than the question and the one before it"
    if _TRANSCRIPT.search(rewritten):
        return "a transcript or markup, not a question"
    if rewritten.count("?") > 1:
        return "more than one question"
    content = [stem(w) for w in words(rewritten) if w.lower() not in STOPWORDS]
    if not content:
        return "no words of its own"
    known = stems(" ".join([question, *(f"{t.question} {t.answer}" for t in history)]))
    foreign = [w for w in content if w not in known]
    if len(content) - len(foreign) < REWRITE_OWN_WORDS * len(content):
        return f"words from outside the conversation: {', '.join(dict.fromkeys(foreign))}"
    return None
