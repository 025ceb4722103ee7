"""Turn an export request body (the REST JSON shape, also built by GraphQL) into a checked spec.

Every problem is collected and reported at once, each under its dotted field path, so a caller
fixes a request in one round trip. Nothing here touches the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.errors import FieldError, Invalid
from app.exports.daterange import Bound, DatePhraseError, parse_date_phrase
from app.exports.fields import choices_text, did_you_mean
from app.exports.formats.base import FORMATS
from app.exports.formats.csv_writer import CSV_DIALECTS, CsvDialect
from app.exports.query import QueryError, parse_filter, parse_sort
from app.exports.resources import RESOURCES, Resource, query_fields
from app.exports.schedule import RuleError, check_rule
from app.exports.story import STORY_MEMBERS
from app.timefmt import isoz, parse_iso_datetime

NAME_MAX = 50
MAX_EMAILS = 50
MAX_QUERY_TEXT = 2000
MAX_RECURRING_AGE = timedelta(days=5 * 365)
MAX_RECURRING_LEAD = timedelta(days=100 * 365)

WRITABLE = (
    "name",
    "resource",
    "format",
    "arguments",
    "dateRange",
    "emailNotification",
    "fields",
    "recurring",
    "csvDialect",
)
# Text no database here can store: NUL (PostgreSQL) and unpaired surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL or unpaired surrogate characters."


def has_unstorable_text(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


READ_ONLY = (
    "id",
    "userId",
    "fileId",
    "recordCount",
    "scheduledTime",
    "createdTime",
    "updatedTime",
    "status",
    "failureReason",
    "_links",
    "_embedded",
    *STORY_MEMBERS,  # what a client read and sends back is ignored, like Rebilly's own
)


@dataclass
class ExportSpec:
    """A validated export request, in its stored shape."""

    name: str
    resource: str
    format: str
    arguments: dict[str, str] = field(default_factory=dict)
    date_range: dict[str, str] | None = None
    email_notification: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    recurring: dict[str, str] | None = None
    csv_dialect: CsvDialect | None = None
    """`excel` or None: the default `rfc4180` is stored as None, so older rows need nothing."""


def _is_none(value: Any) -> bool:
    """On input `{}`, `[]` and `null` all mean none (spec §1)."""
    return value is None or value == {} or value == []


def validate_export(
    body: Mapping[str, Any], *, now: datetime, stored_recurring: Mapping[str, str] | None = None
) -> ExportSpec:
    """Validate a full export body; raises Invalid naming every bad field.

    `stored_recurring` is the schedule the export already has: sent back unchanged, it is not
    judged again by the age limit on `recurring.start` (it was accepted when it was new).
    """
    errors: list[FieldError] = []

    def bad(path: str, message: str) -> None:
        errors.append(FieldError(path, message))

    for key in body:
        if key not in WRITABLE and key not in READ_ONLY:
            bad(key, "Unknown field.")
        elif key in WRITABLE:
            _check_text(body[key], key, bad)

    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        bad("name", "Required: a non-empty string.")
    elif any(unicodedata.category(c) == "Cc" for c in name):
        bad("name", "Must not contain control characters such as line breaks.")
    elif len(name) > NAME_MAX:
        bad("name", f"Must be at most {NAME_MAX} characters.")

    resource: Resource | None = None
    raw_resource = body.get("resource")
    if not isinstance(raw_resource, str) or raw_resource not in RESOURCES:
        hint = did_you_mean(raw_resource, RESOURCES) if isinstance(raw_resource, str) else ""
        bad("resource", f"Required: one of {', '.join(RESOURCES)}{hint}.")
    else:
        resource = RESOURCES[raw_resource]

    fmt = body.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        hint = did_you_mean(fmt, FORMATS) if isinstance(fmt, str) else ""
        bad("format", f"Required: one of {', '.join(FORMATS)}{hint}.")

    arguments = _validate_arguments(body.get("arguments"), resource, bad)
    date_range = _validate_date_range(body.get("dateRange"), resource, now, bad)
    emails = _validate_emails(body.get("emailNotification"), bad)
    fields_ = _validate_fields(body.get("fields"), resource, bad)
    recurring = _validate_recurring(body.get("recurring"), now, bad, stored_recurring)
    csv_dialect = _validate_csv_dialect(body.get("csvDialect"), fmt, bad)

    if errors:
        raise Invalid(errors)
    assert resource is not None
    assert isinstance(name, str)
    assert isinstance(fmt, str)
    return ExportSpec(
        name=name,
        resource=resource.name,
        format=fmt,
        arguments=arguments,
        date_range=date_range,
        email_notification=emails,
        fields=fields_ or list(resource.default_fields),
        recurring=recurring,
        csv_dialect=csv_dialect,
    )


Reporter = Callable[[str, str], None]


def _check_text(value: Any, path: str, bad: Reporter) -> None:
    """Name every string under `value` that could not be stored (iterative: no recursion)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if has_unstorable_text(item):
                bad(where, UNSTORABLE_MESSAGE)
        elif isinstance(item, dict):
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}", v) for i, v in enumerate(item))


def _validate_arguments(value: Any, resource: Resource | None, bad: Reporter) -> dict[str, str]:
    if _is_none(value):
        return {}
    if not isinstance(value, dict):
        bad("arguments", "Must be an object with filter, sort and q.")
        return {}
    result: dict[str, str] = {}
    for key, item in value.items():
        path = f"arguments.{key}"
        if key not in ("filter", "sort", "q"):
            bad(path, "Unknown argument; use filter, sort or q.")
            continue
        if item is None or item == "":
            continue
        if not isinstance(item, str):
            bad(path, "Must be a string.")
            continue
        if len(item) > MAX_QUERY_TEXT:
            bad(path, f"Must be at most {MAX_QUERY_TEXT} characters.")
            continue
        if resource is not None and key in ("filter", "sort"):
            fields = query_fields(resource)
            try:
                if key == "filter":
                    parse_filter(item, fields)
                else:
                    parse_sort(item, fields)
            except QueryError as exc:
                bad(path, exc.message)
                continue
        result[key] = item
    return result


def _validate_date_range(
    value: Any, resource: Resource | None, now: datetime, bad: Reporter
) -> dict[str, str] | None:
    if _is_none(value):
        return None
    if not isinstance(value, dict):
        bad("dateRange", "Must be an object with start, end and field.")
        return None
    for key in value:
        if key not in ("start", "end", "field"):
            bad(f"dateRange.{key}", "Unknown member.")
    parsed: dict[str, datetime] = {}
    keys: tuple[Bound, Bound] = ("start", "end")
    for key in keys:
        raw = value.get(key)
        if not isinstance(raw, str) or not raw.strip():
            bad(f"dateRange.{key}", "Required: a date-time or relative phrase.")
            continue
        try:
            parsed[key] = parse_date_phrase(raw, now=now, bound=key)
        except DatePhraseError as exc:
            bad(f"dateRange.{key}", str(exc))
    if len(parsed) == 2 and parsed["start"] > parsed["end"]:
        bad("dateRange.start", "Must not be after dateRange.end.")
    date_field = value.get("field")
    if date_field is None and resource is not None:
        date_field = resource.default_date_field
    if resource is not None and date_field not in resource.date_fields:
        hint = did_you_mean(date_field, resource.date_fields) if isinstance(date_field, str) else ""
        bad("dateRange.field", f"Must be one of {', '.join(resource.date_fields)}{hint}.")
    if not isinstance(date_field, str):
        return None
    return {"start": value.get("start", ""), "end": value.get("end", ""), "field": date_field}


def _validate_csv_dialect(value: Any, fmt: Any, bad: Reporter) -> CsvDialect | None:
    """A top-level member, not an `arguments` one: those select rows, this shapes the file."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in CSV_DIALECTS:
        bad("csvDialect", f"Must be one of {', '.join(CSV_DIALECTS)}, or null.")
        return None
    if fmt != "csv":
        if fmt in FORMATS:  # an unknown format is reported under `format` alone
            bad("csvDialect", f"Only for format csv; omit it or send null with format {fmt}.")
        return None
    return "excel" if value == "excel" else None


def _validate_emails(value: Any, bad: Reporter) -> list[str]:
    if _is_none(value):
        return []
    if not isinstance(value, list):
        bad("emailNotification", "Must be an array of email addresses.")
        return []
    if len(value) > MAX_EMAILS:
        bad("emailNotification", f"At most {MAX_EMAILS} addresses.")
        return []
    result: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            bad(f"emailNotification.{index}", "Must be an email address.")
            continue
        try:
            validate_email(item, check_deliverability=False)
        except EmailNotValidError as exc:
            bad(f"emailNotification.{index}", f"Not a valid email address: {exc}")
            continue
        result.append(item)
    return result


def _validate_fields(value: Any, resource: Resource | None, bad: Reporter) -> list[str]:
    if _is_none(value):
        return []
    if not isinstance(value, list):
        bad("fields", "Must be an array of field names.")
        return []
    seen: set[str] = set()
    result: list[str] = []
    for index, item in enumerate(value):
        path = f"fields.{index}"
        if not isinstance(item, str):
            bad(path, "Must be a field name.")
            continue
        known = resource.field(item) if resource is not None else None
        if resource is not None and known is None:
            names = [f.path for f in resource.fields]
            listed = choices_text(item, names)
            hint = did_you_mean(item, names)
            bad(path, f"Unknown field {item!r} for {resource.name}: use one of {listed}{hint}.")
            continue
        # `a.b` is accepted and stored as the spec's `a/b`, so a field is listed once however
        # it was spelled and CSV headers and GraphQL paths use one spelling.
        canonical = known.path if known is not None else item
        if canonical in seen:
            bad(path, f"Duplicate field {item!r}.")
        else:
            seen.add(canonical)
            result.append(canonical)
    return result


def _validate_recurring(
    value: Any, now: datetime, bad: Reporter, stored: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    if _is_none(value):
        return None
    if not isinstance(value, dict):
        bad("recurring", "Must be an object with instruction and start.")
        return None
    for key in value:
        if key not in ("instruction", "start"):
            bad(f"recurring.{key}", "Unknown member.")
    start = now
    raw_start = value.get("start")
    if raw_start is not None:
        try:
            if not isinstance(raw_start, str):
                raise ValueError
            start = parse_iso_datetime(raw_start)
        except (ValueError, OverflowError):  # out of range once converted to UTC
            bad("recurring.start", "Must be an ISO 8601 date-time.")
            return None
        unchanged = stored is not None and dict(value) == dict(stored)
        if start < now - MAX_RECURRING_AGE and not unchanged:
            # Every run replays the rule from its start: keep that replay short.
            bad("recurring.start", "Must not be more than 5 years in the past.")
            return None
        if start > now + MAX_RECURRING_LEAD:
            bad("recurring.start", "Must be within the next 100 years.")
            return None
    instruction = value.get("instruction")
    if not isinstance(instruction, str):
        bad("recurring.instruction", "Required: an RRULE string.")
        return None
    try:
        check_rule(instruction, start)
    except (RuleError, ValueError, OverflowError) as exc:
        bad("recurring.instruction", f"Invalid: {exc}.")
        return None
    return {"instruction": instruction.strip(), "start": isoz(start)}
