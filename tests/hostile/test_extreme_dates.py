"""Dates at the ends of the calendar are usage errors, never tracebacks (issue 9, item 4).

``--since 99999999999d``, ``--today 9999-12-31`` or ``0001-01-01`` and ``digest --since 100000000d`` raised
OverflowError ("date value out of range"). The property tests drive the parsers with whatever hypothesis finds;
the CLI cases check the named probes end as exit 2 with one line.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.cli import cli
from index.timewin import Window, parse_since, parse_window

ZONES = [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=5, minutes=45))]
REFERENCE_MIN, REFERENCE_MAX = date(2, 1, 1), date(9998, 12, 31)  # what --today and the bot's clock may be


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "x", "--since", "99999999999d"],
        ["ask", "x", "--until", "99999999999d"],
        ["ask", "x", "--since", "99999999999999999999999999w"],
        ["ask", "x", "--since", "0001-01-01T00:00+05:00"],
        ["ask", "x", "--until", "9999-12-31T23:59-12:00"],
        ["ask", "what happened this week?", "--today", "9999-12-31"],
        ["ask", "what happened this week?", "--today", "0001-01-01"],
        ["ask", "in the past 3 years?", "--today", "0001-06-01T00:00+05:00"],
        ["digest", "--since", "100000000d"],
        ["digest", "--until", "99999999999h"],
    ],
)
def test_extreme_dates_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: Invalid value for --"), result.stderr
    assert "range" in lines[-1] or "must be between" in lines[-1]


def test_the_far_past_and_future_within_range_still_answer() -> None:
    for today in ("0002-01-01", "9998-12-31"):
        result = CliRunner().invoke(cli, ["ask", "what happened in the past 12 months?", "--today", today])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output


# --- properties: whatever the input, a result or a ValueError -----------------------------------------------

_UNITS = ["m", "min", "minutes", "h", "hours", "d", "days", "w", "weeks"]
since_values = st.one_of(
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10**30), st.sampled_from(_UNITS)),
    st.dates().map(date.isoformat),
    st.builds(
        lambda d, h, m, off: f"{d.isoformat()}T{h:02d}:{m:02d}{off}",
        st.dates(),
        st.integers(0, 23),
        st.integers(0, 59),
        st.sampled_from(["", "Z", "+00:00", "+14:00", "-12:00", "+23:59", "-23:59"]),
    ),
    st.sampled_from(["today", "yesterday", "", "7", "d7", "9999-99-99", "0000-01-01"]),
    st.text(max_size=30),
)
references = st.builds(
    lambda d, zone: datetime(d.year, d.month, d.day, 12, tzinfo=zone),
    st.dates(min_value=REFERENCE_MIN, max_value=REFERENCE_MAX),
    st.sampled_from(ZONES),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=since_values, now=references)
def test_parse_since_gives_a_moment_or_a_value_error(value: str, now: datetime) -> None:
    try:
        moment = parse_since(value, now)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert moment.tzinfo is not None


_NUMBERS = st.one_of(st.integers(0, 99999).map(str), st.sampled_from(["a", "one", "twelve", "a few", "couple of"]))
_YEARS = st.integers(0, 9999).map(lambda y: f"{y:04d}")
_MONTHS = st.sampled_from(["January", "May", "may", "Sept.", "December", "Feb"])
_DAYS = st.integers(0, 39).map(str)
_PHRASES = st.one_of(
    st.builds(lambda n, u: f"in the past {n} {u}", _NUMBERS, st.sampled_from(["hours", "days", "weeks", "months"])),
    st.builds(lambda n, u: f"in the last {n} {u}", _NUMBERS, st.sampled_from(["years", "yrs", "d", "w"])),
    st.builds(lambda n, u: f"{n} {u} ago", _NUMBERS, st.sampled_from(["hours", "days", "weeks", "months", "years"])),
    st.builds(
        lambda kw, y: f"{kw} {y}", st.sampled_from(["since", "after", "before", "until", "in", "during"]), _YEARS
    ),
    st.builds(lambda m, d, y: f"on {m} {d}, {y}", _MONTHS, _DAYS, _YEARS),
    st.builds(lambda y, m, d: f"on {y}-{m:02d}-{d:02d}", _YEARS, st.integers(0, 19), st.integers(0, 39)),
    st.builds(lambda a, b: f"between {a} and {b}", _YEARS, _YEARS),
    st.builds(lambda m, d, e: f"from {m} {d} to {e}", _MONTHS, _DAYS, _DAYS),
    st.sampled_from(
        [
            "this week",
            "last week",
            "this month",
            "last year",
            "this past year",
            "yesterday",
            "today",
            "the day before yesterday",
            "last Monday",
            "this weekend",
            "since the start of 9999",
            "since December 31",
            "on February 29",
        ]
    ),
)
questions = st.builds(lambda p, tail: f"what happened {p}{tail}", _PHRASES, st.sampled_from(["?", "'s news", ""]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=questions, today=st.dates(min_value=REFERENCE_MIN, max_value=REFERENCE_MAX), zone=st.sampled_from(ZONES)
)
@example(question="what happened on 0001-01-01?", today=date(2000, 1, 1), zone=ZONES[1])  # UTC is year 0 there
@example(question="what happened this week?", today=REFERENCE_MIN, zone=ZONES[1])
@example(question="what happened since the start of 9999?", today=REFERENCE_MAX, zone=ZONES[2])
def test_parse_window_never_raises_for_a_reference_date_in_range(question: str, today: date, zone: timezone) -> None:
    window = parse_window(question, today, zone)
    assert window is None or (isinstance(window, Window) and window.start < window.end)


out_of_range = st.one_of(
    st.dates(max_value=REFERENCE_MIN - timedelta(days=1)), st.dates(min_value=REFERENCE_MAX + timedelta(days=1))
)


@settings(max_examples=100, deadline=None)
@given(question=questions, today=out_of_range, zone=st.sampled_from(ZONES))
@example(question="what happened this week?", today=date(9999, 12, 31), zone=UTC)
@example(question="what happened this week?", today=date(1, 1, 1), zone=UTC)
def test_parse_window_refuses_reference_dates_out_of_range(question: str, today: date, zone: timezone) -> None:
    with pytest.raises(ValueError, match="the reference date must be between 0002-01-01 and 9998-12-31"):
        parse_window(question, today, zone)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.dates().map(date.isoformat), since_values))
def test_parse_today_gives_a_date_in_range_or_a_value_error(value: str) -> None:
    from index.timewin import parse_today

    try:
        parsed = parse_today(value)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parsed.tzinfo is not None and REFERENCE_MIN <= parsed.date() <= REFERENCE_MAX
