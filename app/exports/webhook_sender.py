"""Sends queued webhook deliveries (app/exports/webhooks.py) from the worker.

A batch of due deliveries is leased under a token unique to this pass, then sent at once, each
with its own timeout, so one hanging receiver delays no other. A 2xx marks the delivery
`delivered`. Anything else (another status, a timeout, a refused connection, an address that
may not be reached) is logged on the delivery and retried after
WEBHOOK_RETRY_BASE_SECONDS * 2^(attempt-1) (at most an hour), until WEBHOOK_MAX_ATTEMPTS
make it `failed`. Redirects are not followed.

Exactly once per endpoint and run while nothing crashes. A worker that dies after the receiver
answered but before recording it leaves the lease to expire, and the delivery is sent again
(at least once): receivers dedupe on `Webhook-Id`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import rowcount, unit_of_work
from app.exports.webhooks import (
    EVENT_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PrivateAddress,
    resolve,
    signature,
    signing_secret,
)
from app.metrics import webhooks as webhook_metric
from app.models import Webhook, WebhookDelivery, utcnow
from app.settings import Settings

log = logging.getLogger("app.webhooks")

BATCH = 20
MAX_BACKOFF_SECONDS = 3600
LOG_ENTRIES = 50
"""Attempts kept in a delivery's log (the newest)."""
USER_AGENT = "exports-gateway-webhooks/1"
DELIVERY_ERRORS = (
    "http-status",
    "timeout",
    "connection-failed",
    "private-address",
    "endpoint-inactive",
    "internal-error",
)
"""What an attempt's `error` may say (null when delivered)."""
KEEP_FINISHED = timedelta(days=30)
"""How long a delivered or failed delivery stays in the log."""


def _due(now: datetime) -> Any:
    return and_(
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt <= now,
        or_(WebhookDelivery.lease_expires.is_(None), WebhookDelivery.lease_expires < now),
    )


class WebhookSender:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.transport = transport

    async def prune(self, now: datetime) -> int:
        """Forget finished deliveries older than KEEP_FINISHED (a worker's sweep calls this):
        the log stays bounded. Pending ones are kept, however old."""
        async with unit_of_work(self.sessionmaker) as session:
            result = await session.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.status != "pending",
                    WebhookDelivery.created_time < now - KEEP_FINISHED,
                )
            )
            await session.commit()
        return rowcount(result)

    async def send_due(self) -> int:
        """Send what is due; returns how many deliveries were attempted."""
        now, owner = utcnow(), uuid.uuid4().hex
        # An attempt is bounded by the timeout as a whole (resolving included): the lease
        # outlives it, so no other worker sends the same delivery while this one may.
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds + 30)
        async with unit_of_work(self.sessionmaker) as session:
            leased = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.pk.in_(
                        select(WebhookDelivery.pk)
                        .where(_due(now))
                        .order_by(WebhookDelivery.next_attempt, WebhookDelivery.pk)
                        .limit(BATCH)
                    ),
                    _due(now),
                )
                .values(lease_owner=owner, lease_expires=now + lease)
                .returning(WebhookDelivery.pk)
                .execution_options(synchronize_session=False)
            )
            pks = list(leased.scalars())
            await session.commit()
        if not pks:
            return 0
        async with unit_of_work(self.sessionmaker) as session:
            rows = list(
                await session.execute(
                    select(WebhookDelivery, Webhook)
                    .join(Webhook, Webhook.pk == WebhookDelivery.webhook_pk)
                    .where(
                        WebhookDelivery.pk.in_(pks),
                        Webhook.organization_id == WebhookDelivery.organization_id,
                    )
                )
            )
        timeout = httpx.Timeout(self.settings.webhook_timeout_seconds)
        async with httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment may see the bodies
            transport=self.transport,
            headers={"User-Agent": USER_AGENT},
        ) as client:
            await asyncio.gather(
                *(self._attempt(client, delivery, webhook, owner) for delivery, webhook in rows)
            )
        return len(pks)

    async def _attempt(
        self, client: httpx.AsyncClient, delivery: WebhookDelivery, webhook: Webhook, owner: str
    ) -> None:
        started, status, error = time.monotonic(), None, None
        try:
            if webhook.status != "active":
                error = "endpoint-inactive"
            else:
                status = await asyncio.wait_for(
                    self._post(client, delivery, webhook), self.settings.webhook_timeout_seconds
                )
                error = None if 200 <= status < 300 else "http-status"
        except PrivateAddress:
            error = "private-address"
        except (httpx.TimeoutException, TimeoutError):
            error = "timeout"
        except (httpx.TransportError, OSError):
            error = "connection-failed"
        except Exception:
            log.exception("webhook delivery %s: unexpected error", delivery.id)
            error = "internal-error"
        elapsed_ms = round((time.monotonic() - started) * 1000)
        await self._record(delivery, owner, status=status, error=error, elapsed_ms=elapsed_ms)

    async def _post(
        self, client: httpx.AsyncClient, delivery: WebhookDelivery, webhook: Webhook
    ) -> int:
        """POST to the address that was checked (a name cannot be made to resolve elsewhere
        between the check and the connection); TLS still verifies the name."""
        addresses = await resolve(webhook.url, allow_private=self.settings.webhook_allow_private)
        parts = urlsplit(webhook.url)
        body = delivery.body.encode()
        timestamp = int(time.time())
        secret = signing_secret(self.settings.signing_secret, webhook)
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            ID_HEADER: delivery.id,
            EVENT_HEADER: delivery.event_type,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, delivery.id, timestamp, body),
        }
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        for n, address in enumerate(addresses):  # in the resolver's order, as a browser does
            bracketed = f"[{address}]" if ":" in address else address
            netloc = f"{bracketed}:{parts.port}" if parts.port else bracketed
            pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
            try:
                response = await client.post(
                    pinned, content=body, headers=headers, extensions=extensions
                )
            except httpx.ConnectError:
                if n == len(addresses) - 1:
                    raise
                continue
            return response.status_code
        raise AssertionError("resolve() returns at least one address")

    async def _record(
        self,
        delivery: WebhookDelivery,
        owner: str,
        *,
        status: int | None,
        error: str | None,
        elapsed_ms: int,
    ) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        entry = {
            "attempt": attempts,
            "time": now.isoformat().replace("+00:00", "Z"),
            "responseStatus": status,
            "error": error,
            "durationMs": elapsed_ms,
        }
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_response_status": status,
            "last_error": error,
            "log": [*delivery.log, entry][-LOG_ENTRIES:],
            "lease_owner": None,
            "lease_expires": None,
        }
        if error is None:
            values |= {"status": "delivered", "delivered_time": now}
            outcome = "delivered"
        elif attempts >= self.settings.webhook_max_attempts or error in (
            "private-address",
            "endpoint-inactive",
        ):
            values["status"] = "failed"
            outcome = "failed"
            log.warning(
                "webhook delivery %s of export %s to %s failed for good after %s attempts: %s",
                delivery.id,
                delivery.export_id,
                delivery.webhook_id,
                attempts,
                error if status is None else f"{error} {status}",
            )
        else:
            delay = self.settings.webhook_retry_base_seconds * 2 ** (attempts - 1)
            values["next_attempt"] = now + timedelta(seconds=min(delay, MAX_BACKOFF_SECONDS))
            outcome = "retried"
        webhook_metric.labels(outcome).inc()
        async with unit_of_work(self.sessionmaker) as session:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.organization_id == delivery.organization_id,
                    WebhookDelivery.pk == delivery.pk,
                    WebhookDelivery.lease_owner == owner,
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
