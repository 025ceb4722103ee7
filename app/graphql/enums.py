"""GraphQL enums: the UPPER_SNAKE form of each REST value (`JSON_API` ↔ `json-api`)."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry import enum_value

from app.exports.status import ErrorCode as Cause
from app.exports.status import FailureReason as Reason
from app.exports.status import Status


@strawberry.enum(description="Export result format.")
class ExportFormat(Enum):
    CSV = enum_value("csv", description="RFC 4180 comma-separated values with a header row.")
    JSON = enum_value("json", description="One JSON array of objects.")
    JSON_API = enum_value("json-api", description="A JSON:API document with a `data` array.")
    XML = enum_value("xml", description="An XML document, one element per record.")
    PDF = enum_value("pdf", description="A paginated table for people; capped in records.")


@strawberry.enum(description="How a CSV file is written (REST `csvDialect`).")
class CsvDialect(Enum):
    RFC4180 = enum_value("rfc4180", description="Plain RFC 4180: UTF-8 without BOM, CRLF rows.")
    EXCEL = enum_value(
        "excel",
        description="The same file after a UTF-8 byte-order mark, so Excel reads any script.",
    )


@strawberry.enum(description="The type of resource being exported.")
class ExportResource(Enum):
    TRANSACTIONS = enum_value(
        "transactions", description="Sales, authorizations, captures, refunds, voids, credits."
    )
    CUSTOMERS = enum_value("customers", description="Customers with their addresses.")
    SUBSCRIPTIONS = enum_value("subscriptions", description="Recurring orders.")
    INVOICES = enum_value("invoices", description="Invoices with their totals.")
    INVOICE_ITEMS = enum_value("invoiceItems", description="The line items of invoices.")


@strawberry.enum(description="Where an export is in its lifecycle.")
class ExportStatus(Enum):
    PENDING = enum_value(Status.PENDING.value, description="Waiting for its scheduledTime.")
    QUEUED = enum_value(Status.QUEUED.value, description="Due, waiting for a worker.")
    PROCESSING = enum_value(Status.PROCESSING.value, description="A worker holds it.")
    COMPLETED = enum_value(Status.COMPLETED.value, description="Its file is ready.")
    FAILED = enum_value(Status.FAILED.value, description="Gave up; see failureReason.")


@strawberry.enum(description="Why an export failed.")
class FailureReason(Enum):
    RECORD_LIMIT_EXCEEDED = enum_value(
        Reason.RECORD_LIMIT_EXCEEDED.value,
        description="More rows matched than the record limit allows.",
    )
    MAX_RETRIES_REACHED = enum_value(
        Reason.MAX_RETRIES_REACHED.value, description="Every attempt failed; the worker gave up."
    )


@strawberry.enum(description="What went wrong in an export's latest error (REST `lastError.code`).")
class ExportErrorCode(Enum):
    SOURCE_QUERY_FAILED = enum_value(
        Cause.SOURCE_QUERY_FAILED.value, description=Cause.SOURCE_QUERY_FAILED.message
    )
    STORAGE_UNAVAILABLE = enum_value(
        Cause.STORAGE_UNAVAILABLE.value, description=Cause.STORAGE_UNAVAILABLE.message
    )
    DATABASE_UNAVAILABLE = enum_value(
        Cause.DATABASE_UNAVAILABLE.value, description=Cause.DATABASE_UNAVAILABLE.message
    )
    RENDER_FAILED = enum_value(Cause.RENDER_FAILED.value, description=Cause.RENDER_FAILED.message)
    RECORD_LIMIT_EXCEEDED = enum_value(
        Cause.RECORD_LIMIT_EXCEEDED.value, description=Cause.RECORD_LIMIT_EXCEEDED.message
    )
    SCHEDULE_INVALID = enum_value(
        Cause.SCHEDULE_INVALID.value, description=Cause.SCHEDULE_INVALID.message
    )
    WORKER_LOST = enum_value(Cause.WORKER_LOST.value, description=Cause.WORKER_LOST.message)
    SMTP_REFUSED = enum_value(Cause.SMTP_REFUSED.value, description=Cause.SMTP_REFUSED.message)
    SMTP_UNAVAILABLE = enum_value(
        Cause.SMTP_UNAVAILABLE.value, description=Cause.SMTP_UNAVAILABLE.message
    )
    INTERNAL_ERROR = enum_value(
        Cause.INTERNAL_ERROR.value, description=Cause.INTERNAL_ERROR.message
    )


@strawberry.enum(description="How a resource field's values are typed.")
class FieldKind(Enum):
    STRING = enum_value("string", description="Text.")
    INTEGER = enum_value("integer", description="A whole number.")
    MONEY = enum_value("money", description="A decimal amount; its currency is another field.")
    BOOLEAN = enum_value("boolean", description="true or false.")
    DATETIME = enum_value("datetime", description="ISO 8601 in UTC, ending in `Z`.")


@strawberry.enum(description="Machine-readable error codes for typed mutation errors.")
class ErrorCode(Enum):
    VALIDATION_FAILED = enum_value("validation-failed", description="See the field errors.")
    NOT_FOUND = enum_value("not-found", description="No such export in your organization.")
    FORBIDDEN = enum_value("forbidden", description="The credentials may not do this.")
    CONFLICT = enum_value("conflict", description="The export's state does not allow it.")
    RATE_LIMITED = enum_value("rate-limited", description="Too many writes; retry later.")
    RECORD_LIMIT_EXCEEDED = enum_value(
        "record-limit-exceeded", description="More rows match than one export may hold."
    )
    TIMEOUT = enum_value("timeout", description="It took longer than it is allowed to.")
