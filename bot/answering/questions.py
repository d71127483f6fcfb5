"""What a question asks for, and whether a sentence holds an answer of that kind.

"Who stars opposite Donald Glover…?" asks for a name, "How many members does the Garrick Club have?" for a
number, "When does her term begin?" for a date, "Where will the draft be held?" for a place, "What did Kevin
McCarthy say…?" for his own words. A sentence that repeats the question's words without such an answer (a
subheading such as "Who is starring in the series?") is no answer; the reader (``bot.answering.extractive``)
prefers the sentences that hold one, near the question's words.

Answers are recognised from the text alone, the way a reader skims: names are runs of capitalised words, numbers
are figures or number words, dates are month and weekday names, years and clock times, places are names after
"in", "at", "near" or "from". What the question itself names is never the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from index.terms import query_terms

Kind = Literal["quote", "number", "date", "place", "name", "other"]

_SPEECH_Q = re.compile(
    r"\b(?:what|how)\s+(?:did|does|do|has|have|had|is|was|were)\s+(?P<who>.+?)\s+"
    r"(?:say|said|tell|told|respond|responded|react|reacted|announce|announced|think|claim|claimed|call|called|"
    r"describe|described|warn|warned|comment|commented|mean|post|posted|write|wrote|explain|explained|urge|urged)\b",
    re.IGNORECASE,
)
_NUMBER_Q = re.compile(
    r"^(?:by\s+)?how\s+(?:many|much|long|deep|far|tall|high|old|big|large|fast|often|wide|heavy)\b"
    r"|\b(?:what|which)\s+(?:\w+\s+)?(?:percentage|percent|share|proportion|number|amount|score|price|cost|rate|"
    r"fee|fine|salary|pay raise|raise|total|record|margin|range|threshold|age|sum)\b",
    re.IGNORECASE,
)
_DATE_Q = re.compile(
    r"^(?:until|since|from)?\s*when\b|\b(?:what|which)\s+(?:dates?|days?|year|month|time|season)\b", re.IGNORECASE
)
_PLACE_Q = re.compile(
    r"^where\b|\b(?:in|at|from|on)\s+(?:which|what)\b|\b(?:which|what)\s+(?:\w+\s+)?(?:city|cities|state|country|"
    r"town|county|village|region|province|prefecture|airport|park|stadium|venue|arena|island|port|course|hospital|"
    r"school|street|neighborhood|neighbourhood|pad)\b",
    re.IGNORECASE,
)
_NAME_Q = re.compile(
    r"^who(?:m|se)?\b|\bwhich\s+\w+|\bwhat(?:'s| is| was)\s+(?:the\s+)?(?:name|title)\b|\bcalled\b|\bnicknamed\b",
    re.IGNORECASE,
)

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
_DATE = re.compile(
    rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}\b|\b(?:{_MONTHS})\b\s+(?:19|20)\d\d\b|\b(?:Monday|Tuesday|Wednesday|Thursday|"
    r"Friday|Saturday|Sunday)\b|\b(?:1[5-9]|20)\d\d\b|\b\d{1,2}(?::\d\d)?\s?[ap]\.?m\.?|\b\d{1,4}\s?(?:BC|AD|BCE|CE)\b"
)
_NUMBER_WORDS = (
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    "eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|"
    "million|millions|billion|billions|trillion|dozen|dozens|half|quarter|third|double|twice"
)
_NUMBER = re.compile(
    rf"(?<![\w.-])\$?\d[\d,.]*\d%?(?![\w-])|(?<![\w.-])\$?\d%?(?![\w-])|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE
)
#: Figures that are no quantity: a year, a clock time ("6 a.m.", "7:30"), a day of a month ("Oct. 1").
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")
_CLOCK = re.compile(r"^\d{1,2}(?::\d\d\b|\s?[ap]\.?m\b)", re.IGNORECASE)
_MONTH_DAY = re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}$", re.IGNORECASE)
#: A name: capitalised words, with the small words names carry inside them ("Bank of Norland", "Des Moines Golf
#: and Country Club", "Unite Here Local 274", "Peiter “Mudge” Zatko").
_NAME = re.compile(
    r"(?:[A-Z][\w'’.&-]*|\d+)(?:\s+(?:(?:of|and|the|de|del|la|van|von|du|der|&)\s+)*(?:[A-Z][\w'’.&-]*|\d+))*"
)
_PLACE = re.compile(
    r"\b(?:in|at|near|from|outside|inside|to)\s+(?:the\s+)?(?P<place>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)"
)
_QUOTED = re.compile(r"[“«\"][^”»\"]{8,}[”»\"]")
#: Capitalised words that name no one: sentence openers, titles, calendar words.
_NOT_NAMES = frozenset(
    """
    the a an he she they it i we you his her their its this that these those there here but and or so if when while
    in on at as by for from with after before during since until of to into about over under then also however
    mr mrs ms dr gov sen rep president mayor chief ceo according said says monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october november december
    """.split()
)


@dataclass(frozen=True)
class Asked:
    """What a question asks for: the kind of answer, and for "what did X say" questions who X is."""

    kind: Kind
    speaker: tuple[str, ...] = ()  # content words naming the speaker (quote questions)


def asked(question: str) -> Asked:
    """The kind of answer ``question`` asks for."""
    q = " ".join(question.split())
    m = _SPEECH_Q.search(q)
    if m:
        return Asked("quote", tuple(query_terms(m.group("who"))))
    if _NUMBER_Q.search(q):
        return Asked("number")
    if _DATE_Q.search(q):
        return Asked("date")
    if _PLACE_Q.search(q):
        return Asked("place")
    if _NAME_Q.search(q):
        return Asked("name")
    return Asked("other")


def _known(question: str) -> set[str]:
    return {w.casefold().strip("'’.") for w in re.findall(r"[\w'’.-]+", question)}


def _new(span: str, known: set[str]) -> bool:
    """Whether ``span`` says something the question does not: a word of it the question lacks."""
    words = [w.casefold().strip("'’.") for w in re.findall(r"[\w'’.-]+", span)]
    return any(w and w not in known and w not in _NOT_NAMES for w in words)


def answers(kind: Kind, sentence: str, question: str) -> bool:
    """Whether ``sentence`` holds an answer of ``kind`` that ``question`` does not already name."""
    known = _known(question)
    if kind == "number":
        for m in _NUMBER.finditer(sentence):
            figure = m.group(0).casefold().strip("$%.,")
            if figure in known or _YEAR.match(figure):
                continue
            if _CLOCK.match(sentence[m.start() : m.end() + 6]) or _MONTH_DAY.search(sentence[: m.end()]):
                continue
            return True
        return False
    if kind == "date":
        return any(_new(m.group(0), known) for m in _DATE.finditer(sentence))
    if kind == "place":
        return any(_new(m.group("place"), known) for m in _PLACE.finditer(sentence))
    if kind == "name":
        body = sentence[1:]  # the first word is capitalised by grammar, not by name
        names = [m.group(0) for m in _NAME.finditer(body)] + [m.group(0) for m in _QUOTED.finditer(sentence)]
        return any(_new(n, known) for n in names)
    return False
