"""Date phrases for an export's `dateRange.start` / `dateRange.end`.

A phrase is `base {modifier}`: an absolute ISO 8601 / RFC 3339 date-time or a relative word
(`now`, `yesterday`, `first day of last month`, `next friday`, ...) followed by steps such as
`3 days ago`, `+2 hours` or `midnight`. A phrase may also start with a step, in which case the
base is `now`. Everything is evaluated in UTC against a caller-supplied `now` (never the wall
clock) so an export resolves its range once, deterministically, and tests can pin time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from dateutil.relativedelta import relativedelta

__all__ = [
    "MAX_AMOUNT",
    "DatePhraseError",
    "parse_date_phrase",
]

MAX_AMOUNT: Final = 100_000
"""Largest N accepted in `N units ago` / `+N units`; bigger values are typos, not intent."""

_ECHO_LIMIT: Final = 60

_STEP_BUILDERS: Final[dict[str, Callable[[int], relativedelta]]] = {
    "second": lambda n: relativedelta(seconds=n),
    "minute": lambda n: relativedelta(minutes=n),
    "hour": lambda n: relativedelta(hours=n),
    "day": lambda n: relativedelta(days=n),
    "week": lambda n: relativedelta(weeks=n),
    # relativedelta clamps month/year steps to the target month's last day (Jan 31 + 1 month
    # = Feb 28/29) instead of overflowing into the next month.
    "month": lambda n: relativedelta(months=n),
    "year": lambda n: relativedelta(years=n),
}
_UNITS: Final[dict[str, Callable[[int], relativedelta]]] = {
    **_STEP_BUILDERS,
    **{unit + "s": build for unit, build in _STEP_BUILDERS.items()},
}
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_OFFSETS: Final = {"last": -1, "this": 0, "next": 1}

# re.ASCII keeps `[0-9]`-style classes and case folding away from non-ASCII look-alikes.
_AMOUNT: Final = re.compile(r"([+-]?)([0-9]+)", re.ASCII)
# Matched against the lower-cased, whitespace-collapsed phrase, so `T`/`Z` appear as `t`/`z`
# and a space-separated date and time arrive as two words joined by one space. The offset must
# be glued to the time; otherwise `+02:00` would read as a (malformed) modifier.
_ABSOLUTE: Final = re.compile(
    r"""
    (?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})
    (?:
        [t\ ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})
        (?::(?P<second>[0-9]{2})(?:[.,][0-9]+)?)?
        (?P<offset>z|[+-][0-9]{2}:?[0-9]{2})?
    )?
    (?=\ |$)
    """,
    re.ASCII | re.VERBOSE,
)


class DatePhraseError(ValueError):
    """A phrase that cannot be evaluated; the message is safe to show to the API client."""


class _Reject(Exception):
    """Internal: why a phrase was refused; wrapped into DatePhraseError with the phrase echoed."""


def parse_date_phrase(text: str, *, now: datetime) -> datetime:
    """Evaluate `text` against `now`; returns an aware UTC datetime truncated to whole seconds.

    Raises DatePhraseError for anything outside the grammar or outside years 1..9999, and a
    plain ValueError if `now` is naive (a caller bug, not a client error).
    """
    current = _utc_seconds(now)
    phrase = " ".join(text.lower().split())
    if not phrase:
        raise DatePhraseError("Date phrase is empty")
    try:
        return _evaluate(phrase, current)
    except _Reject as exc:
        raise DatePhraseError(f"Unrecognised date phrase {_echo(text)}: {exc}") from None
    except (OverflowError, ValueError) as exc:
        # datetime/relativedelta signal years outside 1..9999 with either exception type.
        raise DatePhraseError(f"Date phrase {_echo(text)} is out of range") from exc


def _utc_seconds(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC).replace(microsecond=0)


def _echo(text: str) -> str:
    """Quote user input for an error message without reflecting an arbitrarily long payload."""
    shown = " ".join(text.split())
    if len(shown) > _ECHO_LIMIT:
        shown = shown[: _ECHO_LIMIT - 1] + "…"
    return repr(shown)


def _evaluate(phrase: str, now: datetime) -> datetime:
    absolute = _ABSOLUTE.match(phrase)
    if absolute:
        result = _absolute(absolute)
        rest = phrase[absolute.end() :].split()
    else:
        words = phrase.split()
        result, used = _base(words, now)
        rest = words[used:]
    index = 0
    while index < len(rest):
        result, index = _modifier(rest, index, result)
    return result


def _absolute(match: re.Match[str]) -> datetime:
    """Build the UTC instant; no offset means UTC, fractions of a second are dropped."""
    group = match.group
    try:
        naive = datetime(
            int(group("year")),
            int(group("month")),
            int(group("day")),
            int(group("hour") or 0),
            int(group("minute") or 0),
            int(group("second") or 0),
        )
    except ValueError as exc:
        raise _Reject(f"invalid date-time ({exc})") from None
    offset = group("offset")
    if offset is None or offset == "z":
        return naive.replace(tzinfo=UTC)
    hours, minutes = int(offset[1:3]), int(offset[-2:])
    if hours > 23 or minutes > 59:
        raise _Reject(f"invalid UTC offset {_echo(offset)}")
    delta = timedelta(hours=hours, minutes=minutes)
    zone = timezone(-delta if offset[0] == "-" else delta)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _base(words: list[str], now: datetime) -> tuple[datetime, int]:
    """Return the base instant and how many words it used (0 when the phrase starts a step)."""
    today = now.replace(hour=0, minute=0, second=0)
    head = words[0]
    if head == "now":
        return now, 1
    if head in ("today", "midnight"):
        return today, 1
    if head == "noon":
        return today.replace(hour=12), 1
    if head == "yesterday":
        return today - timedelta(days=1), 1
    if head == "tomorrow":
        return today + timedelta(days=1), 1
    if head in ("first", "last") and words[1:2] == ["day"]:
        if (
            len(words) < 5
            or words[2] != "of"
            or words[3] not in _MONTH_OFFSETS
            or words[4] != "month"
        ):
            raise _Reject(f"expected '{head} day of this|last|next month'")
        # day=31 is clamped by relativedelta to the month's real last day; time is kept.
        day = 1 if head == "first" else 31
        return now + relativedelta(months=_MONTH_OFFSETS[words[3]], day=day), 5
    if head in _MONTH_OFFSETS:
        if len(words) < 2 or words[1] not in _WEEKDAYS:
            raise _Reject(f"expected a weekday after {_echo(head)}")
        return _weekday(head, _WEEKDAYS.index(words[1]), today), 2
    # Anything else must be a modifier applied to `now` ("3 days ago"); _modifier rejects the rest.
    return now, 0


def _weekday(which: str, target: int, today: datetime) -> datetime:
    """`this` = within today's Monday-start week; `next`/`last` = strictly after/before today."""
    current = today.weekday()
    if which == "this":
        shift = target - current
    elif which == "next":
        shift = (target - current) % 7 or 7
    else:
        shift = -((current - target) % 7 or 7)
    return today + timedelta(days=shift)


def _modifier(words: list[str], index: int, current: datetime) -> tuple[datetime, int]:
    """Apply the modifier starting at `words[index]`; return the result and the next index."""
    word = words[index]
    if word == "midnight":
        return current.replace(hour=0, minute=0, second=0), index + 1
    if word == "noon":
        return current.replace(hour=12, minute=0, second=0), index + 1
    amount = _AMOUNT.fullmatch(word)
    if amount is None:
        raise _Reject(f"unexpected {_echo(word)}")
    sign, digits = amount.groups()
    # Compare the digit count first so a huge number never reaches int().
    if len(digits) > len(str(MAX_AMOUNT)) or int(digits) > MAX_AMOUNT:
        raise _Reject(f"{_echo(word)} is larger than {MAX_AMOUNT}")
    if index + 1 >= len(words):
        raise _Reject(f"expected a unit after {_echo(word)}")
    unit = words[index + 1]
    build = _UNITS.get(unit)
    if build is None:
        raise _Reject(f"unknown unit {_echo(unit)}")
    count = int(digits)
    if sign:
        return current + build(-count if sign == "-" else count), index + 2
    if words[index + 2 : index + 3] == ["ago"]:
        return current - build(count), index + 3
    raise _Reject(f"expected '{word} {unit} ago', '+{word} {unit}' or '-{word} {unit}'")
