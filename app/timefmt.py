"""The one date-time wire format of every surface: whole seconds, UTC, `Z`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone


def isoz(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`: UTC, whole seconds (truncated); naive values are taken as UTC."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is C code and pads the year to four digits; the first 19 characters are
    # YYYY-MM-DDTHH:MM:SS whatever offset or fraction follows.
    return value.isoformat(timespec="seconds")[:19] + "Z"


_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:[Zz]|([+-])(\d{2}):?(\d{2}))?)?"
)


def parse_iso_datetime(text: str, *, whole_seconds: bool = True) -> datetime:
    """RFC 3339 / ISO 8601 calendar date-times to aware UTC: the one parser of every input
    (recurring.start, GraphQL DateTime, filter values). No offset means UTC; a bare date is
    00:00Z. Fractions are dropped unless `whole_seconds` is False (filter bounds keep them).
    Raises ValueError."""
    match = _DATETIME.fullmatch(text.strip()) if len(text) <= 40 else None
    if match is None:
        raise ValueError("not an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    micro = 0 if whole_seconds else int((fraction or "0")[:6].ljust(6, "0"))
    zone = UTC
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("the UTC offset is out of range")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    clock = time(int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=zone)
    return datetime.combine(date(int(year), int(month), int(day)), clock).astimezone(UTC)
