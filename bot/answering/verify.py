"""Citation and quote verification, for extractive and LLM answers alike.

- A ``[n]`` that points at no source is removed.
- A claim (the words before a run of markers) left without a valid citation is dropped, and so is text after
  the last marker.
- Every quoted span ("…" or “…”) must stand verbatim (up to white space, quote style and inner quotation marks)
  in a passage of a source the claim cites; a claim whose quote does not is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_CLAIM_END = re.compile(r"(?:\s*\[\d{1,3}\])+[.!?]?")
_QUOTED = re.compile(r"“([^“”]{3,})”|\"([^\"]{3,})\"|‘([^‘’]{3,})’|«([^«»]{3,})»|„([^„“”]{3,})[“”]")
_QUOTE_MARK = re.compile(r"[“”\"«»„‘]")
_FOLD = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " "})


def fold(text: str) -> str:
    """Text compared for verbatim checks: NFKC, ASCII quotes and dashes, white space collapsed, case kept."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_FOLD).split())


def bare(text: str) -> str:
    """``fold`` without double quotes: a quotation may drop the inner quotes of the sentence it copies."""
    return " ".join(fold(text).replace('"', " ").replace("«", " ").replace("»", " ").split())


@dataclass(frozen=True)
class Verified:
    text: str
    dropped: list[str]  # sentences removed, for logs and tests
    cited: list[int]  # the citation numbers the text still uses, in order of first use


def markers(text: str) -> list[int]:
    return [int(m.group(1)) for m in _MARKER.finditer(text)]


def quotes(text: str) -> list[str]:
    """The quoted spans of ``text``, in any quotation style."""
    return [next(g for g in groups if g) for groups in _QUOTED.findall(text)]


def _quotes_hold(claim: str, passages: Sequence[str]) -> bool:
    """Every quotation in ``claim`` stands in one of ``passages``, and no stray quotation mark is left over
    (a quote opened in one claim and closed in another, or marks that do not pair up)."""
    if not all(any(bare(q) in p for p in passages) for q in quotes(claim)):
        return False
    return not _QUOTE_MARK.search(_QUOTED.sub("", claim))


def claims(paragraph: str) -> list[str]:
    """The paragraph cut after each run of markers: "A said x. [1] B said y [2]." -> two claims.

    A claim is the unit a citation vouches for: one or more sentences ending with their markers (and the full
    stop when the marker stands before it). Text after the last marker is a claim without a citation.
    """
    out: list[str] = []
    cursor = 0
    for m in _CLAIM_END.finditer(paragraph):
        piece = paragraph[cursor : m.end()].strip()
        if piece:
            out.append(piece)
        cursor = m.end()
    rest = paragraph[cursor:].strip()
    if rest:
        out.append(rest)
    return out


def renumber(text: str, order: Sequence[int]) -> str:
    """Rewrite ``[n]`` markers so the sources cited in ``order`` become 1, 2, 3..."""
    mapping = {old: new for new, old in enumerate(order, start=1)}
    return _MARKER.sub(lambda m: m.group(0).replace(m.group(1), str(mapping.get(int(m.group(1)), 0))), text)


def verify(text: str, sources: Mapping[int, Sequence[str]]) -> Verified:
    """Keep the sentences of ``text`` whose citations exist and whose quotes the cited sources contain.

    Args:
        text: the answer with ``[n]`` markers.
        sources: citation number -> the passage texts of that source.

    Returns:
        The cleaned text, what was dropped, and the numbers still cited.
    """
    folded = {n: [bare(p) for p in passages] for n, passages in sources.items()}
    kept: list[str] = []
    dropped: list[str] = []
    cited: list[int] = []
    for paragraph in text.split("\n"):
        out_sentences: list[str] = []
        for sentence in claims(paragraph):
            valid = [n for n in markers(sentence) if n in sources]
            clean = _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in sources else "", sentence).strip()
            if not valid:
                dropped.append(sentence)
                continue
            cited_passages = [p for n in valid for p in folded[n]]
            # A claim copied whole from a cited passage holds; otherwise each quotation in it must.
            copied = bare(_MARKER.sub("", clean))
            if not any(copied in p for p in cited_passages) and not _quotes_hold(clean, cited_passages):
                dropped.append(sentence)
                continue
            out_sentences.append(clean)
            cited.extend(n for n in valid if n not in cited)
        if out_sentences:
            kept.append(" ".join(out_sentences))
    return Verified("\n".join(kept), dropped, cited)
