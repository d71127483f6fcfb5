"""The evidence test: does the archive answer the question, hold only related coverage, or nothing at all?

What the best passages and the reader's lead sentence show is measured as a few features; a linear score over
them decides between an answer and an abstention, and the question's names decide between "related coverage" and
a plain refusal:

- ``similarity``: the best cosine of the top three passages to the question;
- ``coverage``: the best IDF-weighted share of the question's words in one of the top five passages;
- ``lead_coverage``: that share in the reader's lead sentence, the one the answer would open with;
- ``lead_answers``: whether that sentence holds the kind of answer asked for (a name, a number, a date, a place,
  the speaker's own quotation);
- ``event_coverage``: the share of the question's other words (not its names) in the best passage, what
  happened rather than who: "What did Mike Johnson say after he was re-elected speaker on the first ballot?"
  finds Mike Johnson everywhere, the re-election nowhere;
- ``rare_coverage``: the best share of the question's three rarest words in one of the top five passages;
- ``terms``: how many content words the question has (log): a long question's words are less likely to stand
  together in one passage, so its coverage means more;
- ``names``: the share of the names the question names (its capitalised words) in the best passage;
- ``numbers``: the share of the numbers the question names ("the 7.7 magnitude earthquake") in it;
- ``preview``: a question about what happened ("did", "won") whose lead sentence speaks of what will ("is
  expected to", "will", "ahead of") and reports none of the question's past-tense verbs: the coverage is a
  preview of the event, not the event, when the best passages report none of the question's past-tense verbs
  either. Such a question gets related coverage, never an answer.

``bench/evidence_fit.py`` fits weights for all of them on rtqa-2024 dev + null and newsqa-dev (answerable + null)
together, cross-validated; BENCHMARKS.md has the figures, the threshold's uncertainty, and why the score in use
is still the first two features' sum (``WEIGHTS``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.answering.questions import Asked, answers
from index.search import Hit
from index.terms import acronyms, query_terms, stem, stems, words

#: The linear evidence score's weights and bias (score >= 0: answer). The features are all measured (eval's run
#: files carry them, bench/evidence_fit.py fits them), but the score in use is the one that holds up on every kind
#: of question: similarity + coverage >= 0.99, calibrated on rtqa-2024. A model fitted on all of them over both
#: sets refuses 90% of newsqa-dev's hard negatives only by refusing short, plainly answerable questions ("What did
#: Anneli Virta say?": little cosine similarity, every word found) and 44% of rtqa-2024's (BENCHMARKS.md).
WEIGHTS = {
    "similarity": 1.0,
    "coverage": 1.0,
    "lead_coverage": 0.0,
    "lead_answers": 0.0,
    "event_coverage": 0.0,
    "preview": 0.0,
    "rare_coverage": 0.0,
    "terms": 0.0,
    "names": 0.0,
    "numbers": 0.0,
}
BIAS = -0.99
#: Related coverage: the best passage names at least this share of the names the question names.
RELATED_NAMES = 0.5

_IRREGULAR_PAST = frozenset(
    """
    won lost said told made took gave beat ran began broke sold paid held met left fell rose hit led shot struck
    wrote chose spoke drew froze flew threw sank became bought brought caught fought found got kept sent spent
    stood stole swore taught thought took understood went wore
    """.split()
)
_FUTURE = re.compile(
    r"\b(?:(?:is|are|was|were) (?:expected|set|scheduled|poised|due|slated) to|ahead of|preview|previews|on pace to|"
    r"on track to|upcoming|will (?:face|meet|play|host|hear|decide|rule|vote|announce|take on))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Features:
    similarity: float = 0.0
    coverage: float = 0.0
    lead_coverage: float = 0.0
    lead_answers: float = 0.0
    event_coverage: float = 0.0
    preview: float = 0.0
    rare_coverage: float = 0.0
    terms: float = 0.0
    names: float = 0.0
    numbers: float = 0.0

    def score(self) -> float:
        return BIAS + sum(w * getattr(self, name) for name, w in WEIGHTS.items())

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 4) for name in WEIGHTS}


def _share(weights: dict[str, float], text: str, capitals: frozenset[str] = frozenset()) -> float:
    total = sum(weights.values())
    if not total:
        return 0.0
    present = stems(text, capitals=capitals)
    return sum(w for t, w in weights.items() if t in present) / total


def measure(
    question: str,
    asked: Asked,
    hits: Sequence[Hit],
    lead: str | None,
    idf: Callable[[str], float],
) -> Features:
    """The features of the module docstring for ``question``, its ``hits`` (best first) and the reader's ``lead``
    sentence (None when the reader found none)."""
    if not hits:
        return Features()
    terms = query_terms(question)
    weights: dict[str, float] = {}
    for t in terms:
        weights[stem(t)] = max(weights.get(stem(t), 0.0), idf(t))
    # A name in capitals ("US") is held only in capitals; other names in any case.
    names = {w if w.isupper() and len(w) > 1 else w.casefold() for w in words(question)[1:] if w[:1].isupper()}
    numbers = set(re.findall(r"\d[\d,.]*\d|\d", question))
    name_stems = {stem(n) for n in names}
    event = {t: w for t, w in weights.items() if t not in name_stems}
    rare = {t: 1.0 for t in sorted(weights, key=lambda t: -weights[t])[:3]}
    passages = [f"{h.title} {h.text}" for h in hits[:5]]
    capitals = acronyms(question)
    best = max(passages[:3], key=lambda p: _share(weights, p, capitals))
    held = {w.casefold() for w in words(best)} | {w for w in words(best) if w.isupper()}
    lead_answers = 0.0
    if lead is not None:
        if asked.kind == "quote":
            lead_answers = float(bool(asked.speaker) and stem(asked.speaker[-1]) in stems(lead) and '"' in _fold(lead))
        elif asked.kind != "other":
            lead_answers = float(answers(asked.kind, lead, question))
    return Features(
        similarity=max(h.similarity for h in hits[:3]),
        coverage=max(_share(weights, p, capitals) for p in passages),
        lead_coverage=_share(weights, lead, capitals) if lead else 0.0,
        lead_answers=lead_answers,
        event_coverage=_share(event, best, capitals) if event else 1.0,
        preview=float(bool(lead and is_preview(question, lead, " ".join(passages[:3])))),
        rare_coverage=max(_share(rare, p, capitals) for p in passages) if rare else 0.0,
        terms=math.log1p(len(weights)),
        names=(sum(n in held for n in names) / len(names)) if names else 0.0,
        numbers=(sum(n in best for n in numbers) / len(numbers)) if numbers else 1.0,
    )


def _fold(text: str) -> str:
    return text.replace("“", '"').replace("”", '"')


def _past_verbs(text: str) -> set[str]:
    """The past-tense verbs of ``text`` (regular "-ed" forms and the common irregular ones; capitalised words are
    names: "United"), lower case."""
    lowered = (w for w in words(text) if not w[:1].isupper())
    return {w for w in lowered if w in _IRREGULAR_PAST or (w.endswith("ed") and len(w) > 4)}


def is_preview(question: str, lead: str, passages: str) -> bool:
    """Whether the coverage only looks ahead to what ``question`` asks about as done: the question asks what
    happened ("Who won the cup final?", "What did the court decide?"), the lead sentence speaks of what is to
    come ("will face", "is expected to rule"), and the best ``passages`` report none of the question's
    past-tense verbs."""
    asked_done = re.search(r"\bdid\b", question, re.IGNORECASE) or _past_verbs(question)
    if not asked_done or not _FUTURE.search(lead):
        return False
    done = {stem(v) for v in _past_verbs(question)}
    return not (done & {stem(v) for v in _past_verbs(passages)})
