"""Domain errors: what went wrong in terms a caller can act on, free of HTTP and GraphQL.

Each surface translates them (REST into RFC 7807 problems, GraphQL into typed results).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base class; `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(DomainError):
    """Missing, unknown, malformed or expired credentials."""


class Forbidden(DomainError):
    """Authenticated, but not allowed to do this."""


class NotFound(DomainError):
    """No such object in the caller's organization."""


class Conflict(DomainError):
    """The object's state does not allow the change."""


class Invalid(DomainError):
    """Input that breaks the contract, with every offending field named."""

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        errors = _first_per_field(errors)
        names = ", ".join(e.field for e in errors)
        super().__init__(message or f"Invalid input: check {names}.")
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: str) -> Invalid:
        return cls([FieldError(field, message)])


def _first_per_field(errors: list[FieldError]) -> list[FieldError]:
    """A value can break several rules at once; the first one found is enough to fix it."""
    first: dict[str, FieldError] = {}
    for error in errors:
        first.setdefault(error.field, error)
    return list(first.values())


class RecordLimitExceeded(DomainError):
    """An export would match more rows than the configured limit."""

    def __init__(self, matched: int, maximum: int) -> None:
        super().__init__(f"The export matches {matched} records, more than the limit of {maximum}.")
        self.matched = matched
        self.maximum = maximum
        # Always the date range: the one input every export has (omitted, it means all time).
        self.errors = [
            FieldError(
                "dateRange",
                f"Matches {matched} records, more than {maximum}: narrow dateRange "
                "or arguments.filter.",
            )
        ]


class RateLimited(DomainError):
    """Too many writes for the organization in the current window."""

    def __init__(self, limit: int, retry_at_epoch: int, retry_after_seconds: int) -> None:
        super().__init__("Too many write requests; retry later.")
        self.limit = limit
        self.retry_at_epoch = retry_at_epoch
        self.retry_after_seconds = retry_after_seconds


class TimedOut(DomainError):
    """A request that reads the data itself (a preview) took longer than it is allowed."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds
