"""Time windows read from the question itself ("this week", "since Monday", "in March 2024") and ``--since``.

A window is a half-open UTC interval ``[start, end)`` resolved against a reference date (``today``) in the
reader's time zone: days begin at local midnight.

Decisions, so that callers and tests agree:

- **"this week"** is the 7 days ending with ``today`` (``today`` included), as news quizzes such as RealTimeQA
  use it; "the past week", "the last week" and "this past week" mean the same. **"last week"** (without "the")
  is the 7 days before that; "last month" and "last year" are the previous calendar month and year, while
  "this month" and "this year" run from their first day to the end of ``today``.
- "past N days/weeks/months/years" ends with ``today`` and starts N units back (day after the same date);
  "past N hours" starts N hours before now (the end of ``today`` when ``today`` is a date).
- "N days ago" is that one day, "N weeks ago" the 7-day week N weeks back, "N months/years ago" that calendar
  month/year, "N hours ago" since that hour.
- A year-less date ("in March", "since March 3", "on Monday") is the most recent one that has begun by
  ``today``; "last Monday" is the most recent Monday before ``today``.
- **Bare years and months are topics, not windows**: "the 2024 election", "COVID-19", "March 2024 floods"
  give no window. A year, month or year-less date is a window only when introduced by in / on / during / of /
  from / over / within / throughout / since / after / before / until / between. Full dates ("March 3, 2024",
  "2024-03-03"), weekdays, and relative phrases ("yesterday", "this week") need no introducer.
- A phrase followed by a possessive ("yesterday's vote", "last year's election") is a topic, not a window.
- "may" in lower case is the verb unless a day or year follows ("may 3, 2024"); "May" capitalised is the
  month.
- Windows never end after the end of ``today``; a window that starts after it is kept whole ("in 2031": the
  archive simply has nothing then).
- With several time phrases, the first (then the longest) wins.

One module of about 600 lines on purpose: the decisions above and the patterns that implement them are one
grammar, read and changed together (the property tests in tests/hostile/test_extreme_dates.py hold it).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

__all__ = ["EARLIEST_TODAY", "LATEST_TODAY", "Window", "check_today", "parse_since", "parse_today", "parse_window"]
__all__ += ["strip_window"]

_FLOOR = date(1900, 1, 1)
EARLIEST_TODAY = date(2, 1, 1)
LATEST_TODAY = date(9998, 12, 31)
"""The reference dates windows are resolved against: a year inside Python's date range on each side, so that
"this week" or "last year" around them can be computed."""


@dataclass(frozen=True)
class Window:
    """A time window found in a question.

    Attributes:
        start: inclusive start, timezone-aware UTC.
        end: exclusive end, timezone-aware UTC.
        label: a short description ("this week", "March 2024", "since 2024-03-04").
        matched: the words of the question that named the window ("in March 2024").
        span: where ``matched`` sits in the question, as ``(start, end)`` character offsets.
    """

    start: datetime
    end: datetime
    label: str
    matched: str
    span: tuple[int, int]


class _Range(NamedTuple):
    start: datetime  # local, aware
    end: datetime  # local, aware
    label: str
    explicit_year: bool = True


class _Ctx(NamedTuple):
    today: date
    now: datetime  # local, aware
    tz: tzinfo

    def at(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz)

    def days(self, first: date, stop: date, label: str, explicit_year: bool = True) -> _Range:
        return _Range(self.at(first), self.at(stop), label, explicit_year)


# --- vocabulary -------------------------------------------------------------------------------------------

_MONTH_NAMES = "january jan|february feb|march mar|april apr|may|june jun|july jul|august aug|september sep sept"
_MONTHS = {
    name: i
    for i, names in enumerate(f"{_MONTH_NAMES}|october oct|november nov|december dec".split("|"), start=1)
    for name in names.split()
}
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {name: i for i, name in enumerate(_DAY_NAMES)}
_COUNTS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_NUMBER_WORDS = {**{word: i for i, word in enumerate(_COUNTS, 1)}, "a": 1, "an": 1, "couple": 2, "few": 3}
# Weekday names that are part of a name, not a date: "Black Friday" is a topic.
_WEEKDAY_NAMES_BEFORE = {"black", "cyber", "good", "super", "ash", "holy", "palm", "bloody", "easter"}

_FULL_MONTH = r"(?:january|february|march|april|june|july|august|september|october|november|december)"
_ABBR_MONTH = r"(?:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?"
# A month followed by a day or year: any spelling, "may" included.
_MONTH_ANY = rf"(?:{_FULL_MONTH}|may|{_ABBR_MONTH})"
# A month on its own: full names, "May" capitalised, or "may" closing a clause ("in may?").
_MONTH_ALONE = rf"(?:{_FULL_MONTH}|(?-i:May)|may(?=\s*(?:[?.!,;:]|$)))"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b"
_YEAR = r"(?P<year>(?:19|20)\d\d)\b(?!-\d)"
# Full names only: "The Sun", "sat down" and "wed" are not days.
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
_NUMBER = (
    r"(?:\d{1,4}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|(?:a\s+)?couple(?:\s+of)?|(?:a\s+)?few)"
)
_UNIT = r"(?:hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?|years?|yrs?)"

# Terms: calendar dates, months, years, weekdays. Each is (name, pattern with named groups).
_TERMS: list[tuple[str, str]] = [
    ("iso_day", r"(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})\b"),
    ("mdy_y", rf"(?P<month>{_MONTH_ANY})\s+{_DAY},?\s+{_YEAR}"),
    ("mdy", rf"(?P<month>{_MONTH_ANY})\s+{_DAY}"),
    ("dmy_y", rf"{_DAY}\s+(?:of\s+)?(?P<month>{_MONTH_ANY}),?\s+{_YEAR}"),
    ("dmy", rf"{_DAY}\s+(?:of\s+)?(?P<month>{_FULL_MONTH}|(?-i:May)|{_ABBR_MONTH})"),
    ("iso_month", r"(?P<year>\d{4})-(?P<month>\d{2})\b(?!-\d)"),
    ("my", rf"(?P<month>{_MONTH_ANY}),?\s+(?:of\s+)?{_YEAR}"),
    ("month", rf"(?P<month>{_MONTH_ALONE})"),
    ("year", _YEAR),
    ("weekday", rf"(?:(?P<which>last|this|past)\s+)?(?P<weekday>{_WEEKDAY})"),
]
# Relative phrases: always windows, with or without an introducer.
_RELATIVE: list[tuple[str, str]] = [
    ("day_before", r"(?:the\s+)?day\s+before\s+yesterday"),
    ("today", r"(?:earlier\s+)?today|tonight|this\s+(?:morning|afternoon|evening)"),
    ("yesterday", r"yesterday|last\s+night"),
    (
        "past_n",
        rf"(?:the\s+)?(?:past|last|previous|recent)\s+(?P<n>{_NUMBER})\s*(?P<unit>{_UNIT})\b(?!\s+of\b)",
    ),
    ("ago", rf"(?P<n>{_NUMBER})\s*(?P<unit>{_UNIT})\s+ago\b"),
    ("weekend", r"(?P<which>this|last)\s+weekend"),
    (
        "period",
        r"(?:earlier\s+)?(?P<the>the\s+)?(?P<which>this\s+past|this|past|last|previous)\s+"
        r"(?P<unit>week|month|year)\b(?!\s+of\b)",
    ),
]
# Terms that are windows without an introducer: unambiguous full dates and weekdays.
_BARE_TERMS = {"iso_day", "mdy_y", "dmy_y", "weekday"}


def _unnamed(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


_FLAGS = re.IGNORECASE
_TERM_RES = [(name, re.compile(pattern, _FLAGS)) for name, pattern in _TERMS]
_RELATIVE_RES = [(name, re.compile(pattern, _FLAGS)) for name, pattern in _RELATIVE]

_TERM = "|".join(_unnamed(p) for _, p in _TERMS)
_REL = "|".join(_unnamed(p) for _, p in _RELATIVE)
_EXPR = rf"(?:{_REL}|{_TERM})"
_STRONG = "|".join(_unnamed(p) for n, p in _TERMS if n in _BARE_TERMS)
_BEGIN = r"(?<![\w/-])"
_END = r"(?![\w/]|-\d)"
_POSSESSIVE = re.compile(r"['’]s\b")
_INTRO = r"(?:in|on|during|of|from|over|within|throughout)"
_QUALIFIER = r"(?:(?:the\s+)?(?:year|month)\s+(?:of\s+)?|(?:early|late|mid|the\s+(?:start|end)\s+of)[\s-]+)?"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "between",
        re.compile(
            rf"{_BEGIN}(?:between|from)\s+(?P<a>{_EXPR})\s+(?:and|to|until|till|through|thru|-|–)\s+"
            rf"(?P<b>{_EXPR}|\d{{1,2}}(?:st|nd|rd|th)?){_END}",
            _FLAGS,
        ),
    ),
    (
        "since",
        re.compile(
            rf"{_BEGIN}(?P<kw>since|after|before|until|till)\s+(?:the\s+(?:start|beginning)\s+of\s+)?"
            rf"(?P<x>{_EXPR}){_END}",
            _FLAGS,
        ),
    ),
    ("in", re.compile(rf"{_BEGIN}{_INTRO}\s+{_QUALIFIER}(?P<x>{_EXPR}){_END}", _FLAGS)),
    ("bare", re.compile(rf"{_BEGIN}(?P<x>{_REL}|{_STRONG}){_END}", _FLAGS)),
]


# --- calendar arithmetic ----------------------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _next_month(day: date) -> date:
    return _add_months(day.replace(day=1), 1)


def _number(text: str) -> int:
    text = re.sub(r"\s+", " ", text.lower()).removeprefix("a ").removesuffix(" of")
    return int(text) if text.isdigit() else _NUMBER_WORDS[text]


def _unit(text: str) -> str:
    return {"h": "hour", "d": "day", "w": "week", "m": "month", "y": "year"}[text[0].lower()]


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


# --- resolving terms and relative phrases -----------------------------------------------------------------


def _resolve_term(name: str, m: re.Match[str], ctx: _Ctx) -> _Range | None:
    today = ctx.today
    groups = m.groupdict()
    year = int(groups["year"]) if groups.get("year") else None
    month_text = (groups.get("month") or "").lower().rstrip(".")
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text)
    day = int(groups["day"]) if groups.get("day") else None

    if name == "weekday":
        weekday = _WEEKDAYS[groups["weekday"].lower().rstrip(".")]
        back = (today.weekday() - weekday) % 7
        if (groups.get("which") or "").lower() in {"last", "past"} and back == 0:
            back = 7
        found = today - timedelta(days=back)
        return ctx.days(found, found + timedelta(days=1), f"{found:%A} {found.isoformat()}", False)
    if name == "year":
        assert year is not None
        return ctx.days(date(year, 1, 1), date(year + 1, 1, 1), str(year))
    assert month is not None
    if not 1 <= month <= 12:
        return None
    if day is None:
        explicit = year is not None
        if year is None:
            year = today.year if month <= today.month else today.year - 1
        first = date(year, month, 1)
        return ctx.days(first, _next_month(first), f"{first:%B %Y}", explicit)
    explicit = year is not None
    if year is None:
        # The most recent such date that has begun: step back over years (29 February needs up to 8).
        for back in range(9):
            candidate_year = today.year - back
            if day <= calendar.monthrange(candidate_year, month)[1] and date(candidate_year, month, day) <= today:
                year = candidate_year
                break
        else:
            return None
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return ctx.days(found, found + timedelta(days=1), found.isoformat(), explicit)


def _resolve_relative(name: str, m: re.Match[str], ctx: _Ctx) -> _Range | None:
    today = ctx.today
    tomorrow = today + timedelta(days=1)
    groups = m.groupdict()
    if name == "day_before":
        day = today - timedelta(days=2)
        return ctx.days(day, day + timedelta(days=1), "the day before yesterday")
    if name == "today":
        return ctx.days(today, tomorrow, "today")
    if name == "yesterday":
        day = today - timedelta(days=1)
        return ctx.days(day, today, "yesterday")
    if name == "weekend":
        saturday = today - timedelta(days=(today.weekday() - 5) % 7)
        if groups["which"].lower() == "last" and today.weekday() >= 5:
            saturday -= timedelta(days=7)
        return ctx.days(saturday, saturday + timedelta(days=2), f"{groups['which'].lower()} weekend")
    if name == "period":
        which = re.sub(r"\s+", " ", groups["which"].lower())
        unit = groups["unit"].lower()
        if which == "this":
            if unit == "week":
                return ctx.days(today - timedelta(days=6), tomorrow, "this week")
            first = today.replace(day=1) if unit == "month" else date(today.year, 1, 1)
            return ctx.days(first, tomorrow, f"this {unit}")
        if which in {"past", "this past"} or (which == "last" and groups.get("the")):
            return _past(ctx, 1, unit)
        # "last week", "previous month": the whole period before the current one
        if unit == "week":
            return ctx.days(today - timedelta(days=13), today - timedelta(days=6), "last week")
        if unit == "month":
            first = _add_months(today.replace(day=1), -1)
            return ctx.days(first, today.replace(day=1), "last month")
        return ctx.days(date(today.year - 1, 1, 1), date(today.year, 1, 1), "last year")
    n = _number(groups["n"])
    unit = _unit(groups["unit"])
    if n <= 0:
        return None
    if name == "past_n":
        return _past(ctx, n, unit)
    # "N units ago"
    if unit == "hour":
        return _Range(ctx.now - timedelta(hours=n), ctx.at(tomorrow), f"since {_plural(n, unit)} ago")
    if unit == "day":
        day = today - timedelta(days=n)
        return ctx.days(day, day + timedelta(days=1), f"{_plural(n, unit)} ago")
    if unit == "week":
        last = today - timedelta(days=7 * n)
        return ctx.days(last - timedelta(days=6), last + timedelta(days=1), f"{_plural(n, unit)} ago")
    if unit == "month":
        first = _add_months(today.replace(day=1), -n)
        return ctx.days(first, _next_month(first), f"{_plural(n, unit)} ago")
    return ctx.days(date(today.year - n, 1, 1), date(today.year - n + 1, 1, 1), f"{_plural(n, unit)} ago")


def _past(ctx: _Ctx, n: int, unit: str) -> _Range:
    today = ctx.today
    tomorrow = today + timedelta(days=1)
    label = f"past {_plural(n, unit)}" if n != 1 else f"past {unit}"
    if unit == "hour":
        return _Range(ctx.now - timedelta(hours=n), ctx.at(tomorrow), label)
    if unit == "day":
        first = today - timedelta(days=n - 1)
    elif unit == "week":
        first = today - timedelta(days=7 * n - 1)
    else:
        first = _add_months(today, -n * (12 if unit == "year" else 1)) + timedelta(days=1)
    return ctx.days(first, tomorrow, label)


def _resolve(text: str, ctx: _Ctx) -> _Range | None:
    text = text.strip()
    for table, resolver in ((_RELATIVE_RES, _resolve_relative), (_TERM_RES, _resolve_term)):
        for name, pattern in table:
            m = pattern.fullmatch(text)
            if m is not None:
                try:
                    return resolver(name, m, ctx)
                except (ValueError, OverflowError):
                    return None
    return None


def _term_name(text: str) -> str | None:
    for name, pattern in _TERM_RES:
        if pattern.fullmatch(text.strip()):
            return name
    return None


# --- the public API ---------------------------------------------------------------------------------------


def check_today(today: date | datetime) -> None:
    """Refuse a reference date too near the ends of the calendar for windows around it.

    Raises:
        ValueError: ``today`` is before ``EARLIEST_TODAY`` or after ``LATEST_TODAY``.
    """
    day = today.date() if isinstance(today, datetime) else today
    if not EARLIEST_TODAY <= day <= LATEST_TODAY:
        raise ValueError(
            f"{day.isoformat()}: the reference date must be between {EARLIEST_TODAY.isoformat()} and "
            f"{LATEST_TODAY.isoformat()}"
        )


def parse_today(value: str) -> datetime:
    """Read a ``--today`` option: a date (``2024-03-01``, midnight UTC) or an ISO date-time.

    Returns:
        The reference moment, timezone-aware (UTC unless it carries an offset).

    Raises:
        ValueError: not a date, or outside ``EARLIEST_TODAY`` .. ``LATEST_TODAY``.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    check_today(parsed)  # a year of slack on each side: converting the offset cannot overflow
    return parsed


def _context(today: date | datetime, tz: tzinfo) -> _Ctx:
    if isinstance(today, datetime):
        now = today.astimezone(tz) if today.tzinfo is not None else today.replace(tzinfo=tz)
        return _Ctx(now.date(), now, tz)
    tomorrow = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    return _Ctx(today, tomorrow, tz)


def _candidate(kind: str, m: re.Match[str], ctx: _Ctx) -> _Range | None:
    end_of_today = ctx.at(ctx.today + timedelta(days=1))
    if kind == "between":
        first = _resolve(m["a"], ctx)
        b_text = m["b"].strip()
        if re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)?", b_text, _FLAGS):
            # "between March 1 and 5": the second day in the first date's month
            if first is None or _term_name(m["a"]) not in {"iso_day", "mdy", "mdy_y", "dmy", "dmy_y"}:
                return None
            try:
                last_day = first.start.date().replace(day=int(re.sub(r"\D", "", b_text)))
            except ValueError:
                return None
            second: _Range | None = ctx.days(last_day, last_day + timedelta(days=1), last_day.isoformat())
        else:
            second = _resolve(b_text, ctx)
        if first is None or second is None:
            return None
        if second.start < first.start and not second.explicit_year:
            # "from December 20 to January 5": the second date is the later one
            try:
                second = second._replace(
                    start=second.start.replace(year=second.start.year + 1),
                    end=second.end.replace(year=second.end.year + 1),
                )
            except ValueError:
                return None
        if second.start < first.start:
            first, second = second, first
        return _Range(first.start, max(first.end, second.end), f"{first.label} to {second.label}")
    target = _resolve(m["x"], ctx)
    if target is None:
        return None
    if kind == "since":
        keyword = m["kw"].lower()
        if keyword == "since":
            return _Range(target.start, max(end_of_today, target.end), f"since {target.label}")
        if keyword == "after":
            return _Range(target.end, end_of_today, f"after {target.label}")
        floor = ctx.at(_FLOOR)
        stop = target.start if keyword == "before" else target.end
        return _Range(floor, stop, f"{keyword} {target.label}")
    if kind == "bare" and _term_name(m["x"]) == "weekday":
        before = m.string[: m.start()].split()
        if before and before[-1].lower() in _WEEKDAY_NAMES_BEFORE:
            return None
    return target


def parse_window(question: str, today: date | datetime, tz: tzinfo = UTC) -> Window | None:
    """Find the time window a question names, resolved against ``today``.

    Args:
        question: the question as the user typed it.
        today: the reference date (or the current time); an aware datetime is converted to ``tz``, a naive
            one is read as local time in ``tz``.
        tz: the reader's time zone; days start at local midnight there.

    Returns:
        The window (UTC bounds), or None when the question names no time. See the module docstring for what
        each phrase means.

    Raises:
        ValueError: ``today`` is outside ``EARLIEST_TODAY`` .. ``LATEST_TODAY`` (see ``check_today``).
    """
    check_today(today)
    try:
        ctx = _context(today, tz)
        check_today(ctx.today)
    except OverflowError:
        raise ValueError(f"{today}: the reference date is out of range") from None
    end_of_today = ctx.at(ctx.today + timedelta(days=1))
    best: tuple[int, int, _Range] | None = None
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(question):
            if best is not None and (m.start(), -m.end()) >= (best[0], -best[1]):
                continue
            found = _candidate(kind, m, ctx)
            if found is None:
                continue
            start, end = found.start, found.end
            if start <= end_of_today:
                end = min(end, end_of_today)
            if start >= end:
                continue
            stop = m.end()
            possessive = _POSSESSIVE.match(question, stop)
            if possessive:
                if found.end < end_of_today:
                    continue  # "yesterday's vote", "last year's election": a topic, not a window
                stop = possessive.end()  # "today's headlines": strip "today's" whole
            best = (m.start(), stop, found._replace(start=start, end=end))
    if best is None:
        return None
    first, last, found = best
    return Window(
        start=_utc(found.start),
        end=_utc(found.end),
        label=found.label,
        matched=question[first:last],
        span=(first, last),
    )


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC, clamped to the calendar: local midnight of 1 January of year 1 east of Greenwich is
    still year 0 in UTC."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def strip_window(question: str, window: Window | None) -> str:
    """The question without its time phrase, for use as a search query ("news about X this week?" ->
    "news about X?")."""
    if window is None:
        return question.strip()
    first, last = window.span
    text = question[:first] + " " + question[last:]
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([?.!,;:])", r"\1", text)
    text = re.sub(r"([,;:])(?=[?.!,;:])", "", text)
    text = re.sub(r"^[\s,;:.]+", "", text)
    return re.sub(r"[\s,;:]+$", "", text).strip()


_DURATION = re.compile(
    r"(?P<n>\d+)\s*(?P<unit>m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)",
    re.IGNORECASE,
)


def parse_since(value: str, now: datetime) -> datetime:
    """Read a ``--since`` option: a duration back from ``now`` or an absolute date or time.

    Args:
        value: ``30m``, ``24h``, ``7d``, ``2w`` (minutes, hours, days, weeks), ``today``, ``yesterday``,
            ``2024-03-01`` (midnight in ``now``'s time zone) or an ISO date-time such as ``2024-03-01T08:00``
            (read in ``now``'s time zone unless it carries an offset or ``Z``).
        now: the current time; naive means UTC.

    Returns:
        The moment, timezone-aware UTC.

    Raises:
        ValueError: the value is none of the above, reaches past year 1 or 9999, or ``now`` is outside
            ``EARLIEST_TODAY`` .. ``LATEST_TODAY``.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    check_today(now)
    try:
        return _since(value, now)
    except OverflowError:  # timedelta and datetime arithmetic past year 1 or 9999: the calendar ends there
        raise ValueError(f"{value!r}: out of range: dates run from year 1 to 9999") from None


def _since(value: str, now: datetime) -> datetime:
    text = value.strip()
    m = _DURATION.fullmatch(text)
    if m is not None:
        n = int(m["n"])
        unit = m["unit"].lower()
        seconds = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit[0]]
        return (now - timedelta(seconds=n * seconds)).astimezone(UTC)
    local_today = now.date()
    if text.lower() in {"today", "yesterday"}:
        day = local_today - timedelta(days=1 if text.lower() == "yesterday" else 0)
        return datetime.combine(day, time(0), tzinfo=now.tzinfo).astimezone(UTC)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r}: not a valid date ({exc})") from None
        return datetime.combine(day, time(0), tzinfo=now.tzinfo).astimezone(UTC)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}.*", text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r}: not a valid date-time ({exc})") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=now.tzinfo)
        return moment.astimezone(UTC)
    raise ValueError(
        f"{value!r}: expected a duration (30m, 24h, 7d, 2w), today, yesterday, "
        "a date (2024-03-01) or a date-time (2024-03-01T08:00)"
    )
