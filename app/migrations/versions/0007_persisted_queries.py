"""Automatic persisted queries: the documents registered by hash

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:30:00

One row per GraphQL document a client registered with its SHA-256 (app/persisted/store.py),
bounded by GRAPHQL_APQ_MAX_ENTRIES through least-recently-used eviction on `last_used`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persisted_queries",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_time", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index("ix_persisted_queries_last_used", "persisted_queries", ["last_used"])


def downgrade() -> None:
    op.drop_index("ix_persisted_queries_last_used", table_name="persisted_queries")
    op.drop_table("persisted_queries")
