"""The recurrence helpers behind recurring exports (app.exports.schedule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.exports.schedule import (
    RuleError,
    build_rule,
    first_run,
    latest_missed,
    next_run_after,
    normalize_instruction,
    upcoming,
)

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # a Monday, 02:00
DAY = timedelta(days=1)


def test_upcoming_lists_the_next_occurrences_strictly_after() -> None:
    assert upcoming("FREQ=DAILY", START, START, 3) == [
        START + DAY,
        START + 2 * DAY,
        START + 3 * DAY,
    ]
    assert upcoming("FREQ=DAILY", START, START - timedelta(seconds=1), 2) == [START, START + DAY]
    assert upcoming("FREQ=DAILY", START, START + DAY + timedelta(hours=5), 1) == [START + 2 * DAY]
    assert upcoming("FREQ=DAILY", START, START, 0) == []


def test_upcoming_stops_when_the_rule_ends() -> None:
    assert upcoming("FREQ=DAILY;COUNT=2", START, START - DAY, 5) == [START, START + DAY]
    until = "FREQ=WEEKLY;UNTIL=20260120T000000Z"
    assert upcoming(until, START, START, 10) == [START + 7 * DAY, START + 14 * DAY]


def test_weekly_by_day_and_monthly_rules() -> None:
    weekdays = upcoming("FREQ=WEEKLY;BYDAY=MO,FR", START, START, 3)
    assert [d.strftime("%a %d") for d in weekdays] == ["Fri 09", "Mon 12", "Fri 16"]
    monthly = upcoming("FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=6;BYMINUTE=0;BYSECOND=0", START, START, 2)
    assert monthly == [
        datetime(2026, 2, 1, 6, tzinfo=UTC),
        datetime(2026, 3, 1, 6, tzinfo=UTC),
    ]
    hourly = upcoming("FREQ=HOURLY;INTERVAL=6", START, START, 2)
    assert hourly == [START + timedelta(hours=6), START + timedelta(hours=12)]


def test_next_run_after_and_latest_missed() -> None:
    assert next_run_after("FREQ=DAILY", START, START) == START + DAY
    assert next_run_after("FREQ=DAILY;COUNT=1", START, START) is None
    after_downtime = START + 4 * DAY + timedelta(hours=7)
    assert latest_missed("FREQ=DAILY", START, after_downtime) == START + 4 * DAY
    assert latest_missed("FREQ=DAILY", START, START) == START  # inclusive
    assert latest_missed("FREQ=DAILY", START, START - timedelta(seconds=1)) is None


def test_first_run_is_the_start_or_now() -> None:
    now = START + timedelta(hours=1)
    assert first_run(START, now) == now  # a past start runs once now
    assert first_run(START + DAY, now) == START + DAY


def test_the_rrule_prefix_is_optional() -> None:
    assert normalize_instruction("  RRULE:FREQ=DAILY ") == "FREQ=DAILY"
    assert normalize_instruction("rrule:FREQ=DAILY") == "FREQ=DAILY"
    assert upcoming("RRULE:FREQ=DAILY", START, START, 1) == upcoming("FREQ=DAILY", START, START, 1)


@pytest.mark.parametrize(
    "instruction",
    [
        "",
        "   ",
        "FREQ=MINUTELY",
        "FREQ=SECONDLY;INTERVAL=30",
        "freq=minutely",
        "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY",
        "FREQ=DAILY;DTSTART=20260101T000000Z",
        "EXDATE:20260102T000000Z",
        "RDATE:20260102T000000Z",
        "FREQ=DAILY\nFREQ=WEEKLY",
        "FREQ=FORTNIGHTLY",
        "BYDAY=MO",
        "FREQ=DAILY;COUNT=x",
        "FREQ=DAILY;" + "BYHOUR=1;" * 100,
    ],
)
def test_unacceptable_rules(instruction: str) -> None:
    with pytest.raises(RuleError):
        build_rule(instruction, START)
