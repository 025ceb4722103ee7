"""Recurring exports: one RFC 5545 RRULE, evaluated with dateutil from `recurring.start`."""

from __future__ import annotations

import itertools
import math
import re
from datetime import datetime, timedelta

from dateutil import parser
from dateutil.rrule import rrule, rrulestr

_FORBIDDEN_PROPERTIES = ("DTSTART", "EXDATE", "RDATE", "EXRULE")
MAX_INSTRUCTION_LENGTH = 500
CHECK_WINDOW = timedelta(days=5 * 366)
GAP_SAMPLE = 50
_LAST_CHECK_YEAR = 9990  # a start moved below this leaves at most ~400 years to scan
_DAY_PARTS = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY", "WKST")
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
    UNTIL while nothing matches, so a rule that never fires would scan for seconds on the
    event loop. Three things keep the check short: rules that provably never fire are refused
    from their parts alone; an hourly rule's days are found first with a daily rule (one step
    a day, not 24); and the scan runs on a copy moved forward by whole 400-year Gregorian
    cycles (an identical calendar), so at most ~400 years remain before 9999.
    """
    text = normalize_instruction(instruction)
    parts = _parts(text)
    _check_ranges(parts)
    build_rule(text, start)  # checks INTERVAL too, before _check_reachable reads it
    _check_reachable(parts, start)
    if parts.get("FREQ") == "HOURLY":
        day_parts = [f"{k}={v}" for k, v in parts.items() if k in _DAY_PARTS]
        days = ";".join(["FREQ=DAILY", *day_parts])
        midnight = start.replace(hour=0, minute=0, second=0)
        if not _first_occurrences(days, midnight, 1):
            raise RuleError("never occurs in the 5 years after recurring.start")
    first = _first_occurrences(text, start, GAP_SAMPLE)
    if not first:
        raise RuleError("never occurs in the 5 years after recurring.start")
    if any((b - a).total_seconds() < 3600 for a, b in itertools.pairwise(first)):
        raise RuleError("runs more often than hourly; at most one run an hour is allowed")


def _first_occurrences(text: str, start: datetime, count: int) -> list[datetime]:
    """Up to `count` occurrences in the five years after `start` (as a shifted copy)."""
    shift = max((_LAST_CHECK_YEAR - start.year) // 400 * 400, 0)
    try:
        shifted = start.replace(year=start.year + shift)
        rule = build_rule(text, shifted)
        horizon = shifted + CHECK_WINDOW
        until = _until(text)
        if until is not None:
            until = until.replace(year=until.year + shift) if until.year + shift <= 9999 else None
        bounded = rule.replace(until=min(until, horizon) if until else horizon, count=None)
        return list(itertools.islice(iter(bounded), count))
    except (ValueError, OverflowError):
        raise RuleError("cannot be evaluated from this recurring.start") from None


def _until(text: str) -> datetime | None:
    """The rule's UNTIL, read as dateutil's `rrulestr` reads it (with `dateutil.parser`)."""
    value = _parts(text).get("UNTIL")
    return parser.parse(value) if value else None


def _parts(text: str) -> dict[str, str]:
    return {k.strip().upper(): v.strip() for k, _, v in (p.partition("=") for p in text.split(";"))}


def _check_ranges(parts: dict[str, str]) -> None:
    """Values outside the calendar (BYWEEKNO=60) make a rule that can never fire."""
    for name, value in parts.items():
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
    if "BYSETPOS" in parts and parts.get("FREQ") not in ("WEEKLY", "MONTHLY", "YEARLY"):
        raise RuleError("BYSETPOS is only supported with FREQ=WEEKLY, MONTHLY or YEARLY")


def _check_reachable(parts: dict[str, str], start: datetime) -> None:
    """Refuse, from the parts alone, rules that can never fire."""
    if "BYMONTH" in parts and "BYMONTHDAY" in parts:
        months = [int(m) for m in parts["BYMONTH"].split(",")]
        days = [abs(int(d)) for d in parts["BYMONTHDAY"].split(",")]
        if not any(d <= _MONTH_DAYS[m - 1] for m in months for d in days):
            raise RuleError("BYMONTHDAY names a day that none of the BYMONTH months has")
    interval = int(parts.get("INTERVAL", "1") or "1")
    if parts.get("FREQ") == "HOURLY" and "BYHOUR" in parts and interval > 1:
        # Stepping `interval` hours from the start reaches only hours ≡ start (mod gcd).
        step = math.gcd(interval, 24)
        if all(int(h) % step != start.hour % step for h in parts["BYHOUR"].split(",")):
            raise RuleError("no BYHOUR is ever reached with this INTERVAL from recurring.start")


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
