"""Citation, quote and support verification, for extractive and LLM answers alike.

- A ``[n]`` that points at no source is removed.
- A claim (the words before a run of markers) left without a valid citation is dropped, and so is text after
  the last marker.
- Every quoted span ("…" or “…”) must stand verbatim (up to white space, quote style and inner quotation marks)
  in a passage of a source the claim cites; a claim whose quote does not is dropped.
- A claim that is not copied whole from a cited passage must be *supported* by the passages it cites: every
  number and every name in it (a capitalised word) stands in them, and at least ``SUPPORT_MIN`` of its content
  words (stemmed; quoted words count as found) do. A claim with no content words (bare markers), one that only
  repeats the question or the instructions, and a repeat of an earlier claim are dropped too.

This is what "verified" means for an LLM answer: each kept sentence cites passages that hold its names, numbers
and most of its words, and its quotations verbatim. It does not prove the sentence says what they say: "X did
not resign" passes where the passage says "X resigned".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from index.terms import STOPWORDS, stem, stems, words

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_CLAIM_END = re.compile(r"(?:\s*\[\d{1,3}\])+[.!?]?")
_QUOTED = re.compile(r"“([^“”]{3,})”|\"([^\"]{3,})\"|‘([^‘’]{3,})’|«([^«»]{3,})»|„([^„“”]{3,})[“”]")
_QUOTE_MARK = re.compile(r"[“”\"«»„‘]")
_NUMBER = re.compile(r"\d(?:[\d,.]*\d)?")
_ROLE_TAG = re.compile(r"\b(?:user|assistant|system|model)\s*:", re.IGNORECASE)

#: The least share of a claim's content words its cited passages must hold. Measured on hand-written good and
#: junk answers over the demo corpus (``bench/verify_support.py``, BENCHMARKS.md): good paraphrases hold 0.78 and
#: more, unsupported claims with the right names 0.50 and less.
SUPPORT_MIN = 0.65
#: A claim this much made of the instructions' words (and not copied from a passage) echoes the prompt.
ECHO_MIN = 0.6
_FOLD = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " "})


def fold(text: str) -> str:
    """Text compared for verbatim checks: NFKC, ASCII quotes and dashes, white space collapsed, case kept."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_FOLD).split())


def bare(text: str) -> str:
    """``fold`` without double quotes: a quotation may drop the inner quotes of the sentence it copies."""
    return " ".join(fold(text).replace('"', " ").replace("«", " ").replace("»", " ").split())


@dataclass(frozen=True)
class Dropped:
    """A claim verification removed, and why."""

    claim: str
    reason: str


@dataclass(frozen=True)
class Verified:
    text: str
    dropped: list[Dropped]  # claims removed, with the reason: for logs, ``ask --json`` and tests
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


def _name(word: str) -> str:
    return word.casefold().replace("’", "'").removesuffix("'s")


def _number(token: str) -> str:
    return token.replace(",", "").rstrip(".")


def unsupported(claim: str, passages: Sequence[str], *, question: str = "", prompt: str = "") -> str | None:
    """Why ``claim`` (markers and all) is not supported by ``passages`` (the texts of the sources it cites), or
    None when it is: the checks of the module docstring, after its quotations have been found verbatim."""
    text = _MARKER.sub(" ", claim)
    if _ROLE_TAG.search(text):
        return "a chat transcript, not an answer"
    quoted = " ".join(quotes(text))
    outside = _QUOTED.sub(" ", text)
    held = " ".join(passages)
    held_stems = stems(held)
    held_words = {_name(w) for w in words(held)}
    held_numbers = {_number(n) for n in _NUMBER.findall(held)}
    content = [w for w in words(outside) if w.lower().replace("’", "'") not in STOPWORDS]
    content_stems = [stem(w) for w in content] + [stem(w) for w in words(quoted) if w.lower() not in STOPWORDS]
    if not content_stems:
        return "no words of its own"
    missing_numbers = [n for n in _NUMBER.findall(outside) if _number(n) not in held_numbers]
    if missing_numbers:
        return f"numbers not in the cited passages: {', '.join(missing_numbers)}"
    first = words(outside)[:1]
    names = [w for w in content if w[:1].isupper() and not w.isdigit()]
    missing_names = [
        w for w in names if (_name(w) not in held_words if not (first and w == first[0]) else stem(w) not in held_stems)
    ]
    if missing_names:
        return f"names not in the cited passages: {', '.join(dict.fromkeys(missing_names))}"
    quoted_stems = {stem(w) for w in words(quoted)}
    found = sum(1 for t in content_stems if t in held_stems or t in quoted_stems)
    if found / len(content_stems) < SUPPORT_MIN:
        return f"only {found} of its {len(content_stems)} words are in the cited passages"
    own = set(content_stems)
    if question and own <= stems(question):
        return "repeats the question"
    if prompt:
        instructions = stems(prompt)
        if sum(1 for t in content_stems if t in instructions) / len(content_stems) >= ECHO_MIN:
            return "repeats the instructions"
    return None


def verify(text: str, sources: Mapping[int, Sequence[str]], *, question: str = "", prompt: str = "") -> Verified:
    """Keep the claims of ``text`` whose citations exist, whose quotes the cited sources contain and which the
    cited sources support (see the module docstring).

    Args:
        text: the answer with ``[n]`` markers.
        sources: citation number -> the passage texts of that source.
        question: the question asked (a claim that only repeats it is dropped).
        prompt: the instructions the model was given (a claim that repeats them is dropped).

    Returns:
        The cleaned text, what was dropped and why, and the numbers still cited.
    """
    folded = {n: [bare(p) for p in passages] for n, passages in sources.items()}
    kept: list[str] = []
    dropped: list[Dropped] = []
    cited: list[int] = []
    seen: set[str] = set()
    for paragraph in text.split("\n"):
        out_sentences: list[str] = []
        for sentence in claims(paragraph):
            valid = [n for n in markers(sentence) if n in sources]
            clean = _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in sources else "", sentence).strip()
            if not valid:
                dropped.append(Dropped(sentence, "no valid citation"))
                continue
            cited_passages = [p for n in valid for p in folded[n]]
            copied = bare(_MARKER.sub("", clean))
            if not copied.strip(" .!?"):
                dropped.append(Dropped(sentence, "no words of its own"))
                continue
            if copied.casefold() in seen:
                dropped.append(Dropped(sentence, "repeats an earlier claim"))
                continue
            # A claim copied whole from a cited passage holds; otherwise each quotation in it must, and the
            # passages must support the rest.
            if not any(copied in p for p in cited_passages):
                if not _quotes_hold(clean, cited_passages):
                    dropped.append(Dropped(sentence, "a quotation not found verbatim in the cited passages"))
                    continue
                reason = unsupported(clean, cited_passages, question=question, prompt=prompt)
                if reason is not None:
                    dropped.append(Dropped(sentence, reason))
                    continue
            seen.add(copied.casefold())
            out_sentences.append(clean)
            cited.extend(n for n in valid if n not in cited)
        if out_sentences:
            kept.append(" ".join(out_sentences))
    return Verified("\n".join(kept), dropped, cited)
