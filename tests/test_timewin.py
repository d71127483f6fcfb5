"""Time windows read from questions, and --since values."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.timewin import Window, parse_since, parse_window, strip_window

TODAY = date(2024, 3, 6)  # a Wednesday


def utc(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def window(question: str, today: date | datetime = TODAY) -> Window:
    found = parse_window(question, today)
    assert found is not None, question
    return found


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("What happened today?", utc(2024, 3, 6), utc(2024, 3, 7)),
        ("news from yesterday", utc(2024, 3, 5), utc(2024, 3, 6)),
        # "this week": the 7 days ending with today, today included
        ("What did the Kremlin say about sanctions this week?", utc(2024, 2, 29), utc(2024, 3, 7)),
        ("in the past week", utc(2024, 2, 29), utc(2024, 3, 7)),
        ("earlier this week", utc(2024, 2, 29), utc(2024, 3, 7)),
        ("last week", utc(2024, 2, 22), utc(2024, 2, 29)),
        ("this month", utc(2024, 3, 1), utc(2024, 3, 7)),
        ("last month", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("this year", utc(2024, 1, 1), utc(2024, 3, 7)),
        ("last year", utc(2023, 1, 1), utc(2024, 1, 1)),
        ("in the last year", utc(2023, 3, 7), utc(2024, 3, 7)),
        ("over the past 3 days", utc(2024, 3, 4), utc(2024, 3, 7)),
        ("the last two weeks", utc(2024, 2, 22), utc(2024, 3, 7)),
        ("past 6 months", utc(2023, 9, 7), utc(2024, 3, 7)),
        ("the past few days", utc(2024, 3, 4), utc(2024, 3, 7)),
        ("last 24 hours", utc(2024, 3, 6), utc(2024, 3, 7)),
        ("3 days ago", utc(2024, 3, 3), utc(2024, 3, 4)),
        ("two weeks ago", utc(2024, 2, 15), utc(2024, 2, 22)),
        ("a month ago", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("since Monday", utc(2024, 3, 4), utc(2024, 3, 7)),
        ("since Wednesday", utc(2024, 3, 6), utc(2024, 3, 7)),
        ("last Wednesday", utc(2024, 2, 28), utc(2024, 2, 29)),
        ("What did Biden say on Friday?", utc(2024, 3, 1), utc(2024, 3, 2)),
        ("since March 3", utc(2024, 3, 3), utc(2024, 3, 7)),
        ("since March 10", utc(2023, 3, 10), utc(2024, 3, 7)),
        ("since 2024-03-01", utc(2024, 3, 1), utc(2024, 3, 7)),
        ("since last week", utc(2024, 2, 22), utc(2024, 3, 7)),
        ("on March 3, 2024", utc(2024, 3, 3), utc(2024, 3, 4)),
        ("What happened 3 March 2024?", utc(2024, 3, 3), utc(2024, 3, 4)),
        ("on 2024-02-29", utc(2024, 2, 29), utc(2024, 3, 1)),
        ("on February 29", utc(2024, 2, 29), utc(2024, 3, 1)),
        ("in March 2023", utc(2023, 3, 1), utc(2023, 4, 1)),
        ("in Feb. 2024", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("in March", utc(2024, 3, 1), utc(2024, 3, 7)),
        ("in April", utc(2023, 4, 1), utc(2023, 5, 1)),
        ("What happened in May?", utc(2023, 5, 1), utc(2023, 6, 1)),
        ("what happened in may?", utc(2023, 5, 1), utc(2023, 6, 1)),
        ("news from may 3, 2023", utc(2023, 5, 3), utc(2023, 5, 4)),
        ("in 2024", utc(2024, 1, 1), utc(2024, 3, 7)),
        ("during 2022", utc(2022, 1, 1), utc(2023, 1, 1)),
        ("the floods of 2021", utc(2021, 1, 1), utc(2022, 1, 1)),
        ("in 2031", utc(2031, 1, 1), utc(2032, 1, 1)),
        ("since 2031", utc(2031, 1, 1), utc(2032, 1, 1)),
        ("in March 2031", utc(2031, 3, 1), utc(2031, 4, 1)),
        ("between March 1 and 5", utc(2024, 3, 1), utc(2024, 3, 6)),
        ("between 2020 and 2022", utc(2020, 1, 1), utc(2023, 1, 1)),
        ("from December 20 to January 5", utc(2023, 12, 20), utc(2024, 1, 6)),
        ("before 2020", utc(1900, 1, 1), utc(2020, 1, 1)),
        ("after March 1", utc(2024, 3, 2), utc(2024, 3, 7)),
        ("this weekend", utc(2024, 3, 2), utc(2024, 3, 4)),
    ],
)
def test_phrases(question: str, start: datetime, end: datetime) -> None:
    found = window(question)
    assert (found.start, found.end) == (start, end), found


@pytest.mark.parametrize(
    "question",
    [
        "What did the Kremlin say about sanctions?",
        "Who won the 2024 election?",
        "COVID-19 vaccine rules",
        "Officials may lift sanctions",
        "May lift sanctions, officials say",
        "Black Friday sales",
        "What did The Sun report?",
        "yesterday's vote",
        "last year's election",
        "the March 3 attack",
        "the March 2024 floods",
        "plans for the 1990s",
        "a 5G rollout in 12 cities",
        "What is 2024-25 budget?",
        "",
    ],
)
def test_no_window(question: str) -> None:
    assert parse_window(question, TODAY) is None


def test_labels_and_matched_phrase() -> None:
    found = window("What did Apple announce in March 2024?")
    assert found.label == "March 2024"
    assert found.matched == "in March 2024"
    assert found.span == (24, 37)
    assert window("this week").label == "this week"
    assert window("last week").label == "last week"


@pytest.mark.parametrize(
    ("question", "query"),
    [
        ("What did the Kremlin say about sanctions this week?", "What did the Kremlin say about sanctions?"),
        ("Since Monday, what did Apple announce?", "what did Apple announce?"),
        ("today's headlines", "headlines"),
        ("news on 2024-03-01 about Gaza", "news about Gaza"),
    ],
)
def test_strip_window(question: str, query: str) -> None:
    assert strip_window(question, parse_window(question, TODAY)) == query


def test_strip_without_window_keeps_question() -> None:
    assert strip_window("  Who won?  ", None) == "Who won?"


def test_time_zone_sets_the_day_boundaries() -> None:
    new_york = ZoneInfo("America/New_York")
    # 01:00 UTC on 6 March is still 5 March in New York
    found = parse_window("today", datetime(2024, 3, 6, 1, tzinfo=UTC), new_york)
    assert found is not None
    assert (found.start, found.end) == (utc(2024, 3, 5, 5), utc(2024, 3, 6, 5))
    # naive datetimes are local time
    found = parse_window("yesterday", datetime(2024, 3, 6, 23, 30), new_york)
    assert found is not None
    assert found.start == utc(2024, 3, 5, 5)


def test_hours_count_back_from_now() -> None:
    found = window("in the past 6 hours", datetime(2024, 3, 6, 10, tzinfo=UTC))
    assert (found.start, found.end) == (utc(2024, 3, 6, 4), utc(2024, 3, 7))


def test_first_phrase_wins() -> None:
    assert window("yesterday, and also in 2020").label == "yesterday"


PHRASES = [
    "today",
    "yesterday",
    "this week",
    "last week",
    "this month",
    "last month",
    "this year",
    "last year",
    "past 3 days",
    "the last 2 weeks",
    "past 13 months",
    "the past 48 hours",
    "5 days ago",
    "3 weeks ago",
    "2 months ago",
    "a year ago",
    "since Monday",
    "since Sunday",
    "last Friday",
    "since March 3",
    "on February 29",
    "in March",
    "in December",
    "in May",
    "this weekend",
    "last weekend",
    "since 2020-02-29",
    "between January 31 and February 2",
    "the day before yesterday",
]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/London"]


@given(
    today=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    phrase=st.sampled_from(PHRASES),
    zone=st.sampled_from(ZONES),
)
def test_windows_are_well_formed(today: date, phrase: str, zone: str) -> None:
    tz = ZoneInfo(zone)
    found = parse_window(f"What happened {phrase}?", today, tz)
    assert found is not None
    assert found.start < found.end
    assert found.start.tzinfo is UTC and found.end.tzinfo is UTC
    end_of_today = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    if found.start < end_of_today:  # only explicit future dates ("since 2031") start later
        assert found.end <= end_of_today
    if phrase == "today":
        assert found.start <= datetime.combine(today, datetime.min.time(), tzinfo=tz) < found.end
    if phrase == "this week":
        assert found.start.astimezone(tz).date() == today - timedelta(days=6)


@given(
    today=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    year=st.integers(min_value=1900, max_value=2099),
)
def test_years_in_the_future_stay_whole(today: date, year: int) -> None:
    found = parse_window(f"What happened in {year}?", today)
    assert found is not None
    assert found.start == utc(year, 1, 1)
    end_of_today = utc(today.year, today.month, today.day) + timedelta(days=1)
    if found.start < end_of_today:
        assert found.end == min(utc(year + 1, 1, 1), end_of_today)
    else:  # a year in the future is kept whole: the archive simply has nothing then
        assert found.end == utc(year + 1, 1, 1)
    assert parse_window(f"Who won the {year} election?", today) is None


# "may" is the month only after an introducer ("in may?"), or with a day or year ("may 3, 2024").
WORDS = ["the", "Kremlin", "said", "sanctions", "may", "lift", "election", "vote", "Apple", "rates", "about", "?"]


@given(st.lists(st.sampled_from(WORDS), max_size=12))
def test_questions_without_time_words_have_no_window(words: list[str]) -> None:
    assert parse_window(" ".join(words), TODAY) is None


NOW = datetime(2024, 3, 6, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(days=14)),
        ("30m", NOW - timedelta(minutes=30)),
        (" 3 days ", NOW - timedelta(days=3)),
        ("today", utc(2024, 3, 6)),
        ("yesterday", utc(2024, 3, 5)),
        ("2024-03-01", utc(2024, 3, 1)),
        ("2024-03-01T08:00", utc(2024, 3, 1, 8)),
        ("2024-03-01T08:00+02:00", utc(2024, 3, 1, 6)),
        ("2024-03-01T08:00Z", utc(2024, 3, 1, 8)),
    ],
)
def test_parse_since(value: str, expected: datetime) -> None:
    assert parse_since(value, NOW) == expected


def test_parse_since_reads_dates_in_nows_zone() -> None:
    now = datetime(2024, 3, 6, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert parse_since("2024-03-01", now) == datetime(2024, 2, 29, 23, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "soon", "24", "h24", "2024-13-01", "2024-02-30", "2024-03-01T25:00"])
def test_parse_since_rejects_with_a_clear_message(value: str) -> None:
    # The message names the value; the caller names the option (--since or --until).
    with pytest.raises(ValueError, match=f"^{re.escape(repr(value))}: ") as caught:
        parse_since(value, NOW)
    assert "--since" not in str(caught.value)
