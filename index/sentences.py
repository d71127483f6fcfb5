"""Sentence boundaries with character offsets, for chunking and for picking answer sentences.

A rule-based splitter tuned for news prose: abbreviations (Mr., U.S., Gov., Jan.), initials, decimals and quotes
that close after the full stop ("...illegal." he said) do not end a sentence; line breaks always do.
"""

from __future__ import annotations

import re

_ABBREV = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gov", "sen", "rep", "gen", "lt", "col", "capt", "sgt",
    "rev", "hon", "pres", "supt", "det", "insp", "atty", "corp", "inc", "ltd", "co", "no", "vs", "etc", "approx",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed",
    "thu", "fri", "sat", "sun", "ave", "blvd", "rd", "mt", "ft", "e.g", "i.e", "u.s", "u.k", "u.n", "d.c", "a.m",
    "p.m", "fig", "est", "dept", "univ", "assn", "bros",
}  # fmt: skip
# A candidate end: . ! ? (or …) then optional closing quotes/brackets, then white space.
_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)")
# Every line break ends a sentence: news exports put paragraphs (and headlines) on lines of their own.
_PARA = re.compile(r"\s*\n\s*")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the full stop at ``dot`` ends an abbreviation or an initial rather than a sentence."""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower().rstrip(".")
    if not word:
        return False
    if word in _ABBREV or len(word) == 1:
        return True  # "Gov." or an initial such as "J." in "John F. Kennedy"
    return "." in word and len(word) <= 6  # "U.S", "p.m"


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``(begin, end)`` of the sentences in ``text[start:end]``, white space trimmed, in order."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    para_starts = [start] + [m.end() for m in _PARA.finditer(text, start, end)]
    para_ends = [m.start() for m in _PARA.finditer(text, start, end)] + [end]
    for p_start, p_end in zip(para_starts, para_ends, strict=True):
        cursor = p_start
        for m in _END.finditer(text, p_start, p_end):
            stop = m.end()
            if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
                continue
            nxt = stop
            while nxt < p_end and text[nxt].isspace():
                nxt += 1
            # A lower-case continuation after the stop is rarely a new sentence ("3 p.m. on Friday").
            if nxt < p_end and text[nxt].islower():
                continue
            _append(text, spans, cursor, stop)
            cursor = stop
        _append(text, spans, cursor, p_end)
    return spans


def _append(text: str, spans: list[tuple[int, int]], begin: int, stop: int) -> None:
    while begin < stop and text[begin].isspace():
        begin += 1
    while stop > begin and text[stop - 1].isspace():
        stop -= 1
    if stop > begin:
        spans.append((begin, stop))
