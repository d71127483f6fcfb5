"""Passages: bounded in tokens, sentence-aligned, offsets that point into the article."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunk import chunk_text
from index.sentences import split_sentences
from index.tokens import SHIPPED, count, encoding

ARTICLE = "\n\n".join(
    f"Paragraph {i}. Gov. J. Smith said on Tuesday at 3 p.m. that the U.S. plan would cost $4.5 billion. "
    f"“We consider them illegal,” he said. Officials in the region disagreed sharply with the estimate."
    for i in range(40)
)


def test_tokenizers_load_offline_from_shipped_files() -> None:
    for name in SHIPPED:
        enc = encoding(name)
        assert enc.decode(enc.encode("Kremlin spokesman Dmitry Peskov")) == "Kremlin spokesman Dmitry Peskov"
    # cl100k_base's known ids: the shipped file is the real one, not a look-alike
    assert encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_sentences_respect_abbreviations_and_quotes() -> None:
    text = 'Gov. J. Smith arrived at 3 p.m. on Friday. He said: "No." Then U.S. officials left.\nA headline'
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "Gov. J. Smith arrived at 3 p.m. on Friday.",
        'He said: "No."',
        "Then U.S. officials left.",
        "A headline",
    ]


def test_chunks_are_bounded_and_point_into_the_text() -> None:
    chunks = chunk_text(ARTICLE, max_tokens=200, overlap=30)
    assert len(chunks) > 5
    for c in chunks:
        assert ARTICLE[c.start : c.end] == c.text
        assert c.tokens <= 200
        assert count(c.text) <= 200 + 5  # sentence-wise counts differ from whole-text counts by joins only
    # overlap: each passage starts before the previous one ends, and they move forward
    for a, b in itertools.pairwise(chunks):
        assert a.start < b.start <= a.end
    # coverage: every sentence is in some passage
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    for s, e in split_sentences(ARTICLE):
        assert s in covered and e - 1 in covered


def test_an_overlong_sentence_is_cut_at_words() -> None:
    text = " ".join(["word"] * 2000)
    chunks = chunk_text(text, max_tokens=100, overlap=0)
    assert len(chunks) >= 15
    assert all(c.tokens <= 100 for c in chunks)
    assert all(not c.text.startswith(" ") and text[c.start : c.end] == c.text for c in chunks)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=30))
def test_chunking_never_loses_text(parts: list[str]) -> None:
    text = ". ".join(parts)
    chunks = chunk_text(text, max_tokens=40, overlap=10)
    covered = set()
    for c in chunks:
        assert text[c.start : c.end] == c.text
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
