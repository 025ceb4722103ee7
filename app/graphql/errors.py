"""Typed errors for mutations (clients switch on `__typename` or `code`), and the mapping of
domain errors onto them or onto GraphQL errors with an `extensions.code` for queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError

from app.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    RecordLimitExceeded,
    Unauthorized,
)
from app.errors import FieldError as DomainFieldError
from app.exports.principal import Principal
from app.graphql.context import Context
from app.graphql.enums import ErrorCode

T = TypeVar("T")


@strawberry.interface(description="What every typed mutation error carries.")
class Error:
    message: str = strawberry.field(description="Human-readable explanation.")
    code: ErrorCode = strawberry.field(description="Machine-readable code.")


@strawberry.type(description="One invalid input field.")
class FieldError:
    field: str = strawberry.field(description="Dotted path of the field, as REST invalidFields.")
    message: str = strawberry.field(description="What is wrong with it.")


@strawberry.type(description="The input broke the contract; every bad field is listed.")
class ValidationError(Error):
    invalid_fields: list[FieldError] = strawberry.field(description="Each offending field.")


@strawberry.type(description="No such export or webhook in the caller's organization.")
class NotFoundError(Error):
    pass


@strawberry.type(description="Authenticated, but not permitted (e.g. a read-only key).")
class ForbiddenError(Error):
    pass


@strawberry.type(description="The export's state does not allow the change.")
class ConflictError(Error):
    pass


@strawberry.type(description="Too many writes; retry after the given time.")
class RateLimitedError(Error):
    retry_after_seconds: int = strawberry.field(description="Seconds until writes are accepted.")


@strawberry.type(description="The export would exceed the record limit.")
class RecordLimitError(Error):
    matched_records: int = strawberry.field(description="Rows the export matches (at least).")
    max_records: int = strawberry.field(description="The configured limit.")
    invalid_fields: list[FieldError] = strawberry.field(
        description="The input to narrow, as REST's invalidFields."
    )


def _field_errors(errors: list[DomainFieldError]) -> list[FieldError]:
    return [FieldError(field=e.field, message=e.message) for e in errors]


def typed_error(error: DomainError) -> Any:
    """A domain error as the typed result a mutation returns; Unauthorized is not typed."""
    if isinstance(error, Invalid):
        return ValidationError(
            message=error.message,
            code=ErrorCode.VALIDATION_FAILED,
            invalid_fields=_field_errors(error.errors),
        )
    if isinstance(error, NotFound):
        return NotFoundError(message=error.message, code=ErrorCode.NOT_FOUND)
    if isinstance(error, Forbidden):
        return ForbiddenError(message=error.message, code=ErrorCode.FORBIDDEN)
    if isinstance(error, Conflict):
        return ConflictError(message=error.message, code=ErrorCode.CONFLICT)
    if isinstance(error, RateLimited):
        return RateLimitedError(
            message=error.message,
            code=ErrorCode.RATE_LIMITED,
            retry_after_seconds=error.retry_after_seconds,
        )
    if isinstance(error, RecordLimitExceeded):
        return RecordLimitError(
            message=error.message,
            code=ErrorCode.RECORD_LIMIT_EXCEEDED,
            matched_records=error.matched,
            max_records=error.maximum,
            invalid_fields=_field_errors(error.errors),
        )
    raise error


async def write(context: Context, work: Callable[[Principal], Awaitable[T]]) -> T | Any:
    """Run one write use case; expected failures become typed results.

    Unauthorized is not typed: it stays an error so the response is an HTTP 401.
    """
    try:
        return await work(await context.require("write"))  # 403 before any 422, as REST
    except Unauthorized:
        raise
    except DomainError as exc:
        return typed_error(exc)


BAD_USER_INPUT = "BAD_USER_INPUT"
"""The one code of a bad argument or variable value, however it was found: a literal or a
variable its type refuses, a value a scalar cannot parse, or the core's Invalid."""


def graphql_error(error: DomainError) -> GraphQLError:
    """A domain error raised from a query, as a GraphQL error with a stable code."""
    code = {
        Unauthorized: "UNAUTHENTICATED",
        Forbidden: "FORBIDDEN",
        NotFound: "NOT_FOUND",
        Conflict: "CONFLICT",
        RateLimited: "RATE_LIMITED",
        RecordLimitExceeded: "RECORD_LIMIT_EXCEEDED",
        Invalid: BAD_USER_INPUT,
    }.get(type(error), "BAD_REQUEST")
    extensions: dict[str, Any] = {"code": code}
    if isinstance(error, Invalid):
        extensions["invalidFields"] = [
            {"field": e.field, "message": e.message} for e in error.errors
        ]
    return GraphQLError(error.message, extensions=extensions, original_error=error)
