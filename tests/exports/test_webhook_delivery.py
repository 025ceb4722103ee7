"""Webhooks delivered to a real HTTP receiver on 127.0.0.1 (issue 10, point 6): Rebilly's body,
signed, retried with backoff from the outbox, exactly once per endpoint and run when nothing
crashes, at least once when the worker is killed mid-delivery, and a delivery log readable
through the API.

Run with `-s` for the figures (sent, retried, duplicated, lost)."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import app.exports.worker as worker_module
from app.models import WebhookDelivery, utcnow
from app.settings import Settings
from tests.conftest import Harness, Tenant, with_settings
from tests.exports.conftest import (
    create,
    fetch,
    make_worker,
    seed,
    start_worker,
    wait_process,
)
from tests.graphql.browser import serve_asgi
from tests.test_metrics import scrape, value

METRIC = "exports_gateway_webhook_deliveries_total"

TIMEOUT = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver listens on loopback; attempts time out fast; retries are due at once."""
    return with_settings(
        settings,
        webhook_allow_private=True,
        webhook_timeout_seconds=TIMEOUT,
        webhook_retry_base_seconds=0,
        webhook_max_attempts=3,
    )


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None


@dataclass
class Receiver:
    """A real HTTP server whose endpoints behave as told: `ok` accepts; `flaky` answers 500
    twice per delivery, then 200; `hang` sleeps past the sender's timeout on a delivery's first
    request (and then accepts it, as a slow receiver does), answers the next at once; `down`
    always answers 503; `hold` never answers a delivery's first request."""

    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: asyncio.Event | None = None

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{name}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        arrival = Arrival(name, dict(request.headers), await request.body())
        delivery = arrival.headers.get("webhook-id", "")
        with self.lock:
            seen = sum(1 for a in self.arrivals if a.headers.get("webhook-id") == delivery)
            self.arrivals.append(arrival)
        status = 200
        if name == "flaky" and seen < 2:
            status = 500
        elif name == "hang" and seen == 0:
            await asyncio.sleep(TIMEOUT * 4)
        elif name == "down":
            status = 503
        elif name == "hold" and seen == 0:
            await asyncio.sleep(3600)
        arrival.answered = status
        return Response(status_code=status)

    def at(self, name: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.path == name]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with serve_asgi(receiver.app()) as base:
        yield receiver, base


async def register(
    harness: Harness, tenant: Tenant, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["eventsFilter"] = events
    response = await harness.client.post("/webhooks", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def verify(arrival: Arrival, secret: str) -> None:
    """What a receiver does, with the Standard Webhooks reference library (written elsewhere):
    the signature holds for this body and these headers, and not for a changed body."""
    verifier = StandardWebhook(secret)
    assert verifier.verify(arrival.body, arrival.headers) == json.loads(arrival.body)
    with pytest.raises(WebhookVerificationError):
        verifier.verify(arrival.body.replace(b"data-export", b"data_export"), arrival.headers)
    assert abs(time.time() - int(arrival.headers["webhook-timestamp"])) < 120


async def deliveries_of(harness: Harness, tenant: Tenant, webhook_id: str) -> list[dict[str, Any]]:
    response = await harness.client.get(
        f"/webhooks/{webhook_id}/deliveries", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["Pagination-Total"] == str(len(response.json()))
    body: list[dict[str, Any]] = response.json()
    return body


async def test_deliveries_to_a_receiver_that_fails_hangs_and_recovers(
    harness: Harness,
    tenant: Tenant,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, base = receiver
    before = await scrape(harness)
    hooks = {
        "ok": await register(harness, tenant, f"{base}/ok"),
        "flaky": await register(harness, tenant, f"{base}/flaky"),
        "hang": await register(harness, tenant, f"{base}/hang"),
        "down": await register(harness, tenant, f"{base}/down", ["data-export-failed"]),
    }
    await seed(harness, customers=20, transactions=60, resources=("transactions",))
    completed = [
        await create(
            harness, tenant, {"name": f"n{n}", "resource": "transactions", "format": "csv"}
        )
        for n in range(4)
    ]
    worker = make_worker(harness, worker_max_attempts=1)
    await worker.run(once=True)  # the four complete; their events go out, retried at once
    real = worker_module.make_writer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated")

    monkeypatch.setattr(worker_module, "make_writer", broken)
    doomed = await create(
        harness, tenant, {"name": "doomed", "resource": "customers", "format": "csv"}
    )
    await worker.run(once=True)
    monkeypatch.setattr(worker_module, "make_writer", real)
    assert (await fetch(harness, tenant, doomed["id"]))["status"] == "failed"

    expected = {
        name: {e["id"] for e in completed} | {doomed["id"]} if name != "down" else {doomed["id"]}
        for name in hooks
    }
    for _ in range(100):  # the hanging receiver finishes its first requests after the timeout
        if all(a.answered for a in inbox.at("hang")):
            break
        await asyncio.sleep(0.05)
    figures = {}
    for name, hook in hooks.items():
        arrivals = inbox.at(name)
        for arrival in arrivals:
            verify(arrival, hook["secret"])
            assert arrival.headers["content-type"] == "application/json"
            assert arrival.headers["webhook-event"] in (
                "data-export-completed",
                "data-export-failed",
            )
        accepted = Counter(
            a.headers["webhook-id"] for a in arrivals if a.answered and a.answered < 300
        )
        exports = {json.loads(a.body)["dataExportId"] for a in arrivals if a.answered == 200}
        log = await deliveries_of(harness, tenant, hook["id"])
        figures[name] = {
            "events": len(expected[name]),
            "requests": len(arrivals),
            "retried": sum(d["attempts"] - 1 for d in log),
            "duplicated": sum(n - 1 for n in accepted.values()),
            "lost": len(expected[name] - exports),
        }
        assert len(log) == len(expected[name])  # one delivery per endpoint and run
        assert {d["dataExportId"] for d in log} == expected[name]
        assert len({d["eventId"] for d in log}) == len(log)
    print("\nwebhook deliveries:", json.dumps(figures))
    after = await scrape(harness)
    attempts = {
        outcome: value(after, METRIC, outcome=outcome) - value(before, METRIC, outcome=outcome)
        for outcome in ("delivered", "retried", "failed")
    }
    assert attempts == {"delivered": 15, "retried": 17, "failed": 1}

    # Nothing crashed: each run reached every endpoint that wants it, none was lost.
    assert all(f["lost"] == 0 for n, f in figures.items() if n != "down")
    # A receiver that answers at once gets each event exactly once.
    assert figures["ok"] == {"events": 5, "requests": 5, "retried": 0, "duplicated": 0, "lost": 0}
    # A failing receiver gets it again until it accepts: twice refused, then accepted once.
    assert figures["flaky"] == {
        "events": 5,
        "requests": 15,
        "retried": 10,
        "duplicated": 0,
        "lost": 0,
    }
    # A receiver that hangs past the timeout is sent it again: it may process both (it
    # eventually answered 200 to the first too): receivers dedupe on Webhook-Id.
    assert figures["hang"] == {
        "events": 5,
        "requests": 10,
        "retried": 5,
        "duplicated": 5,
        "lost": 0,
    }
    # One that never recovers: WEBHOOK_MAX_ATTEMPTS attempts, then failed.
    (down,) = await deliveries_of(harness, tenant, hooks["down"]["id"])
    assert (down["status"], down["attempts"], down["lastResponseStatus"]) == ("failed", 3, 503)
    assert [a["responseStatus"] for a in down["attemptLog"]] == [503, 503, 503]
    assert down["nextAttemptTime"] is None

    # The log says what happened, attempt by attempt.
    for delivery in await deliveries_of(harness, tenant, hooks["flaky"]["id"]):
        assert delivery["status"] == "delivered"
        assert [a["responseStatus"] for a in delivery["attemptLog"]] == [500, 500, 200]
        assert [a["error"] for a in delivery["attemptLog"]] == ["http-status", "http-status", None]
    for delivery in await deliveries_of(harness, tenant, hooks["hang"]["id"]):
        assert [a["error"] for a in delivery["attemptLog"]] == ["timeout", None]
        assert delivery["deliveredTime"] is not None

    # Rebilly's body: completed and failed.
    done = next(
        json.loads(a.body)
        for a in inbox.at("ok")
        if json.loads(a.body)["eventType"] == "data-export-completed"
    )
    shown = await fetch(harness, tenant, done["dataExportId"])
    assert done["fileId"] == shown["fileId"]
    assert done["recordCount"] == shown["recordCount"] == 60
    assert (done["status"], done["failureReason"]) == ("completed", None)
    assert done["_embedded"]["dataExport"]["id"] == shown["id"]
    assert done["_embedded"]["dataExport"]["status"] == "completed"
    rels = {link["rel"]: link["href"] for link in done["_links"]}
    assert set(rels) == {"dataExport", "download"}
    assert rels["download"].endswith(f"/files/{shown['fileId']}/download")
    failed = json.loads(inbox.at("down")[0].body)
    assert failed["eventType"] == "data-export-failed"
    assert (failed["fileId"], failed["recordCount"]) == (None, 0)
    assert (failed["status"], failed["failureReason"]) == ("failed", "max-retries-reached")
    assert [link["rel"] for link in failed["_links"]] == ["dataExport"]


async def test_a_worker_killed_mid_delivery_sends_it_again(
    harness: Harness, tenant: Tenant, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    inbox, base = receiver
    hook = await register(harness, tenant, f"{base}/hold")
    body = await create(harness, tenant, {"name": "x", "resource": "customers", "format": "csv"})
    log = tmp_path / "worker.log"
    process = start_worker(
        harness,
        [],
        log,
        WEBHOOK_ALLOW_PRIVATE="true",
        WEBHOOK_TIMEOUT_SECONDS="60",
    )
    try:
        for _ in range(600):  # the receiver holds the first request; the worker waits on it
            if inbox.at("hold"):
                break
            await asyncio.sleep(0.05)
        assert inbox.at("hold"), log.read_text()
        process.send_signal(signal.SIGKILL)
        await wait_process(process, 10)
    finally:
        if process.poll() is None:
            process.kill()
    async with harness.session() as session:
        (row,) = await session.scalars(select(WebhookDelivery))
        assert (row.status, row.attempts, row.lease_owner is not None) == ("pending", 0, True)
        # Time passes: the dead worker's lease runs out.
        await session.execute(
            update(WebhookDelivery).values(lease_expires=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    await make_worker(harness).run(once=True)
    arrivals = inbox.at("hold")
    assert len(arrivals) == 2
    assert arrivals[0].headers["webhook-id"] == arrivals[1].headers["webhook-id"]
    for arrival in arrivals:
        verify(arrival, hook["secret"])
        assert json.loads(arrival.body)["dataExportId"] == body["id"]
    (delivery,) = await deliveries_of(harness, tenant, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    print(
        "\nwebhook after SIGKILL mid-delivery: events 1, requests 2, duplicated 1, lost 0 "
        "(at least once)"
    )


async def test_finished_deliveries_leave_the_log_after_30_days(
    harness: Harness, tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    hook = await register(harness, tenant, f"{base}/ok")
    for name in ("old", "recent"):
        await create(harness, tenant, {"name": name, "resource": "customers", "format": "csv"})
    await make_worker(harness).run(once=True)
    async with harness.session() as session:
        rows = list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.pk)))
        assert [r.status for r in rows] == ["delivered", "delivered"]
        month_ago = utcnow() - timedelta(days=31)
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.pk == rows[0].pk)
            .values(created_time=month_ago)
        )
        # A pending one is kept however old: it has not been delivered yet.
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.pk == rows[1].pk)
            .values(created_time=month_ago, status="pending", next_attempt=utcnow() + timedelta(1))
        )
        await session.commit()
    await make_worker(harness).sweep()
    log = await deliveries_of(harness, tenant, hook["id"])
    assert [d["id"] for d in log] == [rows[1].id]
