"""Tests for the `dateRange` phrase grammar.

Expected instants are written out by hand (not recomputed with the code under test) so that a
wrong rule shows up as a wrong date. NOW is a Wednesday mid-month; MONTH_END exercises clamping.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta

from app.exports.daterange import (
    MAX_AMOUNT,
    DatePhraseError,
    parse_date_phrase,
)

NOW = datetime(2026, 3, 18, 15, 42, 7, tzinfo=UTC)  # a Wednesday
MONTH_END = datetime(2026, 1, 31, 8, 30, tzinfo=UTC)  # a Saturday, 31-day month before February

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def parse(text: str, now: datetime = NOW) -> datetime:
    return parse_date_phrase(text, now=now)


def both(text: str, now: datetime = NOW) -> tuple[datetime, datetime]:
    """What a phrase means in `dateRange.start` and in `dateRange.end`."""
    return parse_date_phrase(text, now=now, bound="start"), parse_date_phrase(
        text, now=now, bound="end"
    )


# --- base words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("now", utc(2026, 3, 18, 15, 42, 7)),
        ("today", utc(2026, 3, 18)),
        ("midnight", utc(2026, 3, 18)),
        ("noon", utc(2026, 3, 18, 12)),
        ("yesterday", utc(2026, 3, 17)),
        ("tomorrow", utc(2026, 3, 19)),
    ],
)
def test_base_words(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "now", "expected"),
    [
        ("yesterday", MONTH_END, utc(2026, 1, 30)),
        ("tomorrow", MONTH_END, utc(2026, 2, 1)),
        ("tomorrow", utc(2025, 12, 31, 23, 59, 59), utc(2026, 1, 1)),
        ("yesterday", utc(2026, 1, 1, 0, 0, 0), utc(2025, 12, 31)),
        ("noon", utc(2026, 1, 1, 23, 59, 59), utc(2026, 1, 1, 12)),
    ],
)
def test_base_words_cross_month_and_year(phrase: str, now: datetime, expected: datetime) -> None:
    assert parse(phrase, now) == expected


# --- unit steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("1 second ago", utc(2026, 3, 18, 15, 42, 6)),
        ("2 seconds ago", utc(2026, 3, 18, 15, 42, 5)),
        ("+1 second", utc(2026, 3, 18, 15, 42, 8)),
        ("+60 seconds", utc(2026, 3, 18, 15, 43, 7)),
        ("-3 seconds", utc(2026, 3, 18, 15, 42, 4)),
        ("1 minute ago", utc(2026, 3, 18, 15, 41, 7)),
        ("2 minutes ago", utc(2026, 3, 18, 15, 40, 7)),
        ("+1 minute", utc(2026, 3, 18, 15, 43, 7)),
        ("+20 minutes", utc(2026, 3, 18, 16, 2, 7)),
        ("-3 minutes", utc(2026, 3, 18, 15, 39, 7)),
        ("1 hour ago", utc(2026, 3, 18, 14, 42, 7)),
        ("2 hours ago", utc(2026, 3, 18, 13, 42, 7)),
        ("+1 hour", utc(2026, 3, 18, 16, 42, 7)),
        ("+9 hours", utc(2026, 3, 19, 0, 42, 7)),
        ("-3 hours", utc(2026, 3, 18, 12, 42, 7)),
        ("1 day ago", utc(2026, 3, 17, 15, 42, 7)),
        ("2 days ago", utc(2026, 3, 16, 15, 42, 7)),
        ("+1 day", utc(2026, 3, 19, 15, 42, 7)),
        ("+14 days", utc(2026, 4, 1, 15, 42, 7)),
        ("-3 days", utc(2026, 3, 15, 15, 42, 7)),
        ("1 week ago", utc(2026, 3, 11, 15, 42, 7)),
        ("2 weeks ago", utc(2026, 3, 4, 15, 42, 7)),
        ("+1 week", utc(2026, 3, 25, 15, 42, 7)),
        ("+2 weeks", utc(2026, 4, 1, 15, 42, 7)),
        ("-3 weeks", utc(2026, 2, 25, 15, 42, 7)),
        ("1 month ago", utc(2026, 2, 18, 15, 42, 7)),
        ("2 months ago", utc(2026, 1, 18, 15, 42, 7)),
        ("+1 month", utc(2026, 4, 18, 15, 42, 7)),
        ("+10 months", utc(2027, 1, 18, 15, 42, 7)),
        ("-3 months", utc(2025, 12, 18, 15, 42, 7)),
        ("1 year ago", utc(2025, 3, 18, 15, 42, 7)),
        ("2 years ago", utc(2024, 3, 18, 15, 42, 7)),
        ("+1 year", utc(2027, 3, 18, 15, 42, 7)),
        ("+100 years", utc(2126, 3, 18, 15, 42, 7)),
        ("-3 years", utc(2023, 3, 18, 15, 42, 7)),
    ],
)
def test_unit_steps_from_now(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("1 days ago", utc(2026, 3, 17, 15, 42, 7)),
        ("2 day ago", utc(2026, 3, 16, 15, 42, 7)),
        ("+1 hours", utc(2026, 3, 18, 16, 42, 7)),
        ("-2 year", utc(2024, 3, 18, 15, 42, 7)),
    ],
)
def test_singular_and_plural_are_interchangeable(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected


@pytest.mark.parametrize("phrase", ["0 seconds ago", "+0 days", "-0 years", "now +0 months"])
def test_zero_amount_is_identity(phrase: str) -> None:
    assert parse(phrase) == NOW


def test_minus_and_ago_agree() -> None:
    for unit in ("second", "minute", "hour", "day", "week", "month", "year"):
        assert parse(f"-7 {unit}s") == parse(f"7 {unit}s ago"), unit


def test_amount_cap_is_inclusive() -> None:
    assert parse(f"{MAX_AMOUNT} seconds ago") == NOW - timedelta(seconds=MAX_AMOUNT)
    with pytest.raises(DatePhraseError, match=str(MAX_AMOUNT)):
        parse(f"{MAX_AMOUNT + 1} seconds ago")


# --- month clamping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "now", "expected"),
    [
        ("+1 month", MONTH_END, utc(2026, 2, 28, 8, 30)),
        ("+1 month", utc(2024, 1, 31, 8, 30), utc(2024, 2, 29, 8, 30)),
        ("+3 months", MONTH_END, utc(2026, 4, 30, 8, 30)),
        ("+2 months", MONTH_END, utc(2026, 3, 31, 8, 30)),
        ("1 month ago", utc(2026, 3, 31, 12), utc(2026, 2, 28, 12)),
        ("1 month ago", utc(2026, 5, 31, 12), utc(2026, 4, 30, 12)),
        ("+1 year", utc(2024, 2, 29), utc(2025, 2, 28)),
        ("4 years ago", utc(2028, 2, 29), utc(2024, 2, 29)),
        # Each step clamps on its own: Jan 31 -> Feb 28 -> Mar 28 (not Mar 31).
        ("+1 month +1 month", MONTH_END, utc(2026, 3, 28, 8, 30)),
        ("2026-01-31 +1 month", NOW, utc(2026, 2, 28)),
    ],
)
def test_month_and_year_steps_clamp_to_month_end(
    phrase: str, now: datetime, expected: datetime
) -> None:
    assert parse(phrase, now) == expected


# --- first/last day of a month ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "now", "expected"),
    [
        ("first day of this month", NOW, utc(2026, 3, 1, 15, 42, 7)),
        ("last day of this month", NOW, utc(2026, 3, 31, 15, 42, 7)),
        ("first day of last month", NOW, utc(2026, 2, 1, 15, 42, 7)),
        ("last day of last month", NOW, utc(2026, 2, 28, 15, 42, 7)),
        ("first day of next month", NOW, utc(2026, 4, 1, 15, 42, 7)),
        ("last day of next month", NOW, utc(2026, 4, 30, 15, 42, 7)),
        ("first day of this month midnight", NOW, utc(2026, 3, 1)),
        ("last day of this month midnight", NOW, utc(2026, 3, 31)),
        ("first day of last month midnight", NOW, utc(2026, 2, 1)),
        ("last day of last month midnight", NOW, utc(2026, 2, 28)),
        ("first day of next month midnight", NOW, utc(2026, 4, 1)),
        ("last day of next month midnight", NOW, utc(2026, 4, 30)),
        ("first day of last month", MONTH_END, utc(2025, 12, 1, 8, 30)),
        ("last day of last month", MONTH_END, utc(2025, 12, 31, 8, 30)),
        ("first day of this month", MONTH_END, utc(2026, 1, 1, 8, 30)),
        ("last day of this month", MONTH_END, utc(2026, 1, 31, 8, 30)),
        ("first day of next month", MONTH_END, utc(2026, 2, 1, 8, 30)),
        ("last day of next month", MONTH_END, utc(2026, 2, 28, 8, 30)),
        ("last day of next month", utc(2024, 1, 15, 6), utc(2024, 2, 29, 6)),
        ("last day of last month midnight", utc(2026, 3, 31, 23, 59, 59), utc(2026, 2, 28)),
        ("first day of next month", utc(2026, 12, 10, 1, 2, 3), utc(2027, 1, 1, 1, 2, 3)),
    ],
)
def test_first_and_last_day_of_month(phrase: str, now: datetime, expected: datetime) -> None:
    assert parse(phrase, now) == expected


# --- weekdays --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        # NOW is Wednesday 2026-03-18; its Monday-start week runs 16..22 March.
        ("this monday", utc(2026, 3, 16)),
        ("this tuesday", utc(2026, 3, 17)),
        ("this wednesday", utc(2026, 3, 18)),
        ("this thursday", utc(2026, 3, 19)),
        ("this friday", utc(2026, 3, 20)),
        ("this saturday", utc(2026, 3, 21)),
        ("this sunday", utc(2026, 3, 22)),
        ("next monday", utc(2026, 3, 23)),
        ("next tuesday", utc(2026, 3, 24)),
        ("next wednesday", utc(2026, 3, 25)),
        ("next thursday", utc(2026, 3, 19)),
        ("next friday", utc(2026, 3, 20)),
        ("next saturday", utc(2026, 3, 21)),
        ("next sunday", utc(2026, 3, 22)),
        ("last monday", utc(2026, 3, 16)),
        ("last tuesday", utc(2026, 3, 17)),
        ("last wednesday", utc(2026, 3, 11)),
        ("last thursday", utc(2026, 3, 12)),
        ("last friday", utc(2026, 3, 13)),
        ("last saturday", utc(2026, 3, 14)),
        ("last sunday", utc(2026, 3, 15)),
    ],
)
def test_weekdays_from_a_wednesday(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        # MONTH_END is Saturday 2026-01-31; its week runs 26 Jan..1 Feb.
        ("this monday", utc(2026, 1, 26)),
        ("this saturday", utc(2026, 1, 31)),
        ("this sunday", utc(2026, 2, 1)),
        ("next saturday", utc(2026, 2, 7)),
        ("next monday", utc(2026, 2, 2)),
        ("last saturday", utc(2026, 1, 24)),
        ("last sunday", utc(2026, 1, 25)),
    ],
)
def test_weekdays_across_a_month_boundary(phrase: str, expected: datetime) -> None:
    assert parse(phrase, MONTH_END) == expected


@pytest.mark.parametrize("days_after_monday", range(7))
def test_weekday_rules_hold_for_every_day_of_the_week(days_after_monday: int) -> None:
    now = utc(2026, 3, 16, 9, 15) + timedelta(days=days_after_monday)
    today = utc(2026, 3, 16) + timedelta(days=days_after_monday)
    monday = utc(2026, 3, 16)
    for index, name in enumerate(WEEKDAYS):
        this = parse(f"this {name}", now)
        after = parse(f"next {name}", now)
        before = parse(f"last {name}", now)
        for result in (this, after, before):
            assert result.weekday() == index, name
            assert (result.hour, result.minute, result.second) == (0, 0, 0), name
        assert monday <= this < monday + timedelta(days=7), name
        assert today < after <= today + timedelta(days=7), name
        assert today - timedelta(days=7) <= before < today, name
        if index == now.weekday():
            assert (this, after, before) == (
                today,
                today + timedelta(days=7),
                today - timedelta(days=7),
            ), name


# --- combinations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("first day of last month midnight", utc(2026, 2, 1)),
        ("3 days ago midnight", utc(2026, 3, 15)),
        ("last day of this month noon", utc(2026, 3, 31, 12)),
        ("first day of next month midnight -1 second", utc(2026, 3, 31, 23, 59, 59)),
        ("midnight 3 hours ago", utc(2026, 3, 17, 21)),
        ("3 hours ago midnight", utc(2026, 3, 18)),
        ("tomorrow noon", utc(2026, 3, 19, 12)),
        ("today noon -1 week", utc(2026, 3, 11, 12)),
        ("yesterday +90 minutes", utc(2026, 3, 17, 1, 30)),
        ("next friday noon", utc(2026, 3, 20, 12)),
        ("last monday -1 week", utc(2026, 3, 9)),
        ("today +1 day -2 hours", utc(2026, 3, 18, 22)),
        ("+1 month midnight", utc(2026, 4, 18)),
        ("2 weeks ago noon", utc(2026, 3, 4, 12)),
        ("noon midnight", utc(2026, 3, 18)),
        ("now midnight", utc(2026, 3, 18)),
    ],
)
def test_combinations(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected


# --- absolute date-times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("2026-01-31T10:00:00Z", utc(2026, 1, 31, 10)),
        ("2026-01-31T10:00:00+00:00", utc(2026, 1, 31, 10)),
        ("2026-01-31T10:00:00+02:00", utc(2026, 1, 31, 8)),
        ("2026-01-31T10:00:00-05:30", utc(2026, 1, 31, 15, 30)),
        ("2026-01-31T10:00:00+0530", utc(2026, 1, 31, 4, 30)),
        ("2026-01-01T01:00:00+02:00", utc(2025, 12, 31, 23)),
        ("2025-12-31T22:00:00-03:00", utc(2026, 1, 1, 1)),
        ("2026-01-31T10:00:00", utc(2026, 1, 31, 10)),
        ("2026-01-31T10:00", utc(2026, 1, 31, 10)),
        ("2026-01-31T10:00Z", utc(2026, 1, 31, 10)),
        ("2026-01-31 10:00:00Z", utc(2026, 1, 31, 10)),
        ("2026-01-31T10:00:00.987654Z", utc(2026, 1, 31, 10)),
        ("2026-01-31T10:00:59,5+01:00", utc(2026, 1, 31, 9, 0, 59)),
        ("2026-01-31t10:00:00z", utc(2026, 1, 31, 10)),
        ("2026-01-31", utc(2026, 1, 31)),
        ("2024-02-29", utc(2024, 2, 29)),
        ("0001-01-01T00:00:00Z", utc(1, 1, 1)),
        ("9999-12-31T23:59:59Z", utc(9999, 12, 31, 23, 59, 59)),
        ("2026-01-31T10:00:00+02:00 +1 day", utc(2026, 2, 1, 8)),
        ("2026-01-31T10:00:00-02:00 -1 hour", utc(2026, 1, 31, 11)),
        ("2026-01-31 3 days ago", utc(2026, 1, 28)),
        ("2026-01-31T10:00:00Z midnight", utc(2026, 1, 31)),
        ("2026-01-31 noon", utc(2026, 1, 31, 12)),
    ],
)
def test_absolute_date_times(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected
    # An absolute phrase does not depend on the evaluation time.
    assert parse(phrase, MONTH_END) == expected


# --- case and whitespace ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("  3   DAYS   Ago ", utc(2026, 3, 15, 15, 42, 7)),
        ("First Day Of Last Month MIDNIGHT", utc(2026, 2, 1)),
        ("\tNext\nFriday ", utc(2026, 3, 20)),
        ("NOW", utc(2026, 3, 18, 15, 42, 7)),
        ("Tomorrow  NOON", utc(2026, 3, 19, 12)),
        ("3\u00a0days ago", utc(2026, 3, 15, 15, 42, 7)),
        (" 2026-01-31   10:00:00Z ", utc(2026, 1, 31, 10)),
    ],
)
def test_case_and_whitespace_are_tolerated(phrase: str, expected: datetime) -> None:
    assert parse(phrase) == expected


# --- rejected input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase",
    [
        "",
        "   ",
        "tomorow",
        "3 fortnights ago",
        "first day of month",
        "first day of the last month",
        "last day of last week",
        "day of last month",
        "first monday",
        "last fortnight",
        "this day",
        "next",
        "next mon",
        "next friday friday",
        "now now",
        "today yesterday",
        "noon tomorrow",
        "1 day ago now",
        "1 year ago first day of this month",  # a base may only come first
        "ago",
        "midnight ago",
        "++1 day",
        "+-1 day",
        "+ 3 days",
        "+3days",
        "3days ago",
        "3 days",
        "3",
        "-3",
        "+3 days ago",
        "3 days ago ago",
        "3 days from now",
        "1e3 days ago",
        "3.5 days ago",
        "-1.5 hours",
        "-0x10 days",
        "\u0663 days ago",  # ARABIC-INDIC DIGIT THREE
        "999999999 years ago",
        "1" + "0" * 5000 + " days ago",
        "2026-13-01",
        "2026-02-30",
        "2025-02-29",
        "0000-01-01",
        "2026-1-31",
        "20260131",
        "2026-01-31Z",
        "2026-01-31T10Z",
        "2026-01-31T25:00:00Z",
        "2026-01-31T10:60:00Z",
        "2026-01-31T10:00:60Z",
        "2026-01-31T10:00:00+24:00",
        "2026-01-31T10:00:00+02:60",
        "2026-01-31T10:00:00 +02:00",
        "2026-01-31T10:00:00+02:00:00",
        "2026-01-31T10:00:00EST",
        "2026-01-31 2026-02-01",
        "2026-01-31+1 day",  # a modifier must be separated from the date by whitespace
        "2026-01-31T10:00:00+1 day",
        "2026-01-31T10:00:00Z+1 day",
        "31/01/2026",
        "Jan 31 2026",
    ],
)
def test_garbage_is_rejected(phrase: str) -> None:
    with pytest.raises(DatePhraseError):
        parse(phrase)


def test_error_message_names_the_phrase() -> None:
    with pytest.raises(DatePhraseError) as info:
        parse("foo")
    assert str(info.value).startswith("Unrecognised date phrase 'foo'")


def test_error_message_names_the_unknown_unit() -> None:
    with pytest.raises(DatePhraseError, match="fortnights"):
        parse("3 fortnights ago")


def test_error_message_does_not_echo_huge_input() -> None:
    with pytest.raises(DatePhraseError) as info:
        parse("x" * 10_000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("phrase", "now"),
    [
        ("100000 years ago", NOW),
        ("+8000 years", NOW),
        ("tomorrow", utc(9999, 12, 31, 12)),
        ("+1 second", utc(9999, 12, 31, 23, 59, 59)),
        ("next monday", utc(9999, 12, 31, 12)),
        ("first day of next month", utc(9999, 12, 1)),
        ("yesterday", utc(1, 1, 1, 12)),
        ("1 second ago", utc(1, 1, 1)),
        ("9999-12-31T23:00:00-05:00", NOW),
        ("0001-01-01T01:00:00+02:00", NOW),
    ],
)
def test_results_outside_years_1_to_9999_are_phrase_errors(phrase: str, now: datetime) -> None:
    with pytest.raises(DatePhraseError, match="out of range"):
        parse(phrase, now)


# --- the evaluation clock --------------------------------------------------------------------


def test_results_are_utc_and_whole_seconds() -> None:
    now = datetime(2026, 3, 18, 15, 42, 7, 999_999, tzinfo=UTC)
    for phrase in ("now", "3 days ago", "first day of this month", "2026-01-31T10:00:00.5+01:00"):
        result = parse(phrase, now)
        assert result.tzinfo is UTC, phrase
        assert result.microsecond == 0, phrase
    assert parse("now", now) == NOW


def test_now_in_another_zone_is_converted_to_utc_first() -> None:
    # 01:00 on the 19th in UTC+10 is still the 18th in UTC; day words follow the UTC day.
    local = datetime(2026, 3, 19, 1, 42, 7, tzinfo=timezone(timedelta(hours=10)))
    assert parse("now", local) == utc(2026, 3, 18, 15, 42, 7)
    assert parse("today", local) == utc(2026, 3, 18)
    assert parse("next thursday", local) == utc(2026, 3, 19)
    assert parse("now", local).tzinfo is UTC


def test_naive_now_is_a_caller_bug_not_a_phrase_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware") as info:
        parse("now", datetime(2026, 3, 18, 15, 42, 7))
    assert not isinstance(info.value, DatePhraseError)


def test_random_amounts_match_relativedelta() -> None:
    rng = random.Random(20260318)
    units = ("second", "minute", "hour", "day", "week", "month", "year")
    fixed = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
    nows = (NOW, MONTH_END, utc(2024, 2, 29, 23, 59, 59), utc(2025, 12, 31))
    for _ in range(500):
        unit = rng.choice(units)
        amount = rng.randint(0, 2000)
        spelled = rng.choice((unit, unit + "s"))
        now = rng.choice(nows)
        step = relativedelta(**{unit + "s": amount})
        assert parse(f"{amount} {spelled} ago", now) == now - step, (amount, spelled, now)
        assert parse(f"-{amount} {spelled}", now) == now - step, (amount, spelled, now)
        assert parse(f"+{amount} {spelled}", now) == now + step, (amount, spelled, now)
        if unit in fixed:
            seconds = timedelta(seconds=amount * fixed[unit])
            assert parse(f"{amount} {spelled} ago", now) == now - seconds
            assert parse(f"+{amount} {spelled}", now) == now + seconds


# --- periods ---------------------------------------------------------------------------------

LEAP_DAY = utc(2024, 2, 29, 23, 59, 59)  # a Thursday
NEW_YEAR = utc(2027, 1, 1, 0, 0, 0)  # a Friday, the first second of a year


@pytest.mark.parametrize(
    ("phrase", "now", "start", "end"),
    [
        ("this month", NOW, utc(2026, 3, 1), utc(2026, 4, 1)),
        ("last month", NOW, utc(2026, 2, 1), utc(2026, 3, 1)),
        ("next month", NOW, utc(2026, 4, 1), utc(2026, 5, 1)),
        ("last month", MONTH_END, utc(2025, 12, 1), utc(2026, 1, 1)),
        ("next month", MONTH_END, utc(2026, 2, 1), utc(2026, 3, 1)),
        ("this month", LEAP_DAY, utc(2024, 2, 1), utc(2024, 3, 1)),
        ("next month", LEAP_DAY, utc(2024, 3, 1), utc(2024, 4, 1)),
        ("last month", utc(2024, 3, 31, 12), utc(2024, 2, 1), utc(2024, 3, 1)),
        ("last month", NEW_YEAR, utc(2026, 12, 1), utc(2027, 1, 1)),
        ("this month", NEW_YEAR, utc(2027, 1, 1), utc(2027, 2, 1)),
        ("this year", NOW, utc(2026, 1, 1), utc(2027, 1, 1)),
        ("last year", NOW, utc(2025, 1, 1), utc(2026, 1, 1)),
        ("next year", NOW, utc(2027, 1, 1), utc(2028, 1, 1)),
        ("last year", NEW_YEAR, utc(2026, 1, 1), utc(2027, 1, 1)),
        ("last year", LEAP_DAY, utc(2023, 1, 1), utc(2024, 1, 1)),
        ("this week", NOW, utc(2026, 3, 16), utc(2026, 3, 23)),
        ("last week", NOW, utc(2026, 3, 9), utc(2026, 3, 16)),
        ("next week", NOW, utc(2026, 3, 23), utc(2026, 3, 30)),
        ("this week", NEW_YEAR, utc(2026, 12, 28), utc(2027, 1, 4)),
        ("last week", LEAP_DAY, utc(2024, 2, 19), utc(2024, 2, 26)),
        ("2026-02", NOW, utc(2026, 2, 1), utc(2026, 3, 1)),
        ("2024-02", NOW, utc(2024, 2, 1), utc(2024, 3, 1)),
        ("2026-12", NOW, utc(2026, 12, 1), utc(2027, 1, 1)),
        ("2026", NOW, utc(2026, 1, 1), utc(2027, 1, 1)),
        ("2024", MONTH_END, utc(2024, 1, 1), utc(2025, 1, 1)),
        ("0001", NOW, utc(1, 1, 1), utc(2, 1, 1)),
        ("  Last   MONTH ", NOW, utc(2026, 2, 1), utc(2026, 3, 1)),
    ],
)
def test_a_bare_period_is_its_start_in_start_and_its_end_in_end(
    phrase: str, now: datetime, start: datetime, end: datetime
) -> None:
    # Ends are exclusive (spec: bounds include start, exclude end): the period's end is the
    # first second after it, so start=P, end=P selects exactly P.
    assert both(phrase, now) == (start, end)
    # The default bound is start: what the grammar gave before bounds existed.
    assert parse(phrase, now) == start


@pytest.mark.parametrize(
    ("phrase", "now", "expected"),
    [
        ("start of last month", NOW, utc(2026, 2, 1)),
        ("end of last month", NOW, utc(2026, 3, 1)),
        ("start of this month", NOW, utc(2026, 3, 1)),
        ("end of this month", NOW, utc(2026, 4, 1)),
        ("end of this month", LEAP_DAY, utc(2024, 3, 1)),
        ("end of last month", utc(2024, 3, 1), utc(2024, 3, 1)),
        ("start of last month", utc(2024, 3, 1), utc(2024, 2, 1)),
        ("end of next month", MONTH_END, utc(2026, 3, 1)),
        ("end of this year", NOW, utc(2027, 1, 1)),
        ("start of last year", NEW_YEAR, utc(2026, 1, 1)),
        ("end of last year", NEW_YEAR, utc(2027, 1, 1)),
        ("start of this week", NOW, utc(2026, 3, 16)),
        ("end of this week", NOW, utc(2026, 3, 23)),
        ("start of today", NOW, utc(2026, 3, 18)),
        ("end of today", NOW, utc(2026, 3, 19)),
        ("start of yesterday", utc(2026, 3, 1, 9), utc(2026, 2, 28)),
        ("end of yesterday", utc(2026, 3, 1, 9), utc(2026, 3, 1)),
        ("end of tomorrow", LEAP_DAY, utc(2024, 3, 2)),
        ("end of tomorrow", utc(2026, 12, 31, 5), utc(2027, 1, 2)),
        ("start of 2024-02-29", NOW, utc(2024, 2, 29)),
        ("end of 2024-02-29", NOW, utc(2024, 3, 1)),
        ("end of 2026-12-31", NOW, utc(2027, 1, 1)),
        ("end of 2024-02", NOW, utc(2024, 3, 1)),
        ("end of 2025-02", NOW, utc(2025, 3, 1)),
        ("start of 2026-11", NOW, utc(2026, 11, 1)),
        ("end of 2026", NOW, utc(2027, 1, 1)),
        ("start of 2026", NOW, utc(2026, 1, 1)),
        # Modifiers follow a period like any base.
        ("end of this month -1 second", LEAP_DAY, utc(2024, 2, 29, 23, 59, 59)),
        ("start of last month +14 days", NOW, utc(2026, 2, 15)),
        ("end of last month noon", NOW, utc(2026, 3, 1, 12)),
        ("start of 2026 +1 day", NOW, utc(2026, 1, 2)),
        ("Start Of Last Month", NOW, utc(2026, 2, 1)),
    ],
)
def test_start_of_and_end_of_mean_the_same_in_either_bound(
    phrase: str, now: datetime, expected: datetime
) -> None:
    assert both(phrase, now) == (expected, expected)


def test_a_four_digit_step_is_still_a_step_not_a_year() -> None:
    assert parse("2026 days ago") == NOW - timedelta(days=2026)
    assert both("2026 hours ago") == (NOW - timedelta(hours=2026),) * 2


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [("today", utc(2026, 3, 18)), ("yesterday", utc(2026, 3, 17)), ("2026-03-01", utc(2026, 3, 1))],
)
def test_day_words_and_full_dates_stay_instants_in_either_bound(
    phrase: str, expected: datetime
) -> None:
    # `{"start": "yesterday", "end": "today"}` has always meant yesterday: it must not grow.
    assert both(phrase) == (expected, expected)


@pytest.mark.parametrize(
    ("phrase", "reason"),
    [
        ("start", "expected 'start of'"),
        ("end", "expected 'end of'"),
        ("start of", "expected 'start of'"),
        ("end last month", "expected 'end of'"),
        ("start of month", "expected a period"),
        ("start of last", "expected a period"),
        ("start of last day", "expected a period"),
        ("end of next fortnight", "expected a period"),
        ("end of now", "expected a period"),
        ("start of 2026-01-31T10:00Z", "expected a period"),
        ("start of 2026-01-31 10:00", "unexpected '10:00'"),
        ("end of 26-01", "expected a period"),
        ("2026-13", "invalid date"),
        ("2026-00", "invalid date"),
        ("end of 2025-02-29", "invalid date"),
        ("0000", "invalid date"),
        ("2026-1", "unexpected"),
        ("last month last month", "unexpected"),
        ("last fortnight", "expected a weekday, week, month or year after 'last'"),
    ],
)
def test_bad_periods_are_refused_with_a_reason(phrase: str, reason: str) -> None:
    for bound in ("start", "end"):
        with pytest.raises(DatePhraseError, match=re.escape(reason)):
            parse_date_phrase(phrase, now=NOW, bound=bound)


@pytest.mark.parametrize(("phrase", "bound"), [("9999", "end"), ("end of 9999-12", "start")])
def test_a_period_ending_after_year_9999_is_out_of_range(phrase: str, bound: str) -> None:
    with pytest.raises(DatePhraseError, match="out of range"):
        parse_date_phrase(phrase, now=NOW, bound=bound)  # type: ignore[arg-type]


def test_the_readme_period_examples_hold() -> None:
    """The README's table of date ranges is worked out at NOW; each row must still be true."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\{\"start\".*?\})` \| (\S+) \| (\S+) \|$", readme, re.MULTILINE)
    assert len(rows) >= 6
    for example, start, end in rows:
        given = json.loads(example)
        assert both(given["start"])[0] == datetime.fromisoformat(start), example
        assert both(given["end"])[1] == datetime.fromisoformat(end), example
