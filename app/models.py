"""ORM tables. Datetimes are stored as naive UTC and handed out as aware UTC; money is stored as
integer minor units (cents) so sums and filters are exact on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database: one representation on every dialect."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Now, aware UTC, whole seconds (the API never shows fractions)."""
    return datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_time: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    created_time: Mapped[datetime]


class ApiKey(Base):
    """A secret key: only its 8-character lookup prefix and a keyed hash are stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(8), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    permissions: Mapped[str] = mapped_column(String(100))
    created_time: Mapped[datetime]


class DataExport(Base):
    """An export request; the row is also the job in the worker's queue."""

    __tablename__ = "data_exports"
    __table_args__ = (
        UniqueConstraint("organization_id", "id"),
        Index("ix_data_exports_org_created_id", "organization_id", "created_time", "id"),
        Index("ix_data_exports_due", "status", "scheduled_time"),
        # AUTOINCREMENT: SQLite would otherwise give a deleted export's number to the next one.
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(50))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    resource: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(10))
    arguments: Mapped[dict[str, Any]]
    date_range: Mapped[dict[str, Any] | None]
    email_notification: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[list[str]] = mapped_column(JSON)
    recurring: Mapped[dict[str, Any] | None]
    # `excel` (a UTF-8 byte-order mark before the CSV) or null for the plain RFC 4180 file.
    csv_dialect: Mapped[str | None] = mapped_column(String(10))
    file_id: Mapped[str | None] = mapped_column(String(50))
    record_count: Mapped[int | None] = mapped_column(BigInteger)
    scheduled_time: Mapped[datetime]
    created_time: Mapped[datetime]
    updated_time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12))
    failure_reason: Mapped[str | None] = mapped_column(String(40))
    # Worker bookkeeping. Shown: attempts in this run, the earliest retry, the latest error
    # (stable code, fixed safe message) and progress. Never shown: the claim's lease.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    last_error_message: Mapped[str | None] = mapped_column(String(200))
    last_error_time: Mapped[datetime | None]
    rows_written: Mapped[int | None] = mapped_column(BigInteger)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]
    run_time: Mapped[datetime | None]


class ExportFile(Base):
    """A published file. Until this row is committed, a PendingFile row covers the file."""

    __tablename__ = "export_files"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    export_pk: Mapped[int] = mapped_column(
        ForeignKey("data_exports.pk", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(50), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    record_count: Mapped[int] = mapped_column(BigInteger)
    created_time: Mapped[datetime]


class DatabaseIdentity(Base):
    """One row, written by the migration that made it: which database this is, so a storage
    directory can be stamped with the one database whose files it holds."""

    __tablename__ = "database_identity"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)


class PendingFile(Base):
    """A file a worker is writing: committed before the temp file is created, so every file on
    disk has a row. The sweeper removes one whose claim (lease_owner) is no longer held."""

    __tablename__ = "pending_files"

    storage_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(50))
    export_pk: Mapped[int] = mapped_column(
        ForeignKey("data_exports.pk", ondelete="CASCADE"), index=True
    )
    lease_owner: Mapped[str] = mapped_column(String(64))
    created_time: Mapped[datetime]


class WorkerHeartbeat(Base):
    """A running worker (in-process or standalone), so readiness can tell whether workers run.
    Each worker upserts its row while it runs and deletes it when it stops cleanly; a killed
    worker's row goes stale, and rows unseen for a day are deleted by any beating worker."""

    __tablename__ = "worker_heartbeats"

    identity: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_time: Mapped[datetime]
    last_seen: Mapped[datetime]


class PersistedQuery(Base):
    """A GraphQL document registered by automatic persisted queries, keyed by its SHA-256, shared
    by every process. Not a tenant's row: a document is public text, verified against its hash.
    `last_used` orders the least-recently-used eviction that keeps the table bounded."""

    __tablename__ = "persisted_queries"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    created_time: Mapped[datetime]
    last_used: Mapped[datetime] = mapped_column(index=True)


class RateCounter(Base):
    """Writes per organization per fixed window, shared by every process through the database."""

    __tablename__ = "rate_counters"

    organization_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class EmailOutbox(Base):
    """An email to send, committed with the export's completion so none is lost."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        Index("ix_email_outbox_due", "sent_time", "next_attempt"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(50))
    export_id: Mapped[str] = mapped_column(String(50))
    file_id: Mapped[str] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(254))
    export_name: Mapped[str] = mapped_column(String(50))
    record_count: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime]
    created_time: Mapped[datetime]
    sent_time: Mapped[datetime | None]
    dropped: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_expires: Mapped[datetime | None]


class Webhook(Base):
    """An organization's endpoint for export events. Its signing secret is never stored: it is
    derived from SIGNING_SECRET and this row's salt (app/exports/webhooks.py)."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("organization_id", "id"), {"sqlite_autoincrement": True})

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(50))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2000))
    events_filter: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    secret_salt: Mapped[str] = mapped_column(String(64))
    created_time: Mapped[datetime]
    updated_time: Mapped[datetime]


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row (committed with the export's completion or
    failure, so none is lost) and its delivery log. Unique per endpoint and event, so a run is
    queued once per endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_pk", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt"),
        Index("ix_webhook_deliveries_org_webhook", "organization_id", "webhook_id", "pk"),
        {"sqlite_autoincrement": True},
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(50), unique=True)
    organization_id: Mapped[str] = mapped_column(String(50))
    webhook_pk: Mapped[int] = mapped_column(ForeignKey("webhooks.pk", ondelete="CASCADE"))
    webhook_id: Mapped[str] = mapped_column(String(50))
    event_id: Mapped[str] = mapped_column(String(50))
    event_type: Mapped[str] = mapped_column(String(40))
    export_id: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    """The exact bytes (UTF-8 JSON) every attempt sends and signs."""
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(40))
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_time: Mapped[datetime]
    delivered_time: Mapped[datetime | None]


# --- Source data: the billing resources that exports read. -----------------------------------


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_org_processed", "organization_id", "processed_time"),
        Index("ix_transactions_org_created", "organization_id", "created_time"),
        Index("ix_transactions_org_status", "organization_id", "status"),
        Index("ix_transactions_org_customer", "organization_id", "customer_id"),
    )

    organization_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(50))
    invoice_id: Mapped[str | None] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    result: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    gateway_name: Mapped[str] = mapped_column(String(50))
    payment_method: Mapped[str] = mapped_column(String(30))
    billing_first_name: Mapped[str | None] = mapped_column(String(100))
    billing_last_name: Mapped[str | None] = mapped_column(String(100))
    billing_country: Mapped[str | None] = mapped_column(String(2))
    description: Mapped[str | None] = mapped_column(Text)
    processed_time: Mapped[datetime | None]
    created_time: Mapped[datetime]
    updated_time: Mapped[datetime]


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_org_created", "organization_id", "created_time"),)

    organization_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    primary_country: Mapped[str | None] = mapped_column(String(2))
    primary_city: Mapped[str | None] = mapped_column(String(100))
    lifetime_revenue_amount: Mapped[int] = mapped_column(BigInteger)
    lifetime_revenue_currency: Mapped[str] = mapped_column(String(3))
    is_edd_required: Mapped[bool] = mapped_column(Boolean)
    created_time: Mapped[datetime]
    updated_time: Mapped[datetime]


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_org_created", "organization_id", "created_time"),)

    organization_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(50))
    plan_id: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    billing_country: Mapped[str | None] = mapped_column(String(2))
    renewal_time: Mapped[datetime | None]
    canceled_time: Mapped[datetime | None]
    created_time: Mapped[datetime]
    updated_time: Mapped[datetime]


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_org_issued", "organization_id", "issued_time"),
        Index("ix_invoices_org_created", "organization_id", "created_time"),
    )

    organization_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(50))
    subscription_id: Mapped[str | None] = mapped_column(String(50))
    invoice_number: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(BigInteger)
    tax_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    issued_time: Mapped[datetime | None]
    due_time: Mapped[datetime | None]
    paid_time: Mapped[datetime | None]
    created_time: Mapped[datetime]
    updated_time: Mapped[datetime]


class InvoiceItem(Base):
    __tablename__ = "invoice_items"
    __table_args__ = (
        Index("ix_invoice_items_org_issued", "organization_id", "issued_time"),
        Index("ix_invoice_items_org_invoice", "organization_id", "invoice_id"),
    )

    organization_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    product_id: Mapped[str | None] = mapped_column(String(50))
    issued_time: Mapped[datetime | None]
    created_time: Mapped[datetime]
