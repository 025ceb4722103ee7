"""The OpenAPI 3.1 document of the REST surface, served at `GET /openapi.json`.

Written in code, not by hand in a file, so it cannot drift from what it describes: the
prefixes come from `app.rest.routes.PREFIXES`, the enumerations (resources, formats, fields,
statuses, failure reasons, expansions, permissions) from the modules that define them, the
bounds (limit, id pattern, name length, body size) from the constants the checks use, and every
problem response from one function. tests/rest/test_openapi.py holds it to the router (every
route documented, every operation secured or explicitly public, every 4xx a problem) and
schemathesis holds the server to it.

Adding a group of paths (say `/webhooks`) is local: write a function returning its paths (the
helpers below build the operations, parameters and problem responses), add it to
`PATH_GROUPS`, and add its schemas to `_schemas` if it has any.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth import CHALLENGE
from app.exports.expand import EXPANSIONS
from app.exports.formats.csv_writer import CSV_DIALECTS, CsvWriter
from app.exports.formats.json_writer import JsonWriter
from app.exports.formats.jsonapi import JsonApiWriter
from app.exports.formats.pdf import PdfWriter
from app.exports.formats.xml_writer import XmlWriter
from app.exports.principal import PERMISSIONS
from app.exports.resources import EXPORT_QUERY_FIELDS, RESOURCES
from app.exports.status import ErrorCode, FailureReason, Status
from app.exports.usecases import MAX_LIMIT
from app.exports.validation import MAX_EMAILS, MAX_QUERY_TEXT, NAME_MAX, READ_ONLY, WRITABLE
from app.exports.webhook_sender import DELIVERY_ERRORS
from app.exports.webhooks import EVENT_TYPES, MAX_URL_LENGTH
from app.exports.webhooks import STATUSES as WEBHOOK_STATUSES
from app.ids import ID_MAX_LENGTH
from app.rest.problems import PROBLEM_JSON
from app.rest.routes import ACCOUNT, PREFIXES
from app.rest.webhooks import PREFIXES as WEBHOOK_PREFIXES
from app.settings import MAX_BODY_BYTES

Json = dict[str, Any]
Paths = dict[str, dict[str, Json]]

OPENAPI_VERSION = "3.1.0"
#: The page size when `limit` is not given (the service's DEFAULT_LIMIT, which the surfaces may
#: not import; tests/rest/test_openapi.py holds the two equal).
DEFAULT_LIMIT = 100
DOCUMENT_PATH = "/openapi.json"
JSON = "application/json"

#: Security requirements: either credential (spec §3), none at all, or the optional metrics
#: token. An operation names one of these; the structural test refuses any other.
API_AUTH: list[Json] = [{"ApiKey": []}, {"BearerJWT": []}]
PUBLIC: list[Json] = []
METRICS_AUTH: list[Json] = [{"MetricsToken": []}, {}]

#: Each format's media type, from its writer: what a download of it is sent as.
FORMAT_MEDIA_TYPES: dict[str, str] = {
    "csv": CsvWriter.content_type,
    "json": JsonWriter.content_type,
    "json-api": JsonApiWriter.content_type,
    "xml": XmlWriter.content_type,
    "pdf": PdfWriter.content_type,
}


def ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema(name: str) -> Json:
    return ref("schemas", name)


def nullable(inner: Json) -> Json:
    return {"oneOf": [inner, {"type": "null"}]}


# --- Problems (RFC 7807), one response per status, from app/rest/problems.py's table ---------

PROBLEM_WHEN = {
    401: "Missing, unknown, malformed or expired credentials.",
    403: "Authenticated but not permitted: a read-only key writing, or another organization's "
    "path.",
    404: "No such object in your organization (another tenant's ids are never revealed), or "
    "no such route.",
    409: "The export cannot be modified now: it is `queued`, `processing`, or finished with no "
    "further run.",
    413: f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
    415: "The body was declared as something other than JSON (a form, text): send it with "
    "`Content-Type: application/json` (or any `application/*+json`, UTF-8).",
    416: "The requested byte range starts outside the file (`Content-Range: bytes */SIZE`).",
    422: "Invalid data: `invalidFields` names each bad field by its dotted path (`body` for "
    "malformed JSON, with the parser's message and position, or a body that is not a JSON "
    "object; `id` for a bad path id). A record-limit breach has "
    "`type: data-export-limit-exceeded` with `matchedRecords` and `maxRecords`.",
    429: "Too many writes: wait `Retry-After` seconds (or until the epoch second in "
    "`X-RateLimit-Retry-After`).",
}


def problem_response(status: int, when: str | None = None) -> Json:
    """A problem+json response for `status` (its schema, the headers every problem has)."""
    body = schema("ValidationProblem" if status == 422 else "Problem")
    headers: Json = {"X-Request-Id": ref("headers", "X-Request-Id")}
    if status == 429:
        headers |= {name: ref("headers", name) for name in RATE_LIMITED_HEADERS}
    if status == 401:
        headers["WWW-Authenticate"] = ref("headers", "WWW-Authenticate")
    if status == 416:
        headers["Content-Range"] = {
            "description": "`bytes */SIZE`: the file's size.",
            "required": True,
            "schema": {"type": "string"},
        }
    return {
        "description": when or PROBLEM_WHEN[status],
        "headers": headers,
        "content": {PROBLEM_JSON: {"schema": body}},
    }


def problems(*statuses: int) -> dict[str, Json]:
    return {str(status): ref("responses", f"Problem{status}") for status in statuses}


# --- Headers -----------------------------------------------------------------------------------

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
RATE_LIMITED_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Retry-After",
    "Retry-After",
)
PAGINATION_HEADERS = ("Pagination-Total", "Pagination-Limit", "Pagination-Offset")


def _int_header(description: str) -> Json:
    return {"description": description, "required": True, "schema": {"type": "integer"}}


def _headers() -> Json:
    return {
        "X-Request-Id": {
            "description": "This request's id (the one sent, when valid, else a new one); "
            "problem bodies repeat it as `requestId`.",
            "required": True,
            "schema": {"type": "string"},
        },
        "Pagination-Total": _int_header("How many items match, in all pages."),
        "Pagination-Limit": _int_header("The page size used."),
        "Pagination-Offset": _int_header("How many matching items precede this page."),
        "X-RateLimit-Limit": _int_header("Writes allowed in the current window."),
        "X-RateLimit-Remaining": _int_header("Writes left in the current window."),
        "X-RateLimit-Reset": _int_header(
            "When the current window ends and the budget is whole again (UTC epoch s)."
        ),
        "X-RateLimit-Retry-After": _int_header("When writes are allowed again (UTC epoch s)."),
        "WWW-Authenticate": {
            "description": "How to sign in: `"
            + CHALLENGE
            + "` (a key or a JWT); `/metrics` asks for `Bearer` (its token) only.",
            "required": True,
            "schema": {"type": "string"},
        },
        "Retry-After": _int_header("Seconds until writes are allowed again."),
        "Location": {
            "description": "The created export's canonical URL.",
            "required": True,
            "schema": {"type": "string", "format": "uri"},
        },
    }


def with_headers(response: Json, *names: str) -> Json:
    return {**response, "headers": {name: ref("headers", name) for name in names}}


# --- Parameters --------------------------------------------------------------------------------

ID_SCHEMA: Json = {
    "type": "string",
    "minLength": 1,
    "maxLength": ID_MAX_LENGTH,
    "pattern": r"^[@~\-.\w]+$",
}


def _path_parameter(name: str, description: str, value: Json) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": value,
    }


def _query(name: str, description: str, value: Json) -> Json:
    return {"name": name, "in": "query", "required": False, "description": description, **value}


def _parameters() -> Json:
    sortable = [f.dotted for f in EXPORT_QUERY_FIELDS]
    expansions = ", ".join(f"`{name}`" for name in EXPANSIONS)
    return {
        "id": _path_parameter(
            "id",
            f"An id: 1-{ID_MAX_LENGTH} ASCII letters, digits and `@~-._` (not `.` or `..`); "
            "anything else is a 422 naming `id`.",
            ID_SCHEMA,
        ),
        "organizationId": _path_parameter(
            "organizationId",
            "Must be the caller's own organization (else 403).",
            {"type": "string"},
        ),
        "limit": _query(
            "limit",
            f"Page size, 0-{MAX_LIMIT} (default {DEFAULT_LIMIT}); empty counts as not given.",
            {"schema": {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT}},
        ),
        "offset": _query(
            "offset",
            "How many matching items to skip (default 0); empty counts as not given.",
            {"schema": {"type": "integer", "minimum": 0}},
        ),
        "sort": _query(
            "sort",
            "Comma list of fields, `-` for descending (`-createdTime,name`); a nested field is "
            "`a.b` or `a/b`. Sortable: "
            + ", ".join(f"`{name}`" for name in sortable)
            + ". Default: newest `createdTime` first, then `id`.",
            {"schema": {"type": "string", "maxLength": MAX_QUERY_TEXT}, "example": "-createdTime"},
        ),
        "filter": _query(
            "filter",
            "`field:value` terms joined by `;` (AND); values joined by `,` (OR); `!` negates; "
            "`..` ranges (inclusive, open on either side); matching is case-insensitive. "
            "Filterable: "
            + ", ".join(f"`{name}`" for name in sortable)
            + ". Enumerated fields take only their values, in plain, negated and range terms "
            "(else a 422 naming `filter` with the values and the closest): "
            + "; ".join(
                f"`{f.dotted}`: {', '.join(f.allowed.values)}"
                for f in EXPORT_QUERY_FIELDS
                if f.allowed is not None
            )
            + ".",
            {
                "schema": {"type": "string", "maxLength": MAX_QUERY_TEXT},
                "example": "status:!failed",
            },
        ),
        "q": _query(
            "q",
            "Case-insensitive partial match over the export's `name`.",
            {"schema": {"type": "string", "maxLength": MAX_QUERY_TEXT}},
        ),
        "expand": _query(
            "expand",
            f"Comma list of linked objects to embed in `_embedded`: {expansions}. "
            "An unknown name is a 422.",
            {"schema": {"type": "string"}, "example": ",".join(EXPANSIONS)},
        ),
        "range": {
            "name": "Range",
            "in": "header",
            "required": False,
            "description": "Byte ranges (RFC 9110 §14.2): answered 206; an invalid one is "
            "ignored, one starting past the end is a 416.",
            "schema": {"type": "string"},
            "example": "bytes=0-99",
        },
        "expires": _query(
            "expires", "The link's expiry (UTC epoch seconds).", {"schema": {"type": "string"}}
        ),
        "signature": _query("signature", "The link's signature.", {"schema": {"type": "string"}}),
    }


def params(*names: str) -> list[Json]:
    return [ref("parameters", name) for name in names]


def _path_params(path: str) -> list[Json]:
    return params(*re.findall(r"\{(\w+)\}", path))


# --- Schemas -----------------------------------------------------------------------------------


def _all_field_paths() -> list[str]:
    """Every field path in both spellings (`a/b` and `a.b` are one field)."""
    return sorted({p for r in RESOURCES.values() for f in r.fields for p in (f.path, f.dotted)})


def _all_date_fields() -> list[str]:
    return sorted({name for r in RESOURCES.values() for name in r.date_fields})


DATE_TIME: Json = {
    "type": "string",
    "format": "date-time",
    "description": "UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ`.",
}


def _link() -> Json:
    return {
        "type": "object",
        "required": ["rel", "href"],
        "properties": {"rel": {"type": "string"}, "href": {"type": "string", "format": "uri"}},
    }


def _links(description: str) -> Json:
    return {"type": "array", "description": description, "items": schema("Link")}


def _arguments() -> Json:
    text = {"type": ["string", "null"], "maxLength": MAX_QUERY_TEXT}
    return {
        "type": "object",
        "description": "What to export, in the grammar of the collection parameters, against "
        "the exported resource's rows and fields (GraphQL's `exportResources` lists each "
        "enumerated field's values; another value is a 422 naming `arguments.filter`).",
        "properties": {"filter": text, "sort": text, "q": text},
    }


def _date_range() -> Json:
    return {
        "type": "object",
        "description": "An absolute date-time or a relative phrase (`first day of last month "
        "midnight`, `3 days ago`), evaluated in UTC when the export runs; `start` inclusive, "
        "`end` exclusive. A period (`last month`, `this year`, `2026-11`, `2026`) means its "
        "first second in `start` and the first second after it in `end`; `start of …` and "
        "`end of …` say which. `field` defaults per resource.",
        "required": ["start", "end"],
        "properties": {
            "start": {"type": "string", "example": "first day of last month midnight"},
            "end": {"type": "string", "example": "first day of this month midnight"},
            "field": {"type": "string", "enum": _all_date_fields()},
        },
    }


def _recurring() -> Json:
    return {
        "type": "object",
        "description": "One RFC 5545 RRULE (FREQ no finer than HOURLY), from `start` (default "
        "now).",
        "required": ["instruction"],
        "properties": {
            "instruction": {"type": "string", "example": "FREQ=MONTHLY;BYMONTHDAY=1"},
            "start": DATE_TIME,
        },
    }


def _csv_dialect(description: str) -> Json:
    return {"enum": [*CSV_DIALECTS, None], "description": description}


def _export_input() -> Json:
    """What a client sends (POST, PUT). Read-only members are accepted and ignored."""
    writable: Json = {
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
        "resource": {"type": "string", "enum": list(RESOURCES)},
        "format": {"type": "string", "enum": list(FORMAT_MEDIA_TYPES)},
        "arguments": nullable(schema("Arguments")),
        "dateRange": nullable(schema("DateRange")),
        "emailNotification": {
            "type": ["array", "null"],
            "maxItems": MAX_EMAILS,
            "items": {"type": "string", "format": "email"},
        },
        "fields": {
            "type": ["array", "null"],
            "description": "Columns, nested with `/` (or `.`, stored as `/`); each must be a "
            "field of the resource, once (else a 422 listing its fields). Omitted: the "
            "resource's default fields.",
            "uniqueItems": True,
            "items": {"type": "string", "enum": _all_field_paths()},
        },
        "recurring": nullable(schema("Recurring")),
        "csvDialect": _csv_dialect(
            "Format csv only (another format with a value is a 422): `excel` writes a "
            "UTF-8 byte-order mark first, so Excel on Windows reads every script right; "
            "`rfc4180` or null, the plain file."
        ),
    }
    assert tuple(writable) == WRITABLE, "the input schema must name exactly the writable members"
    ignored = {name: {"description": "Read-only: ignored."} for name in READ_ONLY}
    ignored["id"] = {**ID_SCHEMA, "description": "Read-only; on PUT, if sent, the path's id."}
    return {
        "type": "object",
        "required": ["name", "resource", "format"],
        "properties": writable | ignored,
        "additionalProperties": False,
    }


def _preview() -> Json:
    text_or_null = {"type": ["string", "null"]}
    return {
        "type": "object",
        "required": [
            "recordCount",
            "runTime",
            "period",
            "columns",
            "rows",
            "contentType",
            "sample",
        ],
        "properties": {
            "recordCount": {
                "type": "integer",
                "minimum": 0,
                "description": "Records the run would write (at most the record limit).",
            },
            "runTime": {
                **DATE_TIME,
                "description": "When the run counts as happening: now, or "
                "a recurring export's first occurrence; relative dates resolve here.",
            },
            "period": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["start", "end", "field"],
                        "properties": {
                            "start": DATE_TIME,
                            "end": DATE_TIME,
                            "field": {"type": "string"},
                        },
                    },
                    {"type": "null"},
                ],
                "description": "The date range resolved (start inclusive, end exclusive); "
                "`null` without one (all time).",
            },
            "columns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The field paths, in file order.",
            },
            "rows": {
                "type": "array",
                "maxItems": 20,
                "items": {"type": "array", "items": text_or_null},
                "description": "The first records, one text per column as every format renders "
                "it (money with two decimals, ISO date-times); `null` for no value.",
            },
            "contentType": {"type": "string"},
            "sample": {
                **text_or_null,
                "description": "The file's first bytes exactly (the whole file when `rows` "
                "holds every record); `null` for pdf.",
            },
        },
    }


def _export() -> Json:
    """What the API answers: spec §1's members, in its order. Open to new members."""
    members: Json = {
        "id": ID_SCHEMA,
        "name": {"type": "string"},
        "resource": {"type": "string", "enum": list(RESOURCES)},
        "format": {"type": "string", "enum": list(FORMAT_MEDIA_TYPES)},
        "arguments": schema("Arguments"),
        "emailNotification": {"type": "array", "items": {"type": "string"}},
        "fields": {"type": "array", "items": {"type": "string"}},
        "recurring": nullable(schema("Recurring")),
        "userId": {"type": "string"},
        "fileId": {"type": ["string", "null"], "description": "The newest file."},
        "recordCount": {"type": ["integer", "null"], "description": "Rows in the newest file."},
        "scheduledTime": DATE_TIME,
        "createdTime": DATE_TIME,
        "updatedTime": DATE_TIME,
        "status": {"type": "string", "enum": [s.value for s in Status]},
        "failureReason": {"enum": [*(r.value for r in FailureReason), None]},
        "_links": _links(
            "`self` and `user` always; `download` and `signedLink` once a file exists."
        ),
        "dateRange": nullable(schema("DateRange")),
    }
    optional: Json = {
        "csvDialect": _csv_dialect(
            "How the files of a csv export are written (`rfc4180` by default, `excel` with a "
            "UTF-8 byte-order mark); null for other formats."
        ),
        "_embedded": {
            "type": "object",
            "description": "Present when `expand` asks for something; an expansion with "
            "nothing to show (no file yet) has no member, never `null`.",
            "properties": {"user": schema("User"), "file": schema("File")},
        },
        "attempts": {
            "type": "integer",
            "minimum": 0,
            "description": "Attempts in the current run (the latest, once it is over).",
        },
        "lastError": nullable(schema("LastError")),
        "nextAttemptTime": {**DATE_TIME, "type": ["string", "null"]},
        "progress": nullable(schema("Progress")),
    }
    return {"type": "object", "required": list(members), "properties": members | optional}


def _webhook_schemas() -> Json:
    url = {"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH}
    events = {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"enum": list(EVENT_TYPES)},
    }
    status = {"enum": list(WEBHOOK_STATUSES)}
    webhook: Json = {
        "type": "object",
        "required": ["id", "url", "eventsFilter", "status", "createdTime", "updatedTime", "_links"],
        "properties": {
            "id": ID_SCHEMA,
            "url": url,
            "eventsFilter": events,
            "status": status,
            "createdTime": DATE_TIME,
            "updatedTime": DATE_TIME,
            "_links": _links("`self` and `deliveries`."),
        },
    }
    attempt = {
        "type": "object",
        "required": ["attempt", "time", "responseStatus", "error", "durationMs"],
        "properties": {
            "attempt": {"type": "integer", "minimum": 1},
            "time": DATE_TIME,
            "responseStatus": {"type": ["integer", "null"]},
            "error": {"enum": [*DELIVERY_ERRORS, None]},
            "durationMs": {"type": "integer", "minimum": 0},
        },
    }
    delivery_members: Json = {
        "id": {"type": "string", "description": "Sent as `Webhook-Id`, the same on retries."},
        "webhookId": {"type": "string"},
        "eventId": {"type": "string"},
        "eventType": {"enum": list(EVENT_TYPES)},
        "dataExportId": {"type": "string"},
        "status": {"enum": ["pending", "delivered", "failed"]},
        "attempts": {"type": "integer", "minimum": 0},
        "nextAttemptTime": {**DATE_TIME, "type": ["string", "null"]},
        "lastResponseStatus": {"type": ["integer", "null"]},
        "lastError": {"enum": [*DELIVERY_ERRORS, None]},
        "createdTime": DATE_TIME,
        "deliveredTime": {**DATE_TIME, "type": ["string", "null"]},
        "attemptLog": {"type": "array", "items": schema("WebhookAttempt")},
        "payload": schema("WebhookEvent"),
        "_links": _links("`webhook` and `dataExport`."),
    }
    event: Json = {
        "type": "object",
        "description": "Rebilly's webhook body: what every attempt POSTs and signs.",
        "required": [
            "eventType",
            "dataExportId",
            "fileId",
            "recordCount",
            "status",
            "failureReason",
            "_embedded",
            "_links",
        ],
        "properties": {
            "eventType": {"enum": list(EVENT_TYPES)},
            "dataExportId": {"type": "string"},
            "fileId": {"type": ["string", "null"], "description": "Null when failed."},
            "recordCount": {"type": "integer", "description": "0 when failed."},
            "status": {"enum": ["completed", "failed"]},
            "failureReason": {"enum": [*(r.value for r in FailureReason), None]},
            "_embedded": {
                "type": "object",
                "required": ["dataExport"],
                "properties": {"dataExport": schema("DataExport")},
            },
            "_links": _links("`dataExport`, and `download` when completed."),
        },
    }
    return {
        "WebhookInput": {
            "type": "object",
            "description": "A create needs `url`; an update (PATCH) sends only what changes. "
            "The host may not be (or resolve to) a private, loopback or link-local address "
            "unless the service allows it (422 naming `url`).",
            "properties": {
                "url": url,
                "eventsFilter": {**events, "description": "Every event when omitted."},
                "status": {**status, "description": "`active` when omitted."},
            },
        },
        "Webhook": webhook,
        "CreatedWebhook": {
            "allOf": [
                schema("Webhook"),
                {
                    "type": "object",
                    "required": ["secret"],
                    "properties": {
                        "secret": {
                            "type": "string",
                            "description": "Signs every delivery (`Webhook-Signature`); "
                            "shown only in this response.",
                        }
                    },
                },
            ]
        },
        "WebhookAttempt": attempt,
        "WebhookDelivery": {
            "type": "object",
            "required": list(delivery_members),
            "properties": delivery_members,
        },
        "WebhookEvent": event,
    }


def _schemas() -> Json:
    problem: Json = {
        "type": "object",
        "description": "RFC 7807 problem details. No error carries a traceback, SQL or a path.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "example": "validation-error"},
            "title": {"type": "string", "example": "Invalid Data"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "requestId": {
                "type": "string",
                "description": "This request's id (the `X-Request-Id` response header).",
            },
            "invalidFields": {"type": "array", "items": schema("InvalidField")},
            "matchedRecords": {"type": "integer"},
            "maxRecords": {"type": "integer"},
            "correlationId": {"type": "string", "description": "500 only: the logged error."},
        },
    }
    return {
        "Problem": problem,
        "ValidationProblem": {
            "allOf": [schema("Problem"), {"required": ["invalidFields"]}],
        },
        "InvalidField": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "field": {"type": "string", "example": "dateRange.start"},
                "message": {"type": "string"},
            },
        },
        "Link": _link(),
        "Arguments": _arguments(),
        "DateRange": _date_range(),
        "Recurring": _recurring(),
        "DataExportInput": _export_input(),
        "DataExport": _export(),
        "DataExportPreview": _preview(),
        "LastError": {
            "type": "object",
            "required": ["code", "message", "time"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [c.value for c in ErrorCode],
                    "description": "A stable code; the message is fixed per code and safe to "
                    "show (never a path, SQL or a traceback).",
                },
                "message": {"type": "string"},
                "time": DATE_TIME,
            },
        },
        "Progress": {
            "type": "object",
            "required": ["rowsWritten", "rowsTotal"],
            "properties": {
                "rowsWritten": {"type": "integer"},
                "rowsTotal": {"type": ["integer", "null"]},
            },
        },
        **_webhook_schemas(),
        "User": {
            "type": "object",
            "required": ["id", "email", "firstName", "lastName", "createdTime", "_links"],
            "properties": {
                "id": {"type": "string"},
                "email": {"type": "string"},
                "firstName": {"type": "string"},
                "lastName": {"type": "string"},
                "createdTime": DATE_TIME,
                "_links": _links("`self`."),
            },
        },
        "File": {
            "type": "object",
            "required": ["id", "name", "contentType", "size", "sha256", "createdTime", "_links"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "contentType": {"type": "string"},
                "size": {"type": "integer", "minimum": 0},
                "sha256": {"type": "string"},
                "createdTime": DATE_TIME,
                "_links": _links("`download` and `signedLink`."),
            },
        },
        "Index": {
            "type": "object",
            "required": ["name", "_links"],
            "properties": {"name": {"type": "string"}, "_links": _links("Where to go next.")},
        },
        "Live": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "ok"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"enum": ["ready", "not-ready"]},
                "failing": {"type": "array", "items": {"type": "string"}},
                "checks": {"type": "object", "additionalProperties": {"type": "object"}},
            },
        },
    }


# --- Operations and path groups ----------------------------------------------------------------


def operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    responses: dict[str, Json],
    security: list[Json] = API_AUTH,
    parameters: Iterable[Json] = (),
    body: Json | None = None,
    description: str | None = None,
) -> Json:
    op: Json = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    op["security"] = security
    parameters = list(parameters)
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    op["responses"] = responses
    return op


def json_response(description: str, body: Json, *headers: str) -> Json:
    return with_headers({"description": description, "content": {JSON: {"schema": body}}}, *headers)


def _prefix_name(prefix: str) -> str:
    """`/organizations/{organizationId}/experimental/data-exports` → `OrganizationsExperimental`."""
    resources = ("data-exports", "webhooks")
    words = [s for s in prefix.split("/") if s and not s.startswith("{") and s not in resources]
    return "".join(w[:1].upper() + w[1:] for w in words)


def _export_paths(prefix: str) -> Paths:
    suffix = _prefix_name(prefix)
    via = f" via {prefix}" if suffix else ""
    tag = "Data exports" if not suffix else "Data exports at other prefixes"
    scoped = _path_params(prefix)
    maybe_404 = (404,) if scoped else ()  # an organizationId holding an encoded `/`: no route
    write_body = {
        "required": True,
        "description": f"One JSON object of at most {MAX_BODY_BYTES} bytes.",
        "content": {JSON: {"schema": schema("DataExportInput")}},
    }
    export = schema("DataExport")
    item = f"{prefix}/{{id}}"
    return {
        prefix: {
            "get": operation(
                f"listDataExports{suffix}",
                f"List data exports{via}",
                tag=tag,
                description="A bare JSON array, one page; the totals are in the headers. "
                "Also served with a trailing slash.",
                parameters=[*scoped, *params("limit", "offset", "sort", "filter", "q", "expand")],
                responses={
                    "200": json_response(
                        "A page of exports.",
                        {"type": "array", "items": export},
                        *PAGINATION_HEADERS,
                    ),
                    **problems(401, 403, *maybe_404, 422),
                },
            ),
            "post": operation(
                f"createDataExport{suffix}",
                f"Create a data export{via}",
                tag=tag,
                description="Stored as `pending`; a worker runs it at its `scheduledTime`.",
                parameters=[*scoped, *params("expand")],
                body=write_body,
                responses={
                    "201": json_response("Created.", export, "Location", *RATE_HEADERS),
                    **problems(401, 403, *maybe_404, 413, 415, 422, 429),
                },
            ),
        },
        item: {
            "get": operation(
                f"getDataExport{suffix}",
                f"Get a data export{via}",
                tag=tag,
                parameters=[*_path_params(item), *params("expand")],
                responses={
                    "200": json_response("The export.", export, *PAGINATION_HEADERS),
                    **problems(401, 403, 404, 422),
                },
            ),
            "put": operation(
                f"putDataExport{suffix}",
                f"Replace or create a data export{via}",
                tag=tag,
                description="A full replacement, validated like POST; creates the export "
                "(201, with `Location`) when your organization has none with this id.",
                parameters=[*_path_params(item), *params("expand")],
                body=write_body,
                responses={
                    "200": json_response("Replaced.", export, *RATE_HEADERS),
                    "201": json_response("Created.", export, "Location", *RATE_HEADERS),
                    **problems(401, 403, *maybe_404, 409, 413, 415, 422, 429),
                },
            ),
            "delete": operation(
                f"deleteDataExport{suffix}",
                f"Delete a data export{via}",
                tag=tag,
                description="Its files are deleted too.",
                parameters=[*_path_params(item), *params("expand")],
                responses={
                    "204": with_headers({"description": "Deleted."}, *RATE_HEADERS),
                    **problems(401, 403, 404, 422, 429),
                },
            ),
        },
    }


def _preview_path(prefix: str, create: Json) -> Paths:
    """The create's body and refusals (but its 429: no write is counted), and a 504."""
    suffix = _prefix_name(prefix)
    via = f" via {prefix}" if suffix else ""
    scoped = _path_params(prefix)
    refused = {s: r for s, r in create["responses"].items() if s.startswith("4") and s != "429"}
    return {
        f"{prefix}/preview": {
            "post": operation(
                f"previewDataExport{suffix}",
                f"Preview a data export{via}",
                tag="Data exports" if not suffix else "Data exports at other prefixes",
                description="The body of a create, validated the same way (422s, the record "
                "limit), answered with what its first run would write: the record count, the "
                "resolved period, the columns and the first rows. Nothing is stored and no "
                "write is counted (no rate-limit headers); needs `write`. Only POST: "
                "`GET /data-exports/preview` is the export whose id is `preview`.",
                parameters=scoped,
                body=create["requestBody"],
                responses={
                    "200": json_response(
                        "What the export would write.", schema("DataExportPreview")
                    ),
                    **refused,
                    "504": problem_response(
                        504,
                        "The preview took longer than `PREVIEW_TIMEOUT_SECONDS`: narrow it, "
                        "or create the export (a run is not bounded this way). "
                        "`timeoutSeconds` is the bound.",
                    ),
                },
            ),
        },
    }


def data_export_paths() -> Paths:
    paths: Paths = {}
    for prefix in PREFIXES:
        paths |= _export_paths(prefix)
        paths |= _preview_path(prefix, paths[prefix]["post"])
    return paths


def _file_content() -> Json:
    types = sorted({t.split(";")[0].strip() for t in FORMAT_MEDIA_TYPES.values()})
    return {media: {"schema": {"type": "string", "format": "binary"}} for media in types}


def _file_responses(*statuses: int) -> dict[str, Json]:
    content = _file_content()
    return {
        "200": {
            "description": "The file's bytes, with `Content-Disposition: attachment`.",
            "content": content,
        },
        "206": {"description": "The requested byte ranges.", "content": content},
        **problems(*statuses),
    }


def _user_and_download_paths(prefix: str) -> Paths:
    suffix = _prefix_name(prefix)
    via = f" via {prefix}" if suffix else ""
    user, download = f"{prefix}/users/{{id}}", f"{prefix}/files/{{id}}/download"
    return {
        user: {
            "get": operation(
                f"getUser{suffix}",
                f"Get a user{via}",
                tag="Users and files",
                description="What an export's `user` link points to. Also served with a "
                "trailing slash.",
                parameters=_path_params(user),
                responses={
                    "200": json_response("The user.", schema("User")),
                    **problems(401, 403, 404, 422),
                },
            )
        },
        download: {
            "get": operation(
                f"downloadFile{suffix}",
                f"Download an export file{via}",
                tag="Users and files",
                parameters=[*_path_params(download), *params("range")],
                responses=_file_responses(401, 403, 404, 416, 422),
            )
        },
    }


def user_and_file_paths() -> Paths:
    paths: Paths = {}
    for prefix in ACCOUNT:
        paths |= _user_and_download_paths(prefix)
    return paths | {
        "/files/{id}/signed": {
            "get": operation(
                "downloadSignedFile",
                "Download an export file through a signed link",
                tag="Users and files",
                description="No credentials: the link (`expires` and `signature`, exactly as "
                "minted) is the permission. Anything altered, missing or expired is a 403.",
                security=PUBLIC,
                parameters=params("id", "expires", "signature", "range"),
                responses=_file_responses(403, 416),
            )
        },
    }


def service_paths() -> Paths:
    tag = "Service"
    return {
        "/": {
            "get": operation(
                "index",
                "Where to go next",
                tag=tag,
                security=PUBLIC,
                responses={"200": json_response("Links.", schema("Index"))},
            )
        },
        "/health/live": {
            "get": operation(
                "live",
                "Liveness: the process answers",
                tag=tag,
                security=PUBLIC,
                responses={"200": json_response("Alive.", schema("Live"))},
            )
        },
        "/health/ready": {
            "get": operation(
                "ready",
                "Readiness: database, storage and workers",
                tag=tag,
                security=PUBLIC,
                responses={
                    "200": json_response("Ready.", schema("Readiness")),
                    "503": json_response("Not ready; `failing` names why.", schema("Readiness")),
                },
            )
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics",
                tag=tag,
                description="With `METRICS_TOKEN` set, send it as a bearer token; unset, open "
                "in development and a 404 in production.",
                security=METRICS_AUTH,
                responses={
                    "200": {
                        "description": "The Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **problems(401, 404),
                },
            )
        },
        DOCUMENT_PATH: {
            "get": operation(
                "openapi",
                "This document",
                tag=tag,
                security=PUBLIC,
                responses={"200": json_response("OpenAPI 3.1.", {"type": "object"})},
            )
        },
        "/docs": {
            "get": operation(
                "docs",
                "This documentation, as a web page",
                tag=tag,
                security=PUBLIC,
                responses={
                    "200": {
                        "description": "HTML (or how to build its assets when they are not).",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
    }


def _webhook_paths(prefix: str) -> Paths:
    suffix = _prefix_name(prefix)
    via = f" via {prefix}" if suffix else ""
    scoped = _path_params(prefix)
    maybe_404 = (404,) if scoped else ()
    item, log = f"{prefix}/{{id}}", f"{prefix}/{{id}}/deliveries"
    body = {
        "required": True,
        "description": f"One JSON object of at most {MAX_BODY_BYTES} bytes.",
        "content": {JSON: {"schema": schema("WebhookInput")}},
    }
    webhook = schema("Webhook")
    return {
        prefix: {
            "get": operation(
                f"listWebhooks{suffix}",
                f"List webhooks{via}",
                tag="Webhooks",
                description="Newest first; the totals are in the headers.",
                parameters=[*scoped, *params("limit", "offset")],
                responses={
                    "200": json_response(
                        "A page of webhooks.",
                        {"type": "array", "items": webhook},
                        *PAGINATION_HEADERS,
                    ),
                    **problems(401, 403, *maybe_404, 422),
                },
            ),
            "post": operation(
                f"createWebhook{suffix}",
                f"Register a webhook{via}",
                tag="Webhooks",
                description="Answers with the endpoint's signing secret, once.",
                parameters=scoped,
                body=body,
                responses={
                    "201": json_response(
                        "Registered.", schema("CreatedWebhook"), "Location", *RATE_HEADERS
                    ),
                    **problems(401, 403, *maybe_404, 409, 413, 415, 422, 429),
                },
            ),
        },
        item: {
            "get": operation(
                f"getWebhook{suffix}",
                f"Get a webhook{via}",
                tag="Webhooks",
                parameters=_path_params(item),
                responses={
                    "200": json_response("The webhook.", webhook),
                    **problems(401, 403, 404, 422),
                },
            ),
            "patch": operation(
                f"updateWebhook{suffix}",
                f"Change a webhook{via}",
                tag="Webhooks",
                description="Members not sent keep their value.",
                parameters=_path_params(item),
                body=body,
                responses={
                    "200": json_response("Changed.", webhook, *RATE_HEADERS),
                    **problems(401, 403, 404, 413, 415, 422, 429),
                },
            ),
            "delete": operation(
                f"deleteWebhook{suffix}",
                f"Delete a webhook{via}",
                tag="Webhooks",
                description="Its delivery log goes with it; nothing more is sent to it.",
                parameters=_path_params(item),
                responses={
                    "204": with_headers({"description": "Deleted."}, *RATE_HEADERS),
                    **problems(401, 403, 404, 422, 429),
                },
            ),
        },
        log: {
            "get": operation(
                f"listWebhookDeliveries{suffix}",
                f"A webhook's delivery log{via}",
                tag="Webhooks",
                description="Newest first: each event's status, attempts and payload.",
                parameters=[*_path_params(log), *params("limit", "offset")],
                responses={
                    "200": json_response(
                        "A page of deliveries.",
                        {"type": "array", "items": schema("WebhookDelivery")},
                        *PAGINATION_HEADERS,
                    ),
                    **problems(401, 403, 404, 422),
                },
            ),
        },
    }


def webhook_paths() -> Paths:
    paths: Paths = {}
    for prefix in WEBHOOK_PREFIXES:
        paths |= _webhook_paths(prefix)
    return paths


#: Every group of documented paths, in the order the document lists them.
PATH_GROUPS: tuple[Callable[[], Paths], ...] = (
    data_export_paths,
    user_and_file_paths,
    webhook_paths,
    service_paths,
)

#: The problem statuses that have a shared response component.
PROBLEM_STATUSES = (401, 403, 404, 409, 413, 415, 416, 422, 429)


@cache
def openapi_document() -> Json:
    """The whole document, built once per process."""
    paths: Paths = {}
    for group in PATH_GROUPS:
        for path, operations in group().items():
            assert path not in paths, f"{path} is documented twice"
            paths[path] = operations
    permissions = ", ".join(f"`{p}`" for p in PERMISSIONS)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "exports-gateway REST API",
            "version": "1",
            "description": "Request, track and download exports of billing data; the "
            "Rebilly-compatible data-exports API. Authenticate with a secret key in "
            f"`REB-APIKEY` or a JWT as `Authorization: Bearer` (permissions: {permissions}). "
            "Every error is `application/problem+json`. Every path is also served with a "
            "trailing slash; the same API over GraphQL is at `/graphql`.",
        },
        "security": API_AUTH,
        "tags": [
            {"name": "Data exports"},
            {"name": "Data exports at other prefixes"},
            {"name": "Users and files"},
            {"name": "Webhooks"},
            {"name": "Service"},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "REB-APIKEY",
                    "description": "A secret key (`python -m app create-api-key`).",
                },
                "BearerJWT": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Claims `sub`, `org`, `permissions`, `exp`; used when both "
                    "credentials are sent.",
                },
                "MetricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`METRICS_TOKEN`, for `/metrics` only.",
                },
            },
            "schemas": _schemas(),
            "parameters": _parameters(),
            "headers": _headers(),
            "responses": {f"Problem{s}": problem_response(s) for s in PROBLEM_STATUSES},
        },
    }


async def openapi_endpoint(request: Request) -> Response:
    return Response(_document_bytes(), media_type=JSON, headers={"Cache-Control": "no-cache"})


@cache
def _document_bytes() -> bytes:
    return json.dumps(openapi_document(), ensure_ascii=False).encode()


def routes() -> list[BaseRoute]:
    return [Route(DOCUMENT_PATH, openapi_endpoint, methods=["GET"])]
