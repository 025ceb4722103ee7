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


class ErrorCode(StrEnum):
    """Why the latest attempt went wrong: a stable code for programs, shown with a fixed safe
    message (never the exception's text, which may hold paths or addresses)."""

    SOURCE_QUERY_FAILED = "source-query-failed"
    STORAGE_UNAVAILABLE = "storage-unavailable"
    DATABASE_UNAVAILABLE = "database-unavailable"
    RENDER_FAILED = "render-failed"
    RECORD_LIMIT_EXCEEDED = "record-limit-exceeded"
    SCHEDULE_INVALID = "schedule-invalid"
    WORKER_LOST = "worker-lost"
    SMTP_REFUSED = "smtp-refused"
    SMTP_UNAVAILABLE = "smtp-unavailable"
    INTERNAL_ERROR = "internal-error"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    ErrorCode.SOURCE_QUERY_FAILED: "The rows to export could not be read from the database.",
    ErrorCode.STORAGE_UNAVAILABLE: "The export file could not be written to storage.",
    ErrorCode.DATABASE_UNAVAILABLE: "The database could not record the export's progress.",
    ErrorCode.RENDER_FAILED: "The export file could not be rendered in its format.",
    ErrorCode.RECORD_LIMIT_EXCEEDED: "More rows matched than the format's record limit allows.",
    ErrorCode.SCHEDULE_INVALID: "The export's recurrence rule can no longer be evaluated.",
    ErrorCode.WORKER_LOST: "The worker running the export stopped responding; it was retried.",
    ErrorCode.SMTP_REFUSED: "The mail server refused the completion email.",
    ErrorCode.SMTP_UNAVAILABLE: "The mail server could not be reached for the completion email.",
    ErrorCode.INTERNAL_ERROR: "An unexpected error stopped the export; it was logged.",
}
