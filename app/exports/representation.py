"""The Rebilly JSON shape of an export, its user and file: member order, `_links` and `_embedded`
exactly as spec §1. REST answers with it and webhooks carry it (`_embedded.dataExport`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from app.exports.expand import EXPANSIONS
from app.exports.links import Linker
from app.exports.story import tell
from app.models import DataExport, ExportFile, User
from app.timefmt import isoz

Json = dict[str, Any]


def _links(pairs: list[tuple[str, str]]) -> list[Json]:
    return [{"rel": rel, "href": href} for rel, href in pairs]


def user_json(user: User, linker: Linker) -> Json:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "createdTime": isoz(user.created_time),
        "_links": _links(linker.user_links(user)),
    }


def file_json(file: ExportFile, linker: Linker) -> Json:
    return {
        "id": file.id,
        "name": file.name,
        "contentType": file.content_type,
        "size": file.size,
        "sha256": file.sha256,
        "createdTime": isoz(file.created_time),
        "_links": _links(linker.file_links(file)),
    }


EMBEDDED: dict[str, Callable[[Any, Linker], Json]] = {"user": user_json, "file": file_json}
"""How each expansion of the core's registry (app.exports.expand) reads in `_embedded`."""


def story_json(export: DataExport) -> Json:
    """Members this service adds after Rebilly's: the export's story (app.exports.story)."""
    story = tell(export)
    return {
        "attempts": story.attempts,
        "lastError": (
            {
                "code": story.last_error.code,
                "message": story.last_error.message,
                "time": isoz(story.last_error.time),
            }
            if story.last_error
            else None
        ),
        "nextAttemptTime": isoz(story.next_attempt_time) if story.next_attempt_time else None,
        "progress": (
            {"rowsWritten": story.progress.rows_written, "rowsTotal": story.progress.rows_total}
            if story.progress
            else None
        ),
    }


def csv_dialect(export: DataExport) -> str | None:
    """`rfc4180` or `excel` for a csv export (what its files are), null for other formats."""
    if export.format != "csv":
        return None
    return export.csv_dialect or "rfc4180"


def export_json(
    export: DataExport,
    linker: Linker,
    *,
    expand: Collection[str] = (),
    loaded: Mapping[str, Mapping[Any, Any]] | None = None,
    embedded_memo: dict[tuple[str, Any], Json] | None = None,
) -> Json:
    """`embedded_memo`: what a page's exports embed, rendered once per row (a page of 100
    exports has a handful of users)."""
    body: Json = {
        "id": export.id,
        "name": export.name,
        "resource": export.resource,
        "format": export.format,
        "arguments": dict(export.arguments or {}),
        "emailNotification": list(export.email_notification or []),
        "fields": list(export.fields or []),
        "recurring": dict(export.recurring) if export.recurring else None,
        "userId": export.user_id,
        "fileId": export.file_id,
        "recordCount": export.record_count,
        "scheduledTime": isoz(export.scheduled_time),
        "createdTime": isoz(export.created_time),
        "updatedTime": isoz(export.updated_time),
        "status": export.status,
        "failureReason": export.failure_reason,
        "_links": _links(linker.export_links(export)),
        "dateRange": dict(export.date_range) if export.date_range else None,
        "csvDialect": csv_dialect(export),
        **story_json(export),
    }
    if expand:
        embedded: Json = {}
        for name in EXPANSIONS:  # the registry's order, whatever order expand= named them
            if name in expand:
                key = EXPANSIONS[name].key(export)
                row = (loaded or {}).get(name, {}).get(key) if key is not None else None
                if row is None:  # nothing to embed (no file yet): no member, never null
                    continue
                if embedded_memo is None:
                    embedded[name] = EMBEDDED[name](row, linker)
                    continue
                rendered = embedded_memo.get((name, key))
                if rendered is None:
                    rendered = embedded_memo[(name, key)] = EMBEDDED[name](row, linker)
                embedded[name] = rendered
        body["_embedded"] = embedded
    return body
