"""RFC 7807 problem responses for every error the REST surface can give."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth import CHALLENGE
from app.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    RecordLimitExceeded,
    TimedOut,
    Unauthorized,
)
from app.requestid import REQUEST_ID

log = logging.getLogger("app.rest")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: ("bad-request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not Found"),
    405: ("method-not-allowed", "Method Not Allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload Too Large"),
    415: ("unsupported-media-type", "Unsupported Media Type"),
    416: ("range-not-satisfiable", "Range Not Satisfiable"),
    422: ("validation-error", "Invalid Data"),
    429: ("too-many-requests", "Too Many Requests"),
    500: ("internal-error", "Internal Server Error"),
    504: ("timeout", "Gateway Timeout"),
}


def problem(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    default_type, title = _TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": type_ or default_type,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    request_id = REQUEST_ID.get()
    if request_id is not None:  # last: the contract's members keep their order
        body["requestId"] = request_id
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _invalid_fields(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "message": e.message} for e in errors]


def from_domain(error: DomainError) -> JSONResponse:
    if isinstance(error, Invalid):
        return problem(422, error.message, invalidFields=_invalid_fields(error.errors))
    if isinstance(error, RecordLimitExceeded):
        return problem(
            422,
            error.message,
            type_="data-export-limit-exceeded",
            invalidFields=_invalid_fields(error.errors),
            matchedRecords=error.matched,
            maxRecords=error.maximum,
        )
    if isinstance(error, RateLimited):
        return problem(
            429,
            error.message,
            headers={
                "X-RateLimit-Limit": str(error.limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Retry-After": str(error.retry_at_epoch),
                "Retry-After": str(error.retry_after_seconds),
            },
        )
    if isinstance(error, TimedOut):
        return problem(504, error.message, timeoutSeconds=error.seconds)
    if isinstance(error, Unauthorized):
        return problem(401, error.message, headers={"WWW-Authenticate": CHALLENGE})
    status = {Forbidden: 403, NotFound: 404, Conflict: 409}.get(type(error), 400)
    return problem(status, error.message)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    allow = (exc.headers or {}).get("Allow")
    if exc.status_code == 405 and request.method == "OPTIONS" and allow:
        return options_response(allow)
    if exc.status_code == 404:
        detail = "No such route."
    elif exc.status_code == 405:
        detail = f"Method {request.method} is not allowed here."
    else:
        detail = str(exc.detail)
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


def options_response(allow: str) -> Response:
    """OPTIONS asks what the 405 of a route without it would tell (RFC 9110 §9.3.7): its
    methods, as a 204 without a body or credentials."""
    methods = sorted({m.strip() for m in allow.split(",")} | {"OPTIONS"})
    return Response(status_code=204, headers={"Allow": ", ".join(methods)})


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return from_domain(exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Log the real error under a correlation id; show the caller only the id."""
    correlation = uuid.uuid4().hex
    log.exception("unexpected error %s on %s %s", correlation, request.method, request.url.path)
    return problem(
        500, f"An unexpected error occurred; reference {correlation}.", correlationId=correlation
    )
