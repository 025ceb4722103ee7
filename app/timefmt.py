"""The one date-time wire format of every surface: whole seconds, UTC, `Z`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone

import orjson

_ISO_Z = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_NAIVE_UTC
_dumps = orjson.dumps


def isoz(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`: UTC, whole seconds (truncated); naive values are taken as UTC.

    orjson writes exactly that for a UTC or naive value, in C, in a third of the time of
    `isoformat` on an aware value (which calls back into its tzinfo): a page of 100 exports
    writes 300-400 of them (issue 8). Other offsets are converted to UTC first."""
    zone = value.tzinfo
    if zone is not None and zone is not UTC:
        value = value.astimezone(UTC)
    return _dumps(value, option=_ISO_Z)[1:-1].decode()


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
