"""Time zones and local times as chats give them: "/timezone europe/berlin", "+02:00", "/subscribe 7.45pm".

Telegram never tells a bot the user's zone, so chats name it; everything downstream works with aware datetimes
(``zone`` turns a canonical name into a ``tzinfo``).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache

# -- zones and local times -------------------------------------------------------------------------------------

_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm)?", re.IGNORECASE)


class ZoneError(ValueError):
    """A time zone or local time the user typed that does not exist; the message says what would work."""


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_timezone(text: str) -> str:
    """The canonical name of a zone the user typed: an IANA name in any case ("europe/berlin" ->
    "Europe/Berlin"), "UTC", or a fixed offset ("+02:00", "UTC-5", "GMT+5:30" -> "UTC+02:00").

    Raises:
        ZoneError: no such zone; the message suggests close names.
    """
    value = text.strip()
    if value.upper() in {"UTC", "GMT", "Z", "ZULU"}:
        return "UTC"
    m = _OFFSET.fullmatch(value)
    if m:
        hours, minutes = int(m[2]), int(m[3] or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            raise ZoneError(f"{value} is not a UTC offset: offsets run from UTC-14:00 to UTC+14:00.")
        return "UTC" if hours == minutes == 0 else f"UTC{m[1]}{hours:02d}:{minutes:02d}"
    name = _zone_names().get(value.replace(" ", "_").lower())
    if name is not None:
        return name
    close = difflib.get_close_matches(value.replace(" ", "_").lower(), list(_zone_names()), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(_zone_names()[c] for c in close)}?" if close else ""
    raise ZoneError(
        f"I don't know the time zone “{value}”.{hint} Use a name like Europe/Berlin, America/New_York or "
        "Asia/Kolkata, or an offset like +02:00 or UTC-5."
    )


def zone(name: str) -> tzinfo:
    """The ``tzinfo`` of a canonical zone name (``parse_timezone``'s output)."""
    m = _OFFSET.fullmatch(name)
    if m and name.upper().startswith("UTC"):
        delta = timedelta(hours=int(m[2]), minutes=int(m[3] or 0))
        return timezone(-delta if m[1] == "-" else delta)
    return UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def parse_local_time(text: str) -> str:
    """``HH:MM`` from "8", "08:30", "7.45", "8am", "6:30 pm".

    Raises:
        ZoneError: not a time of day.
    """
    m = _LOCAL_TIME.fullmatch(text.strip())
    if m:
        hour, minute = int(m[1]), int(m[2] or 0)
        if m[3] and 1 <= hour <= 12:
            hour = hour % 12 + (12 if m[3].lower() == "pm" else 0)
        elif m[3]:
            hour = 24  # "13pm"
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    raise ZoneError(f"“{text.strip()}” is not a time of day: use HH:MM, e.g. 07:30 or 18:00.")


def local_clock(moment: datetime, tz_name: str, *, with_zone: bool = True) -> str:
    """``moment`` on the chat's clock: "Mon 30 Nov 08:00 (Europe/Berlin)"."""
    shown = moment.astimezone(zone(tz_name)).strftime("%a %d %b %H:%M")
    return f"{shown} ({tz_name})" if with_zone else shown
