"""Recurring exports: one RFC 5545 RRULE, evaluated with dateutil from `recurring.start`."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

from dateutil.rrule import rrule, rrulestr

_FORBIDDEN_PROPERTIES = ("DTSTART", "EXDATE", "RDATE", "EXRULE")
MAX_INSTRUCTION_LENGTH = 500
CHECK_WINDOW = timedelta(days=5 * 366)
GAP_SAMPLE = 50
_LAST_CHECK_YEAR = 9990  # a start moved here leaves under 10 years for dateutil to scan
# BY* parts whose values must name a real calendar position: (low, high, may be negative).
_RANGES = {
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYHOUR": (0, 23, False),
    "BYMINUTE": (0, 59, False),
    "BYSECOND": (0, 59, False),
    "BYSETPOS": (1, 366, True),
    "COUNT": (1, 100_000, False),
}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_INTERVAL = re.compile(r"(?:^|;)\s*INTERVAL\s*=\s*([^;]*)", re.IGNORECASE)
_FINER_THAN_HOURLY = re.compile(r"(^|;)\s*FREQ\s*=\s*(MINUTELY|SECONDLY)\b", re.IGNORECASE)


class RuleError(ValueError):
    """The instruction is not one acceptable RRULE; the message says why."""


def normalize_instruction(instruction: str) -> str:
    """Strip an optional `RRULE:` prefix and reject what a single rule may not carry."""
    text = instruction.strip()
    if not text:
        raise RuleError("must be a non-empty RRULE")
    if len(text) > MAX_INSTRUCTION_LENGTH:
        raise RuleError(f"must be at most {MAX_INSTRUCTION_LENGTH} characters")
    if "\n" in text or "\r" in text:
        raise RuleError("must be a single RRULE line")
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    upper = text.upper()
    for prop in _FORBIDDEN_PROPERTIES:
        if upper.startswith(prop) or f"{prop}:" in upper or f"{prop}=" in upper:
            raise RuleError(f"{prop} is not allowed; use recurring.start instead")
    return text


def build_rule(instruction: str, start: datetime) -> rrule:
    """Parse an instruction anchored at `start` (aware UTC)."""
    text = normalize_instruction(instruction)
    try:
        rule = rrulestr(text, dtstart=start, forceset=False)
    except (ValueError, TypeError, OverflowError, IndexError, KeyError):
        raise RuleError("is not a valid RFC 5545 RRULE (e.g. FREQ=DAILY;BYHOUR=2)") from None
    if not isinstance(rule, rrule):
        raise RuleError("must be a single RRULE")
    if _FINER_THAN_HOURLY.search(text):  # finer than the worker's cadence
        raise RuleError("FREQ finer than HOURLY is not allowed")
    interval = _INTERVAL.search(text)
    if interval and not (interval.group(1).isdigit() and 1 <= int(interval.group(1)) <= 1000):
        raise RuleError("INTERVAL must be a whole number from 1 to 1000")
    return rule


def check_rule(instruction: str, start: datetime) -> None:
    """Accept only rules whose parts are in range and that fire, at most hourly, within five
    years of their start.

    dateutil looks for the next occurrence period by period up to the year 9999, ignoring
    UNTIL while nothing matches, so a rule that never fires (BYMONTHDAY=30 with BYMONTH=2)
    would scan for seconds. The check runs on a copy moved forward by whole 400-year
    Gregorian cycles, whose calendar is identical, to shortly before 9999: the scan is short.
    """
    text = normalize_instruction(instruction)
    _check_ranges(text)
    build_rule(text, start)
    shift = max((_LAST_CHECK_YEAR - start.year) // 400 * 400, 0)
    shifted_start = start.replace(year=start.year + shift)
    rule = build_rule(text, shifted_start)
    current: datetime | None = getattr(rule, "_until", None)
    if current is not None:
        current = current.replace(year=min(current.year + shift, 9999))
    horizon = min(shifted_start + CHECK_WINDOW, datetime.max.replace(tzinfo=start.tzinfo))
    until = current if current is not None and current < horizon else horizon
    first = list(itertools.islice(iter(rule.replace(until=until, count=None)), GAP_SAMPLE))
    if not first:
        raise RuleError("never occurs in the 5 years after recurring.start")
    if any((b - a).total_seconds() < 3600 for a, b in itertools.pairwise(first)):
        raise RuleError("runs more often than hourly; at most one run an hour is allowed")


def _check_ranges(text: str) -> None:
    """Values outside the calendar (BYWEEKNO=60) make a rule that can never fire."""
    for part in text.split(";"):
        name, _, value = part.partition("=")
        name = name.strip().upper()
        if name == "BYDAY":
            for day in value.split(","):
                ordinal = day.strip()[:-2]
                if ordinal not in ("", "+", "-") and not _in_range(ordinal, 1, 53, signed=True):
                    raise RuleError(f"BYDAY ordinal {ordinal} is out of range")
            continue
        bounds = _RANGES.get(name)
        if bounds is None:
            continue
        low, high, signed = bounds
        for item in value.split(","):
            if not _in_range(item.strip(), low, high, signed=signed):
                raise RuleError(f"{name} value {item.strip()!r} is out of range")
    _check_month_days(text)


def _check_month_days(text: str) -> None:
    """BYMONTH=2;BYMONTHDAY=30 names a day that no listed month has."""
    parts = {k.strip().upper(): v for k, _, v in (p.partition("=") for p in text.split(";"))}
    if "BYMONTH" not in parts or "BYMONTHDAY" not in parts:
        return
    days = [int(d) for d in parts["BYMONTHDAY"].split(",") if not d.strip().startswith("-")]
    if len(days) != len(parts["BYMONTHDAY"].split(",")):
        return  # negative days count from the month's end and always exist
    longest = max(_MONTH_DAYS[int(m) - 1] for m in parts["BYMONTH"].split(","))
    if min(days) > longest:
        raise RuleError("BYMONTHDAY names a day that none of the BYMONTH months has")


def _in_range(text: str, low: int, high: int, *, signed: bool) -> bool:
    digits = text.lstrip("+-") if signed else text
    if not digits.isascii() or not digits.isdigit() or len(text) - len(digits) > 1:
        return False
    value = int(digits)
    return low <= value <= high and (signed or text == digits)


def first_run(start: datetime, now: datetime) -> datetime:
    """The first run is at `start`; a start in the past runs once now."""
    return max(start, now)


def next_run_after(instruction: str, start: datetime, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, or None when the rule is exhausted."""
    result: datetime | None = build_rule(instruction, start).after(after, inc=False)
    return result


def latest_missed(instruction: str, start: datetime, now: datetime) -> datetime | None:
    """The newest occurrence at or before `now`: after downtime only that one runs."""
    result: datetime | None = build_rule(instruction, start).before(now, inc=True)
    return result


def upcoming(instruction: str, start: datetime, after: datetime, count: int) -> list[datetime]:
    """The next `count` occurrences strictly after `after`."""
    rule = build_rule(instruction, start)
    found: list[datetime] = []
    cursor = after
    while len(found) < count:
        nxt: datetime | None = rule.after(cursor, inc=False)
        if nxt is None:
            break
        found.append(nxt)
        cursor = nxt
    return found
