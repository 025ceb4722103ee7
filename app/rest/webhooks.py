"""`/webhooks`: an organization's endpoints for export events, and each one's delivery log.

Reads need `read`, changes `write`; every route is also served under
`/organizations/{organizationId}`. The signing secret appears once, in the 201 of a create.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.exports import usecases
from app.exports.usecases import Listed
from app.models import Webhook, WebhookDelivery
from app.rest.body import read_json_object
from app.rest.routes import (
    Handler,
    _both,
    _counted,
    _dispatch,
    _guarded,
    _int_param,
    _path_id,
    _principal,
    _rate_headers,
    core_of,
    linker_for,
)
from app.timefmt import isoz

PREFIXES = ("/webhooks", "/organizations/{organizationId}/webhooks")


def webhook_json(webhook: Webhook, base: str) -> dict[str, Any]:
    href = f"{base}/webhooks/{webhook.id}"
    return {
        "id": webhook.id,
        "url": webhook.url,
        "eventsFilter": list(webhook.events_filter or []),
        "status": webhook.status,
        "createdTime": isoz(webhook.created_time),
        "updatedTime": isoz(webhook.updated_time),
        "_links": [
            {"rel": "self", "href": href},
            {"rel": "deliveries", "href": f"{href}/deliveries"},
        ],
    }


def delivery_json(delivery: WebhookDelivery, base: str) -> dict[str, Any]:
    pending = delivery.status == "pending"
    return {
        "id": delivery.id,
        "webhookId": delivery.webhook_id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "dataExportId": delivery.export_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "nextAttemptTime": isoz(delivery.next_attempt) if pending else None,
        "lastResponseStatus": delivery.last_response_status,
        "lastError": delivery.last_error,
        "createdTime": isoz(delivery.created_time),
        "deliveredTime": isoz(delivery.delivered_time) if delivery.delivered_time else None,
        "attemptLog": list(delivery.log or []),
        "payload": json.loads(delivery.body),
        "_links": [
            {"rel": "webhook", "href": f"{base}/webhooks/{delivery.webhook_id}"},
            {"rel": "dataExport", "href": f"{base}/data-exports/{delivery.export_id}"},
        ],
    }


def _paged(body: list[dict[str, Any]], listed: Listed[Any]) -> Response:
    return JSONResponse(
        body,
        headers={
            "Pagination-Total": str(listed.total),
            "Pagination-Limit": str(listed.limit),
            "Pagination-Offset": str(listed.offset),
        },
    )


async def list_webhooks(request: Request) -> Response:
    principal = await _principal(request, "read")
    listed = await usecases.list_webhooks(
        core_of(request),
        principal=principal,
        limit=_int_param(request, "limit"),
        offset=_int_param(request, "offset"),
    )
    base = linker_for(request).base_url
    return _paged([webhook_json(w, base) for w in listed.items], listed)


async def create_webhook(request: Request) -> Response:
    principal = await _principal(request, "write")
    created = await usecases.create_webhook(
        core_of(request),
        principal=principal,
        body=lambda: read_json_object(request),
        counted=_counted(request),
    )
    body = webhook_json(created.webhook, linker_for(request).base_url)
    body["secret"] = created.secret  # only here: it cannot be read again
    headers = {**_rate_headers(created.rate), "Location": body["_links"][0]["href"]}
    return JSONResponse(body, status_code=201, headers=headers)


async def get_webhook(request: Request) -> Response:
    principal = await _principal(request, "read")
    webhook = await usecases.get_webhook(
        core_of(request), principal=principal, webhook_id=_path_id(request)
    )
    return JSONResponse(webhook_json(webhook, linker_for(request).base_url))


async def update_webhook(request: Request) -> Response:
    principal = await _principal(request, "write")
    webhook, rate = await usecases.update_webhook(
        core_of(request),
        principal=principal,
        webhook_id=_path_id(request),
        body=lambda: read_json_object(request),
        counted=_counted(request),
    )
    return JSONResponse(
        webhook_json(webhook, linker_for(request).base_url), headers=_rate_headers(rate)
    )


async def delete_webhook(request: Request) -> Response:
    principal = await _principal(request, "write")
    rate = await usecases.delete_webhook(
        core_of(request),
        principal=principal,
        webhook_id=_path_id(request),
        counted=_counted(request),
    )
    return Response(status_code=204, headers=_rate_headers(rate))


async def list_deliveries(request: Request) -> Response:
    principal = await _principal(request, "read")
    listed = await usecases.list_deliveries(
        core_of(request),
        principal=principal,
        webhook_id=_path_id(request),
        limit=_int_param(request, "limit"),
        offset=_int_param(request, "offset"),
    )
    base = linker_for(request).base_url
    return _paged([delivery_json(d, base) for d in listed.items], listed)


def routes() -> list[BaseRoute]:
    collection = _dispatch({"GET": list_webhooks, "POST": create_webhook})
    item = _dispatch({"GET": get_webhook, "PATCH": update_webhook, "DELETE": delete_webhook})
    deliveries: Handler = _guarded(list_deliveries)
    table: list[BaseRoute] = []
    for prefix in PREFIXES:
        table += [Route(p, collection, methods=["GET", "POST"]) for p in _both(prefix)]
        table += [
            Route(p, item, methods=["GET", "PATCH", "DELETE"]) for p in _both(prefix + "/{id}")
        ]
        table += [Route(p, deliveries, methods=["GET"]) for p in _both(prefix + "/{id}/deliveries")]
    return table
