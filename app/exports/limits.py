"""The numbers the core enforces, handed to it as plain values (read once from the settings)."""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings


@dataclass(frozen=True)
class Limits:
    max_records: int
    max_pdf_records: int
    writes_per_window: int
    window_seconds: int
    preview_seconds: float = 5.0
    """How long a preview may take (PREVIEW_TIMEOUT_SECONDS)."""

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_records=settings.export_max_records,
            max_pdf_records=settings.export_pdf_max_records,
            writes_per_window=settings.rate_limit_writes,
            window_seconds=settings.rate_limit_window_seconds,
            preview_seconds=settings.preview_timeout_seconds,
        )

    def records_for(self, fmt: str) -> int:
        """PDF is for people: its own, lower cap."""
        return min(self.max_records, self.max_pdf_records) if fmt == "pdf" else self.max_records
