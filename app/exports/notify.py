"""Completion emails through an outbox: rows committed with the export's completion, sent by
the worker over SMTP with retries and backoff for 24 hours, then dropped with an error log.

A duplicate is possible only if a worker dies between the SMTP server's acceptance and
marking the row sent. Without SMTP_HOST the email is logged instead of sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.exports.changes import announce
from app.exports.links import Linker, base_url
from app.exports.status import ErrorCode
from app.metrics import emails
from app.models import DataExport, EmailOutbox, ExportFile, utcnow
from app.settings import Settings

log = logging.getLogger("app.notify")

GIVE_UP_AFTER = timedelta(hours=24)
MAX_BACKOFF_SECONDS = 3600
SEND_LEASE = timedelta(minutes=5)
BATCH = 20


def queue_emails(
    session: AsyncSession, *, export: DataExport, file_id: str, record_count: int, now: datetime
) -> None:
    """One outbox row per distinct (case-insensitive) address."""
    seen: set[str] = set()
    for address in export.email_notification or []:
        if address.lower() in seen:
            continue
        seen.add(address.lower())
        session.add(
            EmailOutbox(
                organization_id=export.organization_id,
                export_id=export.id,
                file_id=file_id,
                recipient=address,
                export_name=export.name,
                record_count=record_count,
                attempts=0,
                next_attempt=now,
                created_time=now,
                sent_time=None,
                dropped=False,
                lease_expires=None,
            )
        )


def _due(now: datetime) -> object:
    return and_(
        EmailOutbox.sent_time.is_(None),
        EmailOutbox.dropped.is_(False),
        EmailOutbox.next_attempt <= now,
        or_(EmailOutbox.lease_expires.is_(None), EmailOutbox.lease_expires < now),
    )


class Mailer:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.linker = Linker(
            base_url(settings.public_base_url),
            settings.signing_secret,
            settings.signed_link_ttl_seconds,
        )

    async def has_due(self, session: AsyncSession) -> bool:
        found = await session.scalar(select(EmailOutbox.id).where(_due(utcnow())).limit(1))  # type: ignore[arg-type]
        return found is not None

    async def send_due(self) -> int:
        """Send what is due; returns how many rows were handled (sent, retried or dropped)."""
        now = utcnow()
        async with self.sessionmaker() as session:
            claimed = list(
                (
                    await session.execute(
                        update(EmailOutbox)
                        .where(
                            EmailOutbox.id.in_(
                                select(EmailOutbox.id).where(_due(now)).limit(BATCH)  # type: ignore[arg-type]
                            ),
                            _due(now),  # type: ignore[arg-type]
                        )
                        .values(lease_expires=now + SEND_LEASE)
                        .returning(EmailOutbox)
                        .execution_options(synchronize_session=False)
                    )
                ).scalars()
            )
            await session.commit()
        for row in claimed:
            await self._deliver(row)
        return len(claimed)

    async def _deliver(self, row: EmailOutbox) -> None:
        async with self.sessionmaker() as session:
            alive = await session.scalar(
                select(ExportFile.id)
                .join(DataExport, DataExport.pk == ExportFile.export_pk)
                .where(
                    ExportFile.organization_id == row.organization_id,
                    ExportFile.id == row.file_id,
                    DataExport.organization_id == row.organization_id,
                    DataExport.id == row.export_id,
                )
            )
        if alive is None:  # the export (or its file) was deleted: send nothing
            await self._mark(row.id, dropped=True)
            return
        try:
            message = self._compose(row)
            if self.settings.smtp_host:
                await self._send(message)
            else:
                log.info("email (no SMTP_HOST set) to %s: %s", row.recipient, message["Subject"])
        except Exception as exc:
            emails.labels("failed").inc()
            if not isinstance(exc, aiosmtplib.SMTPException | OSError):
                log.exception("could not send email %s", row.id)
            await self._record_error(row, smtp_error_code(exc))
            await self._retry(row, exc)
            return
        emails.labels("sent" if self.settings.smtp_host else "logged").inc()
        await self._mark(row.id, sent=True)

    async def _record_error(self, row: EmailOutbox, code: ErrorCode) -> None:
        """The export's latest error says its email failed (its status stays completed)."""
        try:
            async with unit_of_work(self.sessionmaker) as session:
                await session.execute(
                    update(DataExport)
                    .where(
                        DataExport.organization_id == row.organization_id,
                        DataExport.id == row.export_id,
                    )
                    .values(
                        last_error_code=code,
                        last_error_message=code.message,
                        last_error_time=utcnow(),
                    )
                )
                await announce(session, row.organization_id, row.export_id)
                await session.commit()
        except Exception:
            log.warning("could not record the email error of export %s", row.export_id)

    def _compose(self, row: EmailOutbox) -> EmailMessage:
        # Exact: an email is sent once, so it gets its whole TTL, as its text promises.
        link = self.linker.signed(row.file_id, self.settings.email_link_ttl_seconds, stable=False)
        message = EmailMessage()
        message["From"] = self.settings.smtp_sender
        message["To"] = row.recipient
        name = " ".join(row.export_name.split())  # no header folding tricks, whatever is stored
        message["Subject"] = f"Your export \u201c{name}\u201d is ready"
        message.set_content(
            f"Your data export \u201c{row.export_name}\u201d has completed with "
            f"{row.record_count} records.\n\n"
            f"Download it here (the link works without signing in and expires in "
            f"{self.settings.email_link_ttl_seconds // 3600} hours):\n{link}\n"
        )
        return message

    async def _send(self, message: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            timeout=30,
        )

    async def _retry(self, row: EmailOutbox, exc: Exception) -> None:
        now = utcnow()
        if now - row.created_time >= GIVE_UP_AFTER:
            log.error(
                "dropping email to %s for export %s after 24h: %s",
                row.recipient,
                row.export_id,
                exc,
            )
            await self._mark(row.id, dropped=True)
            return
        delay = min(30 * 2**row.attempts, MAX_BACKOFF_SECONDS)
        log.warning("email to %s failed (%s); retrying in %ss", row.recipient, exc, delay)
        async with self.sessionmaker() as session:
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == row.id)
                .values(
                    attempts=row.attempts + 1,
                    next_attempt=now + timedelta(seconds=delay),
                    lease_expires=None,
                )
            )
            await session.commit()

    async def _mark(self, row_id: int, *, sent: bool = False, dropped: bool = False) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == row_id)
                .values(sent_time=utcnow() if sent else None, dropped=dropped, lease_expires=None)
            )
            await session.commit()


def smtp_error_code(exc: Exception) -> ErrorCode:
    """Refused (the server answered no) or unavailable (no usable answer at all)."""
    refused = (
        aiosmtplib.SMTPResponseException,
        aiosmtplib.SMTPRecipientsRefused,
        aiosmtplib.SMTPNotSupported,
    )
    if isinstance(exc, refused) and not isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return ErrorCode.SMTP_REFUSED
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return ErrorCode.SMTP_UNAVAILABLE
    return ErrorCode.INTERNAL_ERROR
