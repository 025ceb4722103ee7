"""Where an export is in its lifecycle, and why it failed: the one list every module uses."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    """Waiting for its scheduledTime; the only state in which it may be changed."""
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED)


class FailureReason(StrEnum):
    RECORD_LIMIT_EXCEEDED = "record-limit-exceeded"
    MAX_RETRIES_REACHED = "max-retries-reached"
