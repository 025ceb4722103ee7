"""The one date-time wire format of every surface: whole seconds, UTC, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def isoz(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
