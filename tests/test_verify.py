"""Citation and quote verification: nothing cited that was not read, nothing quoted that was not said."""

from __future__ import annotations

import pytest

from bot.answering.verify import claims, renumber, verify

SOURCES = {
    1: ["Peskov said: “we consider them illegal.” He spoke on Tuesday."],
    2: ["The minister called the plan “a step too far” in a statement."],
}


def test_valid_citations_and_verbatim_quotes_stay() -> None:
    text = "Peskov said sanctions are “illegal.” [1] The minister called it “a step too far” [2]."
    v = verify(text, SOURCES)
    assert v.text == text and v.dropped == [] and v.cited == [1, 2]


def test_a_number_that_points_at_no_source_is_removed() -> None:
    v = verify("Peskov spoke on Tuesday [1][9].", SOURCES)
    assert v.text == "Peskov spoke on Tuesday [1]." and v.cited == [1]


def test_a_claim_left_without_a_valid_citation_is_dropped() -> None:
    v = verify("Peskov spoke on Tuesday [1]. Moscow will retaliate [7]. Nobody knows more.", SOURCES)
    assert v.text == "Peskov spoke on Tuesday [1]."
    assert len(v.dropped) == 2


def test_an_invented_quote_is_dropped_even_with_a_citation() -> None:
    v = verify("Peskov said they are “a crime against Russia” [1]. He spoke on Tuesday [1].", SOURCES)
    assert "crime" not in v.text and v.text == "He spoke on Tuesday [1]."


def test_a_quote_must_be_in_the_source_it_cites() -> None:
    v = verify("The minister called it “a step too far” [1].", SOURCES)
    assert v.text == ""


def test_quote_style_and_spacing_do_not_matter() -> None:
    v = verify('Peskov said "we  consider them illegal." [1]', SOURCES)
    assert v.cited == [1]


def test_claims_split_after_marker_runs() -> None:
    assert claims("A said x. [1] B said y [2]. Tail") == ["A said x. [1]", "B said y [2].", "Tail"]


def test_renumber_follows_first_use() -> None:
    assert renumber("a [3] b [5][3]", [3, 5]) == "a [1] b [2][1]"


@pytest.mark.parametrize(
    "claim",
    [
        'Putin said “we will bomb London" [1].',  # mixed quotation marks
        "Putin said ‘we will bomb London’ [1].",
        "Putin said «we will bomb London» [1].",
        "Putin said „we will bomb London“ [1].",
        "Putin said “we will [1] bomb London” [1].",  # a marker inside the quotation
        "Putin said “we will bomb London [1].",  # never closed
    ],
)
def test_no_quotation_style_smuggles_words_in(claim: str) -> None:
    assert verify(claim, SOURCES).text == ""


def test_a_claim_copied_whole_from_its_source_holds_even_with_an_unclosed_quote() -> None:
    # News style leaves a quotation open at a paragraph end; a sentence copied whole is still verbatim.
    source = {1: ["“We will hire 200 people next spring,” Ruiz said. “We start in March."]}
    assert verify("“We start in March. [1]", source).text == "“We start in March. [1]"
