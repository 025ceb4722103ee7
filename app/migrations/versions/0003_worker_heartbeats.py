"""Worker heartbeats, for readiness

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 16:00:00

Every running worker (in-process or standalone) keeps a row here fresh; `GET /health/ready`
reads it (app/exports/health.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_time", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("identity"),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
