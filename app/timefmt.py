"""The one date-time wire format of every surface: whole seconds, UTC, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def isoz(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`: UTC, whole seconds (truncated); naive values are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
    )


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
