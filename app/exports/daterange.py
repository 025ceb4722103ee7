"""Date phrases for an export's `dateRange.start` / `dateRange.end`.

A phrase is `base {modifier}`: an absolute ISO 8601 / RFC 3339 date-time or a relative word
(`now`, `yesterday`, `first day of last month`, `next friday`, ...) followed by steps such as
`3 days ago`, `+2 hours` or `midnight`. A phrase may also start with a step, in which case the
base is `now`. Everything is evaluated in UTC against a caller-supplied `now` (never the wall
clock) so an export resolves its range once, deterministically, and tests can pin time.

A base may also name a period: `last|this|next week|month|year`, `YYYY-MM` or `YYYY`, and
`start of P` / `end of P` for those and for days (`today`, `yesterday`, `tomorrow`,
`YYYY-MM-DD`). A period is half-open like the range it feeds (`start` inclusive, `end`
exclusive): its start is its first second, its end the first second after it. So `start of P`
and `end of P` mean the same wherever they appear, and a bare period means its start in
`dateRange.start` and its end in `dateRange.end` (`bound`), so `{"start": "last month",
"end": "last month"}` is the whole of last month. Day words and full dates on their own stay
instants (their 00:00), as they always were.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal

from dateutil.relativedelta import relativedelta

__all__ = [
    "MAX_AMOUNT",
    "Bound",
    "DatePhraseError",
    "parse_date_phrase",
]

Bound = Literal["start", "end"]
"""Which end of a range a phrase gives: a bare period means its start or its end."""

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
_PERIOD_UNITS: Final = ("week", "month", "year")
_DAY_WORDS: Final = {"yesterday": -1, "today": 0, "tomorrow": 1}
# One word naming a calendar period: a year, a month or (after `start of`/`end of`) a day.
_PERIOD_DATE: Final = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?", re.ASCII
)
_PERIOD_HINT: Final = (
    "this|last|next week|month|year, today, yesterday, tomorrow, YYYY, YYYY-MM or YYYY-MM-DD"
)

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


def parse_date_phrase(text: str, *, now: datetime, bound: Bound = "start") -> datetime:
    """Evaluate `text` against `now`; returns an aware UTC datetime truncated to whole seconds.

    `bound` says which end of the range the phrase is: a bare period (`last month`) gives its
    first second for `start` and the first second after it for `end` (ends are exclusive).
    Raises DatePhraseError for anything outside the grammar or outside years 1..9999, and a
    plain ValueError if `now` is naive (a caller bug, not a client error).
    """
    current = _utc_seconds(now)
    phrase = " ".join(text.lower().split())
    if not phrase:
        raise DatePhraseError("Date phrase is empty")
    try:
        return _evaluate(phrase, current, bound)
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


def _evaluate(phrase: str, now: datetime, bound: Bound) -> datetime:
    absolute = _ABSOLUTE.match(phrase)
    if absolute:
        result = _absolute(absolute)
        rest = phrase[absolute.end() :].split()
    else:
        words = phrase.split()
        result, used = _base(words, now, bound)
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


def _base(words: list[str], now: datetime, bound: Bound) -> tuple[datetime, int]:
    """Return the base instant and how many words it used (0 when the phrase starts a step)."""
    today = now.replace(hour=0, minute=0, second=0)
    head = words[0]
    if head in ("start", "end"):
        if words[1:2] != ["of"] or len(words) < 3:
            raise _Reject(f"expected '{head} of' and a period: {_PERIOD_HINT}")
        (first, after), used = _period(words, 2, today, days=True)
        return (first if head == "start" else after), 2 + used
    if _is_period(words):
        (first, after), used = _period(words, 0, today, days=False)
        return (first if bound == "start" else after), used
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
            raise _Reject(f"expected a weekday, week, month or year after {_echo(head)}")
        return _weekday(head, _WEEKDAYS.index(words[1]), today), 2
    # Anything else must be a modifier applied to `now` ("3 days ago"); _modifier rejects the rest.
    return now, 0


def _is_period(words: list[str]) -> bool:
    """A phrase that opens with a bare period; `2026 days ago` is a step, not the year 2026."""
    head = words[0]
    if head in _MONTH_OFFSETS:
        return words[1:2] != [] and words[1] in _PERIOD_UNITS
    date = _PERIOD_DATE.fullmatch(head)
    if date is None or date.group("day") is not None:
        return False  # a full date on its own is an instant, matched before this
    return date.group("month") is not None or words[1:2] == [] or words[1] not in _UNITS


def _period(
    words: list[str], index: int, today: datetime, *, days: bool
) -> tuple[tuple[datetime, datetime], int]:
    """The period at `words[index]` as (first second, first second after) and the words used.

    Days (`today`, `2026-03-01`) are periods only after `start of` / `end of` (`days`): alone
    they have always been instants.
    """
    word = words[index]
    if days and word in _DAY_WORDS:
        first = today + timedelta(days=_DAY_WORDS[word])
        return (first, first + timedelta(days=1)), 1
    if word in _MONTH_OFFSETS and words[index + 1 : index + 2] != []:
        unit, shift = words[index + 1], _MONTH_OFFSETS[word]
        if unit == "week":
            first = today - timedelta(days=today.weekday()) + timedelta(weeks=shift)
            return (first, first + timedelta(weeks=1)), 2
        if unit == "month":
            first = today.replace(day=1) + relativedelta(months=shift)
            return (first, first + relativedelta(months=1)), 2
        if unit == "year":
            first = today.replace(month=1, day=1) + relativedelta(years=shift)
            return (first, first + relativedelta(years=1)), 2
    date = _PERIOD_DATE.fullmatch(word)
    if date is not None and (days or date.group("day") is None):
        year, month, day = date.group("year", "month", "day")
        try:
            first = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        except ValueError as exc:
            raise _Reject(f"invalid date ({exc})") from None
        if day is not None:
            step = relativedelta(days=1)
        elif month is not None:
            step = relativedelta(months=1)
        else:
            step = relativedelta(years=1)
        return (first, first + step), 1
    raise _Reject(f"expected a period: {_PERIOD_HINT}")


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
