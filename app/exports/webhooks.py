"""Webhooks: what an organization registers, what each event carries, and how it is signed.

- An endpoint has a URL (http or https, no credentials in it), the events it wants
  (`data-export-completed`, `data-export-failed`) and a status (`active`, `inactive`).
- An endpoint on a private, loopback, link-local or otherwise non-public address is refused at
  registration and again before every attempt (a name may resolve elsewhere later), unless
  WEBHOOK_ALLOW_PRIVATE is set. Attempts connect to the address that was checked.
- Its signing secret is never stored: it is HMAC(SIGNING_SECRET, organization, id, salt),
  shown once when the endpoint is created. Changing SIGNING_SECRET changes every secret.
- Signed as the Standard Webhooks specification says, so receivers can verify with its
  libraries: `webhook-id` (the delivery, stable across retries: receivers dedupe on it),
  `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA-256 of
  "<id>.<timestamp>.<body>">`, keyed with the base64-decoded secret after `whsec_`. A
  `Webhook-Event` header names the event.
- Events are queued in the transaction that completes or fails the run (an outbox), one row per
  endpoint and run (unique), and sent by the worker (app/exports/webhook_sender.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import FieldError, Invalid
from app.exports.links import Linker
from app.exports.representation import export_json
from app.ids import new_id
from app.models import DataExport, Webhook, WebhookDelivery

COMPLETED, FAILED = "data-export-completed", "data-export-failed"
EVENT_TYPES = (COMPLETED, FAILED)
STATUSES = ("active", "inactive")
MAX_URL_LENGTH = 2000
MAX_PER_ORGANIZATION = 20
WRITABLE = ("url", "eventsFilter", "status")
READ_ONLY = ("id", "createdTime", "updatedTime", "_links")

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
ID_HEADER = "webhook-id"
EVENT_HEADER = "webhook-event"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class PrivateAddress(Exception):
    """The endpoint's host is (or resolves to) an address webhooks may not reach."""


@dataclass(frozen=True)
class WebhookInput:
    """Validated members; None means not given (a partial update keeps the stored value)."""

    url: str | None
    events: list[str] | None
    status: str | None


def validate_webhook(body: Mapping[str, Any], *, partial: bool) -> WebhookInput:
    """Check a body's members; raises Invalid naming every bad one. A create needs `url`."""
    errors: list[FieldError] = []
    for key in body:
        if key not in WRITABLE and key not in READ_ONLY:
            errors.append(FieldError(key, "Unknown field."))
    url = body.get("url")
    if url is None and not partial:
        errors.append(FieldError("url", "Required: an http or https URL."))
    elif url is not None and (problem := _url_problem(url)):
        errors.append(FieldError("url", problem))
    events = body.get("eventsFilter")
    if events is not None and (
        not isinstance(events, list)
        or not events
        or any(e not in EVENT_TYPES for e in events)
        or len(set(events)) != len(events)
    ):
        errors.append(
            FieldError("eventsFilter", f"A non-empty list of distinct: {', '.join(EVENT_TYPES)}.")
        )
    status = body.get("status")
    if status is not None and status not in STATUSES:
        errors.append(FieldError("status", f"One of: {', '.join(STATUSES)}."))
    if errors:
        raise Invalid(errors)
    return WebhookInput(
        url=url,
        events=list(events) if events is not None else (None if partial else list(EVENT_TYPES)),
        status=status if status is not None or partial else "active",
    )


def _url_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return f"Must be an http or https URL of at most {MAX_URL_LENGTH} characters."
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "Must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "Must be a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Must be an http or https URL with a host."
    if parts.username is not None or parts.password is not None:
        return "Must not hold credentials; verify the Webhook-Signature header instead."
    if parts.fragment:
        return "Must not have a fragment."
    return None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(url: str, *, allow_private: bool) -> list[str]:
    """The addresses `url`'s host resolves to, every one of them allowed; PrivateAddress or
    OSError (does not resolve) otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = [str(ipaddress.ip_address(host))]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise OSError(f"{host} does not resolve")
    if not allow_private and not all(_public(address) for address in found):
        raise PrivateAddress(host)
    return found


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Registration's check of the URL's host: Invalid naming `url` when it may not be used."""
    try:
        await resolve(url, allow_private=allow_private)
    except PrivateAddress:
        raise Invalid.one(
            "url",
            "Resolves to a private, loopback or link-local address; webhooks go to public "
            "addresses only (WEBHOOK_ALLOW_PRIVATE=true allows them).",
        ) from None
    except OSError:
        raise Invalid.one("url", "The host does not resolve.") from None


def new_salt() -> str:
    return secrets.token_hex(16)


def signing_secret(signing_key: str, webhook: Webhook) -> str:
    """The endpoint's secret, derived (never stored): `whsec_` + base64 of 32 bytes."""
    message = "\x00".join(("webhook", webhook.organization_id, webhook.id, webhook.secret_salt))
    digest = hmac.new(signing_key.encode(), message.encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def signature(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value (Standard Webhooks, version 1)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def event_body(export: DataExport, event_type: str, linker: Linker) -> bytes:
    """Rebilly's webhook body for a run that completed or failed."""
    completed = event_type == COMPLETED
    links = [{"rel": "dataExport", "href": linker.export(export.id)}]
    if completed and export.file_id:
        links.append({"rel": "download", "href": linker.download(export.file_id)})
    body = {
        "eventType": event_type,
        "dataExportId": export.id,
        "fileId": export.file_id if completed else None,
        "recordCount": (export.record_count or 0) if completed else 0,
        "status": "completed" if completed else "failed",
        "failureReason": None if completed else export.failure_reason,
        "_embedded": {"dataExport": export_json(export, linker)},
        "_links": links,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def queue_events(
    session: AsyncSession,
    *,
    organization_id: str,
    export_pk: int,
    event_type: str,
    linker: Linker,
    now: datetime,
) -> int:
    """In the run's own transaction: one delivery per active endpoint that wants the event,
    carrying the export as this transaction leaves it. Returns how many were queued."""
    webhooks = [
        w
        for w in await session.scalars(
            select(Webhook).where(
                Webhook.organization_id == organization_id, Webhook.status == "active"
            )
        )
        if event_type in (w.events_filter or [])
    ]
    if not webhooks:
        return 0
    export = await session.scalar(
        select(DataExport)
        .where(DataExport.organization_id == organization_id, DataExport.pk == export_pk)
        .execution_options(populate_existing=True)
    )
    if export is None:
        return 0
    body = event_body(export, event_type, linker).decode()
    event_id = new_id("evt")
    for webhook in webhooks:
        session.add(
            WebhookDelivery(
                id=new_id("whd"),
                organization_id=organization_id,
                webhook_pk=webhook.pk,
                webhook_id=webhook.id,
                event_id=event_id,
                event_type=event_type,
                export_id=export.id,
                body=body,
                status="pending",
                attempts=0,
                next_attempt=now,
                log=[],
                created_time=now,
            )
        )
    return len(webhooks)
