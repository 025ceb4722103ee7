"""isoz is the one wire format of every date-time: the same text as the plain formula it
replaced (isoformat, cut to whole seconds, `Z`) for any value, aware or naive."""

from datetime import UTC, datetime, timedelta, timezone, tzinfo

from hypothesis import given
from hypothesis import strategies as st

from app.timefmt import isoz

ZONES: st.SearchStrategy[tzinfo | None] = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)


def plain_isoz(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_isoz_matches_isoformat(value: datetime) -> None:
    assert isoz(value) == plain_isoz(value)


def test_isoz_truncates_fractions_and_pads_years() -> None:
    assert isoz(datetime(2026, 12, 6, 23, 1, 48, 999_999, tzinfo=UTC)) == "2026-12-06T23:01:48Z"
    assert isoz(datetime(5, 1, 1)) == "0005-01-01T00:00:00Z"
    plus_five = timezone(timedelta(hours=5))
    assert isoz(datetime(2026, 1, 1, tzinfo=plus_five)) == "2025-12-31T19:00:00Z"
