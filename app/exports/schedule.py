"""Recurring exports: one RFC 5545 RRULE, evaluated with dateutil from `recurring.start`."""

from __future__ import annotations

import re
from datetime import datetime

from dateutil.rrule import rrule, rrulestr

_FORBIDDEN_PROPERTIES = ("DTSTART", "EXDATE", "RDATE", "EXRULE")
MAX_INSTRUCTION_LENGTH = 500
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
    except (ValueError, TypeError, OverflowError) as exc:
        raise RuleError(f"is not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise RuleError("must be a single RRULE")
    if _FINER_THAN_HOURLY.search(text):  # finer than the worker's cadence
        raise RuleError("FREQ finer than HOURLY is not allowed")
    return rule


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
