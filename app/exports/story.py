"""An export's own story, beside Rebilly's members: attempts in its current (or latest) run,
the latest error as a stable code and a safe message, when the next attempt is due while it
retries, and progress while it runs. REST and GraphQL both read it from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.exports.status import ErrorCode, Status
from app.models import DataExport

STORY_MEMBERS = ("attempts", "lastError", "nextAttemptTime", "progress")
"""The REST members this adds after Rebilly's; read-only, so a client may send them back."""


@dataclass(frozen=True)
class LastError:
    code: ErrorCode
    message: str
    time: datetime


@dataclass(frozen=True)
class Progress:
    rows_written: int
    rows_total: int | None
    """Rows matching when the run started; None until counted."""


@dataclass(frozen=True)
class Story:
    attempts: int
    last_error: LastError | None
    next_attempt_time: datetime | None
    progress: Progress | None


def tell(export: DataExport) -> Story:
    last_error = None
    if export.last_error_code and export.last_error_time:
        code = ErrorCode(export.last_error_code)
        last_error = LastError(
            code, export.last_error_message or code.message, export.last_error_time
        )
    retrying = export.status == Status.QUEUED and export.not_before is not None
    running = export.status == Status.PROCESSING
    return Story(
        attempts=export.attempts or 0,
        last_error=last_error,
        next_attempt_time=export.not_before if retrying else None,
        progress=Progress(export.rows_written or 0, export.rows_total) if running else None,
    )
