"""Words: how text is cut into words, which words carry no content, and how words are stemmed.

One place for what search, answers, digests and clustering all need, so that "sanctions" in a question meets
"sanction" in a sentence the same way everywhere. Stemming is the Snowball English stemmer (PyStemmer, the C
implementation of Martin Porter's Snowball algorithms): "rates" and "rate" both become "rate", "voted" "vote".
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

#: A word: letters or digits, with inner apostrophes and hyphens ("don't", "Brandt’s", "12-kilometre").
WORD = re.compile(r"\w[\w'’-]*")

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves also said says say according week
    today yesterday month year years ago last new one two many much may might must shall
    """.split()
    # question fillers: "what happened at the port?" is about the port
    + "happen happened happening happens latest news".split()
    # verbs of asking that name the kind of answer, not its subject ("what did the bank decide?")
    + "decide decided decides tell told announce announced react reacted respond responded think".split()
    + "anything something know".split()
)

_STEMMER = Stemmer.Stemmer("english")


_DOTTED = re.compile(r"\b(?:[A-Z]\.){2,4}")


def words(text: str) -> list[str]:
    """The words of ``text`` as written (case kept), without leading or trailing apostrophes and hyphens; an
    abbreviation with full stops is one word without them ("U.S." -> "US")."""
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    return [w for w in (m.strip("'’-") for m in WORD.findall(text)) if w]


def query_terms(text: str) -> list[str]:
    """Content words of a query, lower-cased, stopwords dropped, order kept, no repeats."""
    lowered = (w.lower().replace("’", "'") for w in words(text))
    return list(dict.fromkeys(w for w in lowered if w not in STOPWORDS and (len(w) > 1 or w.isdigit())))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball English stem of ``word``, case folded, a possessive "'s" dropped: "Rates" -> "rate",
    "voted" -> "vote", "Kremlin's" -> "kremlin"."""
    w = word.lower().replace("’", "'").strip("'-")
    return _STEMMER.stemWord(w.removesuffix("'s"))


def stems(text: str, *, capitals: frozenset[str] | set[str] = frozenset()) -> set[str]:
    """The stems of every word of ``text``. A stem in ``capitals`` (``acronyms`` of a question) counts only
    where ``text`` writes it in capitals: "US" is not "us"."""
    found = words(text)
    out = {stem(w) for w in found}
    if capitals:
        out -= set(capitals) - {stem(w) for w in found if w.isupper()}
    return out


def acronyms(text: str) -> frozenset[str]:
    """The stems of the words ``text`` writes in capitals ("US", "EU", "NATO", "U.K."): names that a lower-case
    word may spell too, so they match only in capitals. None when the whole text is in capitals."""
    if text.upper() == text:
        return frozenset()
    return frozenset(stem(w) for w in words(text) if 2 <= len(w) <= 5 and w.isupper() and w.isalpha())
