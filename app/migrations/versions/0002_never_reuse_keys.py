"""Keys are never reused; pending files are recorded before they are written

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 15:00:00

SQLite gives a deleted row's INTEGER PRIMARY KEY to the next insert unless the table is declared
AUTOINCREMENT, so `data_exports` and `email_outbox` are rebuilt with it (PostgreSQL sequences never
reuse a number: nothing to do there). `pending_files` records a file before a worker writes it;
`export_files.storage_key` is unique and indexed (the sweeper looks files up by it);
`database_identity` names this database, for the stamp of its storage directory.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # env.py turns foreign keys off for the rebuild: dropping the old data_exports table
        # would otherwise cascade to export_files.
        for table in ("data_exports", "email_outbox"):
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass
    op.create_table(
        "pending_files",
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.String(length=50), nullable=False),
        sa.Column("export_pk", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=False),
        sa.Column("created_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["export_pk"], ["data_exports.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("storage_key"),
    )
    op.create_index("ix_pending_files_export_pk", "pending_files", ["export_pk"])
    op.create_index("ix_export_files_storage_key", "export_files", ["storage_key"], unique=True)
    identity = op.create_table(
        "database_identity",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(identity, [{"id": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("database_identity")
    op.drop_index("ix_export_files_storage_key", table_name="export_files")
    op.drop_index("ix_pending_files_export_pk", table_name="pending_files")
    op.drop_table("pending_files")
