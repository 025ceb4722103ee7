"""GraphQL enums: the UPPER_SNAKE form of each REST value (`JSON_API` ↔ `json-api`)."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Export result format.")
class ExportFormat(Enum):
    CSV = "csv"
    JSON = "json"
    JSON_API = "json-api"
    XML = "xml"
    PDF = "pdf"


@strawberry.enum(description="The type of resource being exported.")
class ExportResource(Enum):
    TRANSACTIONS = "transactions"
    CUSTOMERS = "customers"
    SUBSCRIPTIONS = "subscriptions"
    INVOICES = "invoices"
    INVOICE_ITEMS = "invoiceItems"


@strawberry.enum(description="Where an export is in its lifecycle.")
class ExportStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Waiting for its scheduledTime.")
    QUEUED = strawberry.enum_value("queued", description="Due, waiting for a worker.")
    PROCESSING = strawberry.enum_value("processing", description="A worker holds it.")
    COMPLETED = strawberry.enum_value("completed", description="Its file is ready.")
    FAILED = strawberry.enum_value("failed", description="Gave up; see failureReason.")


@strawberry.enum(description="Why an export failed.")
class FailureReason(Enum):
    RECORD_LIMIT_EXCEEDED = "record-limit-exceeded"
    MAX_RETRIES_REACHED = "max-retries-reached"


@strawberry.enum(description="How a resource field's values are typed.")
class FieldKind(Enum):
    STRING = "string"
    INTEGER = "integer"
    MONEY = "money"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


@strawberry.enum(description="Machine-readable error codes for typed mutation errors.")
class ErrorCode(Enum):
    VALIDATION_FAILED = "validation-failed"
    NOT_FOUND = "not-found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate-limited"
    RECORD_LIMIT_EXCEEDED = "record-limit-exceeded"
