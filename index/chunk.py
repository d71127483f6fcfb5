"""Passages: sentence-aware, bounded in tiktoken tokens, with a small overlap and character offsets.

Offsets point into the stored article text, so a quote taken from a passage can be verified against the article
later (``text[start:end] == passage``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.sentences import split_sentences
from index.tokens import encoding

_WORD_END = re.compile(r"\s+")


@dataclass(frozen=True)
class Chunk:
    """A passage of an article: ``text == article_text[start:end]``."""

    index: int
    start: int
    end: int
    text: str
    tokens: int


def chunk_text(text: str, *, max_tokens: int = 220, overlap: int = 30, tokenizer: str = "cl100k_base") -> list[Chunk]:
    """Cut ``text`` into passages of at most about ``max_tokens`` tokens at sentence boundaries.

    Consecutive passages share up to ``overlap`` tokens of whole sentences. A sentence longer than
    ``max_tokens`` is cut at word boundaries.

    Args:
        text: the article text (normalised).
        max_tokens: the passage budget.
        overlap: tokens of trailing sentences repeated at the start of the next passage.
        tokenizer: the tiktoken encoding that counts tokens.

    Returns:
        The passages, in order, covering the whole text.
    """
    enc = encoding(tokenizer)
    units: list[tuple[int, int, int]] = []  # (start, end, tokens) of sentences or sentence pieces
    for s, e in split_sentences(text):
        n = len(enc.encode_ordinary(text[s:e]))
        if n <= max_tokens:
            units.append((s, e, n))
        else:
            units.extend(_split_long(text, s, e, max_tokens, enc))
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= max_tokens):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(len(chunks), start, end, text[start:end], total))
        if j >= len(units):
            break
        # Step back over whole sentences for the overlap, but always move forward.
        k, back = j, 0
        while k - 1 > i and back + units[k - 1][2] <= overlap:
            back += units[k - 1][2]
            k -= 1
        i = k
    return chunks


def _split_long(text: str, s: int, e: int, max_tokens: int, enc: object) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence at word boundaries into pieces of at most ``max_tokens`` tokens."""
    from tiktoken import Encoding

    assert isinstance(enc, Encoding)
    pieces: list[tuple[int, int, int]] = []
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[s:e])]
    cur_start: int | None = None
    cur_end = 0
    cur_tokens = 0
    for ws, we in words:
        n = len(enc.encode_ordinary(" " + text[s + ws : s + we]))
        if cur_start is not None and cur_tokens + n > max_tokens:
            pieces.append((s + cur_start, s + cur_end, cur_tokens))
            cur_start, cur_tokens = None, 0
        if cur_start is None:
            cur_start = ws
        cur_end = we
        cur_tokens += n
    if cur_start is not None:
        pieces.append((s + cur_start, s + cur_end, cur_tokens))
    return pieces
