"""The Rebilly JSON shape: member order, `_links` and `_embedded` exactly as spec §1."""

from __future__ import annotations

from typing import Any

from app.exports.links import Linker
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


def export_json(
    export: DataExport,
    linker: Linker,
    *,
    expand: set[str] | None = None,
    users: dict[str, User] | None = None,
    files: dict[str, ExportFile] | None = None,
) -> Json:
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
    }
    if expand:
        embedded: Json = {}
        if "user" in expand:
            user = (users or {}).get(export.user_id)
            embedded["user"] = user_json(user, linker) if user else None
        if "file" in expand:
            file = (files or {}).get(export.file_id) if export.file_id else None
            embedded["file"] = file_json(file, linker) if file else None
        body["_embedded"] = embedded
    return body
