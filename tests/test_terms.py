"""Words, stopwords and stems (index/terms.py): the one place search, answers and digests share."""

from __future__ import annotations

import pytest

from index.terms import STOPWORDS, acronyms, query_terms, stem, stems, words


@pytest.mark.parametrize(
    ("word", "expected"),
    [("rates", "rate"), ("rate", "rate"), ("voted", "vote"), ("prices", "price"), ("sanctions", "sanction"),
     ("Kremlin's", "kremlin"), ("Brandt’s", "brandt"), ("policies", "polici"), ("policy", "polici")],
)  # fmt: skip
def test_the_snowball_stemmer_meets_word_forms(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_query_terms_keep_content_words_once_in_order() -> None:
    assert query_terms("What did the Kremlin’s spokesman say about the sanctions, the SANCTIONS?") == [
        "kremlin's",
        "spokesman",
        "sanctions",
    ]
    assert "happened" in STOPWORDS and "news" in STOPWORDS


def test_an_abbreviation_with_full_stops_is_one_word() -> None:
    assert words("The U.S. and the U.K. agreed.") == ["The", "US", "and", "the", "UK", "agreed"]


def test_a_name_in_capitals_matches_only_in_capitals() -> None:
    capitals = acronyms("What happened in the US this week?")
    assert capitals == {"us"}
    assert "us" not in stems("“Nobody told us anything,” he said.", capitals=capitals)
    assert "us" in stems("The U.S. economy grew 2%.", capitals=capitals)
    assert "us" in stems("Nobody told us anything.")  # without the question's capitals, the word is the word
    assert acronyms("WHAT HAPPENED IN THE US?") == frozenset()  # a question all in capitals names nothing so
