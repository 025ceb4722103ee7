"""Webhooks over GraphQL: the same use cases, rules and shapes as REST `/webhooks`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import enum_value
from strawberry.types import Info

from app.errors import NotFound
from app.exports import usecases
from app.exports.principal import Principal
from app.exports.webhooks import COMPLETED, FAILED
from app.graphql.context import Context
from app.graphql.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
    write,
)
from app.graphql.ids import check_id
from app.graphql.node import Node
from app.graphql.scalars import DateTime
from app.models import Webhook as WebhookRow
from app.models import WebhookDelivery as DeliveryRow
from app.timefmt import parse_iso_datetime

WebhookIdArg = Annotated[strawberry.ID, strawberry.argument(description="The webhook's id.")]
LimitArg = Annotated[int, strawberry.argument(description="0 to 1000.")]
OffsetArg = Annotated[int, strawberry.argument(description="0 or more.")]


@strawberry.enum(description="An export event a webhook can receive.")
class WebhookEvent(Enum):
    DATA_EXPORT_COMPLETED = enum_value(COMPLETED, description="A run completed; its file is ready.")
    DATA_EXPORT_FAILED = enum_value(FAILED, description="A run failed; see failureReason.")


@strawberry.enum(description="Whether a webhook receives events.")
class WebhookStatus(Enum):
    ACTIVE = enum_value("active", description="Events are delivered.")
    INACTIVE = enum_value("inactive", description="Nothing is sent; pending deliveries fail.")


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = enum_value("pending", description="Not yet accepted; retried with backoff.")
    DELIVERED = enum_value("delivered", description="The endpoint answered 2xx.")
    FAILED = enum_value("failed", description="Gave up: attempts used up, or not allowed.")


@strawberry.type(description="One attempt to deliver an event.")
class WebhookAttempt:
    attempt: int = strawberry.field(description="1 for the first attempt.")
    time: DateTime = strawberry.field(description="When it ended.")
    response_status: int | None = strawberry.field(description="HTTP status, when answered.")
    error: str | None = strawberry.field(
        description="http-status, timeout, connection-failed, private-address, "
        "endpoint-inactive or internal-error; null when delivered."
    )
    duration_ms: int = strawberry.field(description="How long it took.")


@strawberry.type(description="One event for one endpoint, and its attempts (REST deliveries).")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Sent as the Webhook-Id header.")
    webhook_id: str = strawberry.field(description="The endpoint.")
    event_id: str = strawberry.field(description="The run's event, the same for every endpoint.")
    event_type: WebhookEvent = strawberry.field(description="What happened.")
    data_export_id: str = strawberry.field(description="The export whose run it was.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Attempts so far.")
    next_attempt_time: DateTime | None = strawberry.field(description="While pending: when.")
    last_response_status: int | None = strawberry.field(description="The latest HTTP status.")
    last_error: str | None = strawberry.field(description="The latest attempt's error.")
    created_time: DateTime = strawberry.field(description="When the event was queued.")
    delivered_time: DateTime | None = strawberry.field(description="When a 2xx came back.")
    attempt_log: list[WebhookAttempt] = strawberry.field(description="Every attempt, oldest first.")
    payload: str = strawberry.field(
        description="The exact JSON body every attempt sends and signs (REST: parsed)."
    )

    @classmethod
    def of(cls, row: DeliveryRow) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(row.id),
            webhook_id=row.webhook_id,
            event_id=row.event_id,
            event_type=WebhookEvent(row.event_type),
            data_export_id=row.export_id,
            status=WebhookDeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_time=DateTime(row.next_attempt) if row.status == "pending" else None,
            last_response_status=row.last_response_status,
            last_error=row.last_error,
            created_time=DateTime(row.created_time),
            delivered_time=DateTime(row.delivered_time) if row.delivered_time else None,
            attempt_log=[_attempt(entry) for entry in row.log or []],
            payload=row.body,
        )


def _attempt(entry: dict[str, Any]) -> WebhookAttempt:
    return WebhookAttempt(
        attempt=entry["attempt"],
        time=DateTime(parse_iso_datetime(entry["time"])),
        response_status=entry["responseStatus"],
        error=entry["error"],
        duration_ms=entry["durationMs"],
    )


@strawberry.type(description="A page of deliveries, newest first.")
class WebhookDeliveryPage:
    items: list[WebhookDelivery] = strawberry.field(description="The deliveries on this page.")
    total: int = strawberry.field(description="Deliveries of this webhook.")
    limit: int = strawberry.field(description="Page size used.")
    offset: int = strawberry.field(description="Offset used.")


@strawberry.type(description="An endpoint that receives export events (REST /webhooks).")
class Webhook(Node):
    row: strawberry.Private[WebhookRow]
    id: strawberry.ID = strawberry.field(description="The webhook's id.")
    url: str = strawberry.field(description="Where events are POSTed.")
    events_filter: list[WebhookEvent] = strawberry.field(description="The events it receives.")
    status: WebhookStatus = strawberry.field(description="Whether it receives events.")
    created_time: DateTime = strawberry.field(description="When it was registered.")
    updated_time: DateTime = strawberry.field(description="When it last changed.")

    @classmethod
    def of(cls, row: WebhookRow) -> Webhook:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            url=row.url,
            events_filter=[WebhookEvent(e) for e in row.events_filter or []],
            status=WebhookStatus(row.status),
            created_time=DateTime(row.created_time),
            updated_time=DateTime(row.updated_time),
        )

    @strawberry.field(description="Its delivery log, newest first.")
    async def deliveries(
        self, info: Info[Context, None], limit: LimitArg = 100, offset: OffsetArg = 0
    ) -> WebhookDeliveryPage:
        principal = await info.context.require("read")
        listed = await usecases.list_deliveries(
            info.context.core,
            principal=principal,
            webhook_id=self.row.id,
            limit=limit,
            offset=offset,
        )
        return WebhookDeliveryPage(
            items=[WebhookDelivery.of(d) for d in listed.items],
            total=listed.total,
            limit=listed.limit,
            offset=listed.offset,
        )


@strawberry.type(description="A page of webhooks, newest first.")
class WebhookPage:
    items: list[Webhook] = strawberry.field(description="The webhooks on this page.")
    total: int = strawberry.field(description="The organization's webhooks.")
    limit: int = strawberry.field(description="Page size used.")
    offset: int = strawberry.field(description="Offset used.")


@strawberry.type(description="A new webhook, with its signing secret (shown only here).")
class CreatedWebhook:
    webhook: Webhook = strawberry.field(description="The webhook.")
    secret: str = strawberry.field(
        description="Verify Webhook-Signature with it; it cannot be read again."
    )


@strawberry.input(description="A webhook to register.")
class CreateWebhookInput:
    url: str = strawberry.field(description="An http or https URL on a public address.")
    events_filter: list[WebhookEvent] | None = strawberry.field(
        default=None, description="Events to receive; every event when omitted."
    )
    status: WebhookStatus | None = strawberry.field(
        default=None, description="ACTIVE when omitted."
    )


@strawberry.input(description="The webhook members to change; omitted ones keep their value.")
class UpdateWebhookInput:
    url: str | None = strawberry.field(default=None, description="A new URL.")
    events_filter: list[WebhookEvent] | None = strawberry.field(
        default=None, description="The events to receive."
    )
    status: WebhookStatus | None = strawberry.field(default=None, description="On or off.")


def _body(data: CreateWebhookInput | UpdateWebhookInput) -> dict[str, Any]:
    """The REST body the input means (null members are not given)."""
    body: dict[str, Any] = {}
    if data.url is not None:
        body["url"] = data.url
    if data.events_filter is not None:
        body["eventsFilter"] = [e.value for e in data.events_filter]
    if data.status is not None:
        body["status"] = data.status.value
    return body


CreateWebhookResult = Annotated[
    CreatedWebhook | ValidationError | ForbiddenError | ConflictError | RateLimitedError,
    strawberry.union("CreateWebhookResult", description="The new webhook, or why not."),
]
WebhookResult = Annotated[
    Webhook | ValidationError | NotFoundError | ForbiddenError | RateLimitedError,
    strawberry.union("WebhookResult", description="The webhook, or why not."),
]


@strawberry.type(
    description="The webhook was deleted, with its delivery log. Select `webhook { id }` (its "
    "`__typename` is Webhook) to evict `Webhook:<id>` from a normalized client cache."
)
class DeletedWebhook:
    id: strawberry.ID = strawberry.field(description="The deleted webhook's id.")
    webhook: Webhook = strawberry.field(
        description="The deleted webhook as last read before the deletion; its log is gone."
    )


DeleteWebhookResult = Annotated[
    DeletedWebhook | NotFoundError | ForbiddenError | RateLimitedError | ValidationError,
    strawberry.union("DeleteWebhookResult", description="The deletion, or why not."),
]


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The organization's webhooks, newest first.")
    async def webhooks(
        self, info: Info[Context, None], limit: LimitArg = 100, offset: OffsetArg = 0
    ) -> WebhookPage:
        principal = await info.context.require("read")
        listed = await usecases.list_webhooks(
            info.context.core, principal=principal, limit=limit, offset=offset
        )
        return WebhookPage(
            items=[Webhook.of(w) for w in listed.items],
            total=listed.total,
            limit=listed.limit,
            offset=listed.offset,
        )

    @strawberry.field(description="One webhook by id; null when it does not exist.")
    async def webhook(self, info: Info[Context, None], id: WebhookIdArg) -> Webhook | None:
        principal = await info.context.require("read")
        try:
            row = await usecases.get_webhook(
                info.context.core, principal=principal, webhook_id=check_id(str(id))
            )
        except NotFound:
            return None
        return Webhook.of(row)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(description="Register an endpoint for export events.")
    async def create_webhook(
        self,
        info: Info[Context, None],
        input: Annotated[CreateWebhookInput, strawberry.argument(description="The webhook.")],
    ) -> CreateWebhookResult:
        async def create(principal: Principal) -> CreatedWebhook:
            created = await usecases.create_webhook(
                info.context.core, principal=principal, body=_body(input)
            )
            return CreatedWebhook(webhook=Webhook.of(created.webhook), secret=created.secret)

        return await write(info.context, create)

    @strawberry.mutation(description="Change a webhook; omitted members keep their value.")
    async def update_webhook(
        self,
        info: Info[Context, None],
        id: WebhookIdArg,
        input: Annotated[UpdateWebhookInput, strawberry.argument(description="The changes.")],
    ) -> WebhookResult:
        async def update(principal: Principal) -> Webhook:
            row, _ = await usecases.update_webhook(
                info.context.core,
                principal=principal,
                webhook_id=check_id(str(id)),
                body=_body(input),
            )
            return Webhook.of(row)

        return await write(info.context, update)

    @strawberry.mutation(description="Delete a webhook and its delivery log.")
    async def delete_webhook(
        self, info: Info[Context, None], id: WebhookIdArg
    ) -> DeleteWebhookResult:
        async def remove(principal: Principal) -> DeletedWebhook:
            last: list[Webhook] = []
            await usecases.delete_webhook(
                info.context.core,
                principal=principal,
                webhook_id=check_id(str(id)),
                deleted=lambda row: last.append(Webhook.of(row)),
            )
            return DeletedWebhook(id=id, webhook=last[0])

        return await write(info.context, remove)
