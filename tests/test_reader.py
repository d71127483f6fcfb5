"""The question-aware reader and the three kinds of reply, on cases like the ones newsqa-dev showed: a reply
that leads with the name, the number or the speaker's own words asked for; a subheading that only repeats the
question never leads; a question whose event the archive only previews gets "related coverage", not an answer.

The articles are our own writing, built once per module (a few passages embedded with the real model).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.answering import AnswerEngine, QuestionContext
from bot.answering.questions import answers, asked
from bot.settings import Settings
from index.archive import Archive
from index.article import ArticleRecord
from index.ingest import ingest

TODAY = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)


def _article(slug: str, title: str, day: int, *paragraphs: str, source: str = "Harbor Times") -> ArticleRecord:
    return ArticleRecord(
        url=f"https://news.example/{slug}",
        title=title,
        text="\n\n".join(paragraphs),
        published=datetime(2026, 3, day, 9, 0, tzinfo=UTC),
        source=source,
        origin="reader tests",
    )


ARTICLES = [
    _article(
        "bridge-old",
        "Mayor opens new footbridge over the Velmar river",
        2,
        "Mayor Karin Holt opened the new footbridge over the Velmar river on Monday, the city's first new "
        "footbridge in forty years, linking the old town with the station district.",
        source="Northern Ledger",
    ),
    _article(
        "bridge-new",
        "Mayor opens new footbridge over the Orla river",
        17,
        "Mayor Petter Lund opened the new footbridge over the Orla river on Tuesday, linking the harbour with "
        "the market square.",
        source="Northern Ledger",
    ),
    _article(
        "harbour-master",
        "Mayor names Ola Vik the new harbour master",
        16,
        "Mayor Elin Sandvik on Monday named Ola Vik, a former ferry captain, as Velmar's new harbour master.",
        "“Ola Vik has kept our ferries running through twenty winters and knows every rock in this harbour,” "
        "Sandvik said in a statement. “Ola is calm, tireless and fair, and the port will be safer for it.”",
        "Vik takes up the post in May.",
    ),
    _article(
        "series",
        "Everything to know about the new 'Lantern House' series",
        10,
        "Who is starring in the 'Lantern House' series?",
        "The 'Lantern House' series premieres on Streamwave on March 28 with all eight episodes.",
        "Tomas Berglund stars opposite Ines Varga in the drama, which follows two keepers of a remote "
        "lighthouse during the winter of 1952.",
        "The show was filmed on the island of Saltholm over four months last year.",
    ),
    _article(
        "club",
        "Members of the Harbour Club vote on admitting women",
        12,
        "The Harbour Club, one of the oldest private members' clubs in Velmar, voted on Tuesday on whether to "
        "admit women for the first time in its history.",
        "The club, founded in 1831 and housed in a former customs building on the quay, reportedly has 1,300 "
        "members, among them judges, bankers and two former mayors.",
        "The result of the vote is expected next week.",
    ),
    _article(
        "mayor",
        "Mayor Elin Sandvik defends harbour tax after council row",
        14,
        "Velmar's mayor, Elin Sandvik, defended the new harbour tax on Friday after a heated council meeting, "
        "where opposition members called it a burden on fishermen.",
        "“I do not regret choosing the harbour over the headlines,” Sandvik told reporters after the meeting.",
        "The tax, which takes effect in April, will fund repairs to the north pier.",
    ),
    _article(
        "final-preview",
        "Velmar United face Orla Rovers in Sunday's cup final",
        18,
        "Velmar United will face Orla Rovers in the national cup final on Sunday, in what coach Petra Holm "
        "called the biggest match of the club's history.",
        "The match is expected to draw 30,000 fans to the national stadium, and tickets sold out in an hour.",
        "Holm said her side would need to be at its very best against a Rovers team that has not lost since October.",
    ),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnswerEngine]:
    home = tmp_path_factory.mktemp("reader") / "home"
    settings = Settings(home=home)
    archive = Archive(settings)
    report = ingest(archive, ARTICLES)
    assert report.added == len(ARTICLES) and not report.failed
    yield AnswerEngine(archive, settings)
    archive.close()


def ask(engine: AnswerEngine, question: str) -> str:
    answer = engine.answer_sync(question, QuestionContext(today=TODAY))
    assert not answer.abstained, answer.text
    return answer.text


def test_a_who_question_leads_with_the_name_not_with_a_subheading_repeating_it(engine: AnswerEngine) -> None:
    text = ask(engine, "Who stars opposite Tomas Berglund in the 'Lantern House' series?")
    assert text.startswith("Tomas Berglund stars opposite Ines Varga")
    assert "Who is starring" not in text.split("[1]")[0]


def test_a_how_many_question_leads_with_the_number(engine: AnswerEngine) -> None:
    text = ask(engine, "How many members does Velmar's Harbour Club reportedly have?")
    assert text.split("[1]")[0].count("1,300 members") == 1


def test_a_what_did_x_say_question_leads_with_their_own_words(engine: AnswerEngine) -> None:
    text = ask(engine, "What did Elin Sandvik say she doesn't regret after the council row?")
    assert text.startswith("“I do not regret choosing the harbour over the headlines,” Sandvik told reporters")


def test_a_quotation_that_goes_on_after_its_attribution_is_kept_whole(engine: AnswerEngine) -> None:
    text = ask(engine, "How did Mayor Elin Sandvik describe Ola Vik when she named him harbour master?")
    assert "calm, tireless and fair" in text.split("[1]")[0]


def test_of_two_like_stories_the_newer_one_leads(engine: AnswerEngine) -> None:
    text = ask(engine, "Which mayor opened the new footbridge?")
    assert text.startswith("Mayor Petter Lund opened the new footbridge"), text


def test_a_question_about_a_result_the_archive_only_previews_gets_related_coverage(engine: AnswerEngine) -> None:
    answer = engine.answer_sync(
        "Who won the cup final between Velmar United and Orla Rovers?", QuestionContext(today=TODAY)
    )
    assert answer.abstained and answer.related
    assert answer.text.startswith("Nothing in the archive answers that directly; the closest coverage is")
    assert answer.citations and answer.citations[0].title == "Velmar United face Orla Rovers in Sunday's cup final"


def test_a_question_about_nothing_in_the_archive_gets_the_plain_refusal(engine: AnswerEngine) -> None:
    answer = engine.answer_sync("What did the Kremlin say about oil exports to India?", QuestionContext(today=TODAY))
    assert answer.abstained and not answer.related and not answer.citations


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who stars opposite Donald Glover in the series?", "name"),
        ("Which union represents the striking workers?", "name"),
        ("How many members does the club have?", "number"),
        ("By how much is Spotify raising its prices?", "number"),
        ("What percentage of adults have allergies?", "number"),
        ("When does her term begin?", "date"),
        ("Where will the draft be held?", "place"),
        ("In which Texas town is the egg facility?", "place"),
        ("What did Kevin McCarthy say he doesn't regret?", "quote"),
        ("How did Trump describe Susie Wiles?", "quote"),
        ("Why was the launch pushed back?", "other"),
    ],
)
def test_what_a_question_asks_for(question: str, kind: str) -> None:
    assert asked(question).kind == kind


def test_an_answer_the_question_already_names_is_no_answer() -> None:
    question = "How deep was the 6.8 magnitude earthquake near the Mariana Islands?"
    assert not answers("number", "A powerful 6.8 magnitude earthquake struck near the Mariana Islands.", question)
    assert answers("number", "The quake struck 132 miles deep, the USGS said.", question)
    assert not answers("name", "Who is starring in the 'Mr. & Mrs. Smith' series?", "Who stars in 'Mr. & Mrs. Smith'?")
    assert answers("name", "Maya Erskine stars opposite Donald Glover.", "Who stars opposite Donald Glover?")
    assert answers("date", "Her term will begin on Oct. 1, 2024.", "When does Claudia Sheinbaum's term begin?")
    tests = "How many free COVID tests can each household order?"
    assert answers("number", "Each household can receive up to four free tests.", tests)
    for no_quantity in (
        "Households will be able to order free COVID-19 tests at the end of September.",  # part of a name
        "The site opened just after 6 a.m. on Oct. 1.",  # a clock time, a date
        "The program first ran in 2022.",  # a year
    ):
        assert not answers("number", no_quantity, tests), no_quantity
    assert answers("place", "The draft will be held at the Brooklyn Academy of Music.", "Where is the draft held?")


def test_the_fixture_articles_are_ours(tmp_path: Path) -> None:
    assert all(a.url.startswith("https://news.example/") for a in ARTICLES)


def test_a_question_about_the_us_is_not_answered_from_sentences_about_us(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    with Archive(settings) as archive:
        farm = _article(
            "farm",
            "Dairy farmers count the cost of the blackout",
            19,
            "“We milked 180 cows with a borrowed generator and nobody told us anything for four hours,” said Jens "
            "Halvorsen, who runs a dairy farm near Brenna.",
            "Farmers across Eastmark lost a day's milk when the power failed this week.",
        )
        ingest(archive, [farm])
        answer = AnswerEngine(archive, settings).answer_sync(
            "What happened in the US this week?", QuestionContext(today=TODAY)
        )
    assert answer.abstained and not answer.related and not answer.citations
