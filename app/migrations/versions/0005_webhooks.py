"""Webhooks: endpoints per organization and their deliveries (an outbox and a log)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("organization_id", sa.String(length=50), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events_filter", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("secret_salt", sa.String(length=64), nullable=False),
        sa.Column("created_time", sa.DateTime(), nullable=False),
        sa.Column("updated_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("organization_id", "id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("organization_id", sa.String(length=50), nullable=False),
        sa.Column("webhook_pk", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(length=50), nullable=False),
        sa.Column("event_id", sa.String(length=50), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("export_id", sa.String(length=50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires", sa.DateTime(), nullable=True),
        sa.Column("last_response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=40), nullable=True),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("created_time", sa.DateTime(), nullable=False),
        sa.Column("delivered_time", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["webhook_pk"], ["webhooks.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("webhook_pk", "event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt"])
    op.create_index(
        "ix_webhook_deliveries_org_webhook",
        "webhook_deliveries",
        ["organization_id", "webhook_id", "pk"],
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
