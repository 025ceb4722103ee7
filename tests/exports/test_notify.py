"""Completion emails (spec §8) through a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

import app.exports.notify as notify_module
import app.exports.worker as worker_module
from app.models import EmailOutbox, utcnow
from app.timefmt import isoz
from tests.conftest import Harness, Tenant
from tests.exports.conftest import create, fetch, local, make_worker, run_worker, seed
from tests.servers import free_port


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def body(self, index: int) -> str:
        part = self.messages[index].get_body(("plain",))
        assert part is not None
        return str(part.get_content())


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def mail_settings(port: int) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": port}


async def outbox(harness: Harness) -> list[EmailOutbox]:
    async with harness.session() as session:
        return list(await session.scalars(select(EmailOutbox).order_by(EmailOutbox.id)))


async def set_outbox(harness: Harness, **values: Any) -> None:
    async with harness.session() as session:
        await session.execute(update(EmailOutbox).values(**values))
        await session.commit()


def signed_link(text: str) -> str:
    match = re.search(r"https?://\S+/files/\S+/signed\?\S+", text)
    assert match, text
    return match.group(0)


async def test_one_email_per_distinct_address_with_a_working_link(
    harness: Harness, tenant: Tenant, smtp: SmtpServer
) -> None:
    await seed(harness, customers=20, transactions=120, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {
            "name": "Weekly revenue",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["Ops@Example.com", "finance@example.com", "ops@example.com"],
        },
    )
    await run_worker(harness, **mail_settings(smtp.port))
    done = await fetch(harness, tenant, body["id"], expand="file")
    assert done["status"] == "completed"

    inbox = smtp.inbox
    assert sorted(e[0].lower() for e in inbox.envelopes) == [
        "finance@example.com",
        "ops@example.com",
    ]
    assert sorted(str(m["To"]).lower() for m in inbox.messages) == [
        "finance@example.com",
        "ops@example.com",
    ]
    for index, message in enumerate(inbox.messages):
        assert "Weekly revenue" in str(message["Subject"])
        assert message["From"] == harness.settings.smtp_sender
        text = inbox.body(index)
        assert "Weekly revenue" in text
        assert "120 records" in text
        link = signed_link(text)
        expires = int(parse_qs(urlsplit(link).query)["expires"][0])
        assert abs(expires - (time.time() + harness.settings.email_link_ttl_seconds)) < 120
        response = await harness.client.get(local(link))  # no credentials
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == done["_embedded"]["file"]["sha256"]

    rows = await outbox(harness)
    assert len(rows) == 2
    assert all(r.sent_time is not None and not r.dropped for r in rows)
    assert {r.file_id for r in rows} == {done["fileId"]}

    await run_worker(harness, **mail_settings(smtp.port))
    assert len(inbox.messages) == 2  # nothing is sent twice


async def test_every_run_of_a_recurring_export_is_announced(
    harness: Harness, tenant: Tenant, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = utcnow().replace(hour=0, minute=0, second=0) + timedelta(days=2)
    body = await create(
        harness,
        tenant,
        {
            "name": "Nightly",
            "resource": "customers",
            "format": "json",
            "emailNotification": ["a@example.com", "A@EXAMPLE.COM"],
            "recurring": {"instruction": "FREQ=DAILY;COUNT=2", "start": isoz(start)},
        },
    )
    file_ids = []
    for n in range(2):
        when = start + timedelta(days=n, minutes=1)
        monkeypatch.setattr(worker_module, "utcnow", lambda when=when: when)
        monkeypatch.setattr(notify_module, "utcnow", lambda when=when: when)
        await run_worker(harness, **mail_settings(smtp.port))
        file_ids.append((await fetch(harness, tenant, body["id"]))["fileId"])
    assert len(set(file_ids)) == 2
    assert len(smtp.inbox.messages) == 2
    linked = [urlsplit(signed_link(smtp.inbox.body(i))).path.split("/")[2] for i in range(2)]
    assert linked == file_ids


async def test_failed_exports_send_nothing(
    harness: Harness, tenant: Tenant, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=120, resources=("transactions",))
    too_big = await create(
        harness,
        tenant,
        {
            "name": "Too big",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    await make_worker(harness, export_max_records=100, **mail_settings(smtp.port)).run(once=True)
    assert (await fetch(harness, tenant, too_big["id"]))["failureReason"] == "record-limit-exceeded"

    broken = await create(
        harness,
        tenant,
        {
            "name": "Broken",
            "resource": "customers",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated")

    monkeypatch.setattr(worker_module, "make_writer", fail)
    await make_worker(harness, worker_max_attempts=1, **mail_settings(smtp.port)).run(once=True)
    assert (await fetch(harness, tenant, broken["id"]))["failureReason"] == "max-retries-reached"
    assert smtp.inbox.messages == []
    assert await outbox(harness) == []


async def test_an_export_deleted_before_sending_sends_nothing(
    harness: Harness, tenant: Tenant, smtp: SmtpServer
) -> None:
    body = await create(
        harness,
        tenant,
        {
            "name": "Deleted",
            "resource": "customers",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    worker = make_worker(harness, **mail_settings(smtp.port))
    assert await worker.run_one("exports-only") is True  # completes; the email is only queued
    (row,) = await outbox(harness)
    assert row.sent_time is None
    response = await harness.client.delete(f"/data-exports/{body['id']}", headers=tenant.headers)
    assert response.status_code == 204

    await run_worker(harness, **mail_settings(smtp.port))
    assert smtp.inbox.messages == []
    (row,) = await outbox(harness)
    assert row.dropped
    assert row.sent_time is None


async def test_smtp_down_keeps_the_email_queued_until_the_server_is_back(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    server = SmtpServer(free_port())  # nothing listens there yet
    body = await create(
        harness,
        tenant,
        {
            "name": "Resilient",
            "resource": "customers",
            "format": "xml",
            "emailNotification": ["ops@example.com"],
        },
    )
    before = utcnow()
    await run_worker(harness, **mail_settings(server.port))
    assert (await fetch(harness, tenant, body["id"]))["status"] == "completed"
    (row,) = await outbox(harness)
    assert (row.sent_time, row.dropped, row.attempts) == (None, False, 1)
    assert row.next_attempt >= before + timedelta(seconds=30)
    assert row.lease_expires is None

    server.start()
    try:
        await run_worker(harness, **mail_settings(server.port))
        assert server.inbox.messages == []  # not due yet: the backoff holds
        await set_outbox(harness, next_attempt=utcnow())
        await run_worker(harness, **mail_settings(server.port))
        assert len(server.inbox.messages) == 1
        assert "Resilient" in str(server.inbox.messages[0]["Subject"])
        (row,) = await outbox(harness)
        assert row.sent_time is not None
        assert row.attempts == 1
        await run_worker(harness, **mail_settings(server.port))
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()


async def test_backoff_grows_and_emails_older_than_a_day_are_dropped(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    await create(
        harness,
        tenant,
        {"name": "x", "resource": "customers", "format": "csv", "emailNotification": ["a@b.co"]},
    )
    await run_worker(harness, **mail_settings(port))
    await set_outbox(harness, next_attempt=utcnow())
    before = utcnow()
    await run_worker(harness, **mail_settings(port))
    (row,) = await outbox(harness)
    assert row.attempts == 2
    assert row.next_attempt >= before + timedelta(seconds=60)

    await set_outbox(
        harness, next_attempt=utcnow(), created_time=utcnow() - timedelta(hours=24, minutes=1)
    )
    with caplog.at_level(logging.ERROR, logger="app.notify"):
        await run_worker(harness, **mail_settings(port))
    (row,) = await outbox(harness)
    assert row.dropped
    assert row.sent_time is None
    assert any("dropping email" in r.getMessage() for r in caplog.records)
    await set_outbox(harness, next_attempt=utcnow())
    await run_worker(harness, **mail_settings(port))
    assert (await outbox(harness))[0].attempts == 2  # a dropped email is never tried again


async def test_without_smtp_host_the_email_is_logged_and_marked_sent(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    assert harness.settings.smtp_host is None
    await create(
        harness,
        tenant,
        {
            "name": "Logged",
            "resource": "customers",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    with caplog.at_level(logging.INFO, logger="app.notify"):
        await run_worker(harness)
    (row,) = await outbox(harness)
    assert row.sent_time is not None
    assert not row.dropped
    logged = [r.getMessage() for r in caplog.records if r.name == "app.notify"]
    assert any("ops@example.com" in m and "Logged" in m for m in logged)


async def test_one_unsendable_email_does_not_stall_the_others(
    harness: Harness, tenant: Tenant, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=50, resources=("transactions",))
    await create(
        harness,
        tenant,
        {
            "name": "x",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["broken@example.com", "fine@example.com"],
        },
    )
    real = notify_module.Mailer._compose

    def compose(self: notify_module.Mailer, row: EmailOutbox) -> EmailMessage:
        if row.recipient.startswith("broken"):
            raise ValueError("simulated unsendable message")
        return real(self, row)

    monkeypatch.setattr(notify_module.Mailer, "_compose", compose)
    await run_worker(harness, **mail_settings(smtp.port))

    assert [str(m["To"]) for m in smtp.inbox.messages] == ["fine@example.com"]
    rows = {r.recipient: r for r in await outbox(harness)}
    assert rows["fine@example.com"].sent_time is not None
    broken = rows["broken@example.com"]
    assert broken.sent_time is None
    assert broken.attempts == 1
    assert broken.lease_expires is None  # released for its retry, not stuck leased
    assert broken.next_attempt > utcnow()
