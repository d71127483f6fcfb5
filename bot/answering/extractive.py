"""The offline answer: the sentences of the retrieved passages that answer the question, quoted verbatim.

Each sentence is scored by the question's content words it contains (weighted by how rare they are in the
archive), the rank of its passage, and, for "what did X say" questions, whether it reports X's speech or quotes
someone. The best few sentences, from different articles where possible, become the answer, each followed by
the number of its source. Sentences are copied, never rewritten, so every quotation mark in the answer stands
around the article's own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.answering.questions import answers, asked
from index.search import Hit
from index.sentences import split_sentences
from index.terms import STOPWORDS, acronyms, query_terms, stem, stems

_SPEECH_VERB = re.compile(
    r"\b(?:said|says|say|told|tells|stated|added|called|described|warned|argued|insisted|noted|declared|"
    r"announced|according to|spokesman|spokeswoman|spokesperson|statement|commented|responded|wrote)\b",
    re.IGNORECASE,
)
# "HALVIK, Nov 26 (Meridian Wire) - ", "PORT ALDREN — ", "LONDON (Reuters) -", "CNN —"
_DATELINE = re.compile(
    r"^(?:[A-Z][A-Z.'’ -]{1,40}(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*(?:\([^()]{1,60}\))?\s*[-—–]{1,2}\s+"
    r"|[A-Z][A-Za-z.'’ ]{1,40}\s*\((?:AP|AFP|Reuters|dpa|UPI)\)\s*[-—–]*\s*)"
)
_QUOTED = re.compile(r"[“«][^”»]*[”»]|\"[^\"]*\"")
_SPEAKER_PRONOUN = re.compile(r"\b(?:he|she|they)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]+")
_NOT_NAMES = frozenset(
    [
        "The", "A", "An", "He", "She", "They", "It", "I", "We", "But", "And", "In", "On", "At", "As", "This", "That",
        "Then", "So", "Mr", "Mrs", "Ms", "Dr", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
        "Sunday",
    ]
)  # fmt: skip
#: The reader's weights (bench/reader_ablation.py measures them on rtqa-2024 and newsqa-dev together).
TYPE_BONUS = 0.6
QUOTE_BONUS = 1.0  # "what did X say": a sentence quoting X
PARAPHRASE_BONUS = 0.4  # ...one reporting what X said
#: The answer's length: sentences, sentences from one article, words (about; a quotation is kept whole).
MAX_SENTENCES = 4
PER_ARTICLE = 3
MAX_WORDS = 130
NEAR_BEST = 0.55  # a sentence scoring below this share of the best one is left out
QUESTION_PENALTY = 0.3
RESTATES_PENALTY = 0.6
_STOP_STEMS = frozenset(stem(w) for w in STOPWORDS)
_OPEN_QUOTES = '“"«'
_CLOSE_QUOTES = '”"»'


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: where it is in its passage and article, and why it scored."""

    hit_index: int
    start: int  # offsets into the article text
    end: int
    text: str
    score: float


def _unattributed(text: str) -> bool:
    """Whether ``text`` quotes someone without naming them: a quotation with no words outside its marks, or one
    said by a pronoun ("…,” she said.) with no name (a capitalised word) outside the quotation marks."""
    if not _QUOTED.search(text):
        return False
    outside = _QUOTED.sub(" ", text)
    if not re.search(r"\w", outside):
        return True
    if not (_SPEECH_VERB.search(outside) and _SPEAKER_PRONOUN.search(outside)):
        return False
    return not any(w not in _NOT_NAMES for w in _CAPITALISED.findall(outside))


def dateline_end(sentence: str) -> int:
    """Where a sentence starts after its dateline ("HALVIK, Nov 26 (Meridian Wire) - "); 0 when it has none (or
    little is left after it)."""
    m = _DATELINE.match(sentence)
    if not m or len(sentence) - m.end() <= 20:
        return 0
    return len(sentence) - len(sentence[m.end() :].lstrip())


def _quote_balance(text: str) -> int:
    """Positive when a quotation opens in ``text`` and does not close; negative when one closes that opened
    before it."""
    curly = text.count("“") - text.count("”")
    if curly:
        return curly
    return 1 if text.count('"') % 2 else 0


def candidate_sentences(
    question: str,
    hits: Sequence[Hit],
    idf: Callable[[str], float],
    articles: Mapping[str, str] | None = None,
) -> list[Sentence]:
    """Every sentence of ``hits`` scored against ``question``.

    Sentences come from the article text around each passage (``articles``: article id -> text) so that a
    quotation running over several sentences, or over a passage boundary, is kept whole.
    """
    q_terms = query_terms(question)
    q_stems = {stem(t): idf(t) for t in q_terms}
    total = sum(q_stems.values()) or 1.0
    capitals = acronyms(question)
    wanted = asked(question)
    speaker = [stem(t) for t in wanted.speaker]
    spans_of: dict[str, list[tuple[int, int]]] = {}
    out: list[Sentence] = []
    for i, hit in enumerate(hits):
        text = (articles or {}).get(hit.article_id)
        if text is None or text[hit.start : hit.end] != hit.text:
            text, offset = hit.text, hit.start  # the passage alone
            spans = split_sentences(text)
        else:
            offset = 0
            if hit.article_id not in spans_of:
                spans_of[hit.article_id] = split_sentences(text)
            spans = spans_of[hit.article_id]
        inside = [j for j, (s, e) in enumerate(spans) if s + offset >= hit.start and e + offset <= hit.end]
        done: set[int] = set()
        for j in inside:
            if j in done:
                continue
            first, last = j, j
            # A quotation that closes here opened in an earlier sentence; one that opens here goes on after.
            while _quote_balance(text[spans[first][0] : spans[last][1]]) < 0 and first > 0 and j - first < 3:
                first -= 1
            while _quote_balance(text[spans[first][0] : spans[last][1]]) > 0 and last + 1 < len(spans) and last - j < 3:
                last += 1
            done.update(range(first, last + 1))
            # A quotation must show who said it. One standing alone ("“Korvisk will have to reroute.”") or said by
            # a pronoun ("…,” she said.) carries on from the sentences before it in its paragraph, which name the
            # speaker: quote them together. A quotation whose speaker stays unnamed is not shown at all.
            for _ in range(3):
                if not _unattributed(text[spans[first][0] : spans[last][1]]) or first == 0:
                    break
                if "\n" in text[spans[first - 1][1] : spans[first][0]]:
                    break  # another paragraph
                first -= 1
                while _quote_balance(text[spans[first][0] : spans[last][1]]) < 0 and first > 0 and j - first < 5:
                    first -= 1
            if _unattributed(text[spans[first][0] : spans[last][1]]):
                continue
            s, e = spans[first][0], spans[last][1]
            s += dateline_end(text[s:e])  # the article's own words still, without "HALVIK, Nov 26 (Wire) - "
            sentence = text[s:e]
            words = stems(sentence, capitals=capitals)
            matched = sum(w for t, w in q_stems.items() if t in words)
            score = matched / total + 0.25 / (1 + i)  # earlier (better-ranked) passages win ties
            if speaker:
                # "What did Daniel Moreau say?": his words, not Daniel Okafor's. The last word of the speaker's
                # name (the surname, or the head noun: "the central bank") must be there; news drops first names.
                # Their own quotation leads; a report of what they said comes after it.
                speech = bool(_SPEECH_VERB.search(sentence)) or any(q in sentence for q in _OPEN_QUOTES)
                if speech and speaker[-1] in words:
                    score += QUOTE_BONUS if _QUOTED.search(sentence) else PARAPHRASE_BONUS
            elif wanted.kind != "other" and answers(wanted.kind, sentence, question):
                score += TYPE_BONUS  # it holds the kind of answer asked for: a name, a number, a date, a place
            if sentence.rstrip(_CLOSE_QUOTES + " ").endswith("?"):
                score *= QUESTION_PENALTY  # a subheading asking the question ("Who is starring in the series?")
            elif not words - set(q_stems) - _STOP_STEMS:
                score *= RESTATES_PENALTY  # nothing the question does not already say
            n_words = len(sentence.split())
            if n_words < 6:
                score *= 0.5  # headlines, datelines, bylines
            elif n_words > 90:
                score *= 0.7
            out.append(Sentence(i, s + offset, e + offset, sentence, score))
    return out


def choose(
    sentences: list[Sentence],
    hits: Sequence[Hit],
    *,
    max_sentences: int | None = None,
    per_article: int | None = None,
    max_words: int | None = None,
) -> list[Sentence]:
    """The best sentences: at most ``per_article`` from one article, none repeated, within reach of the best, and
    about ``max_words`` in all (a quotation kept whole can run over several sentences)."""
    max_sentences = max_sentences or MAX_SENTENCES
    per_article = per_article or PER_ARTICLE
    max_words = max_words or MAX_WORDS
    ranked = sorted(sentences, key=lambda s: (-s.score, -(s.end - s.start)))  # ties: the quotation kept whole
    if not ranked:
        return []
    best = ranked[0].score
    chosen: list[Sentence] = []
    per: dict[str, int] = {}
    seen: set[str] = set()
    for s in ranked:
        if s.score < best * NEAR_BEST or len(chosen) >= max_sentences:
            break
        aid = hits[s.hit_index].article_id
        key = " ".join(s.text.lower().split())
        if per.get(aid, 0) >= per_article or key in seen:
            continue
        if any(_overlaps(s, c, hits) for c in chosen):
            continue
        if chosen and sum(len(c.text.split()) for c in chosen) + len(s.text.split()) > max_words:
            continue
        chosen.append(s)
        seen.add(key)
        per[aid] = per.get(aid, 0) + 1
    return chosen


def _overlaps(a: Sentence, b: Sentence, hits: Sequence[Hit]) -> bool:
    """Overlapping passages of one article can yield the same sentence twice."""
    same = hits[a.hit_index].article_id == hits[b.hit_index].article_id
    return same and a.start < b.end and b.start < a.end
