"""The one date-time wire format of every surface: whole seconds, UTC, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def isoz(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`: UTC, whole seconds (truncated); naive values are taken as UTC."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is C code and pads the year to four digits; the first 19 characters are
    # YYYY-MM-DDTHH:MM:SS whatever offset or fraction follows.
    return value.isoformat(timespec="seconds")[:19] + "Z"


def parse_iso_datetime(text: str) -> datetime:
    """RFC 3339 / ISO 8601; no offset means UTC; a bare date is 00:00Z. Raises ValueError."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 40:
        raise ValueError("not an ISO 8601 date-time")
    if cleaned.endswith(("z", "Z")):
        cleaned = cleaned[:-1] + "+00:00"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)
