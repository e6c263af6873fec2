"""Bulk resolution of uncleared payments (issue 18, item 2 and the bulk part of item 1).

* ``bulk_resolutions``: one row per bulk resolution a superadmin confirmed — the outcome
  (paid / not paid), the one comment, the reconciliation it was read from (if any), the count
  and total, and where it stands: ``applied`` at once, or ``awaiting_approval`` by a second
  superadmin when its total is above ``BBP_BULK_RESOLVE_SECOND_APPROVAL_ABOVE`` (then
  ``applied`` or ``rejected``). ``idempotency_key`` (the confirmation page's key) makes a
  double click confirm it once.
* ``bulk_resolution_payments``: its payments, with each one's result once it was applied.

Revision ID: 0012_bulk_resolutions
Revises: 0011_reconciliation
Create Date: 2026-12-06 10:30:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0012_bulk_resolutions"
down_revision = "0011_reconciliation"
branch_labels = None
depends_on = None

TABLE = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "bulk_resolutions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=64, collation="utf8mb4_bin"), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("reconciliation_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("decision_comment", sa.String(length=500), nullable=True),
        sa.Column("resolved_count", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('paid','not_paid')", name=op.f("ck_bulk_resolutions_outcome")
        ),
        sa.CheckConstraint(
            "state IN ('awaiting_approval','applied','rejected')",
            name=op.f("ck_bulk_resolutions_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_resolutions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_bulk_resolutions_idempotency_key")),
        **TABLE,
    )
    op.create_index(
        op.f("ix_bulk_resolutions_state_id"), "bulk_resolutions", ["state", "id"], unique=False
    )
    op.create_table(
        "bulk_resolution_payments",
        sa.Column("resolution_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolution_id"],
            ["bulk_resolutions.id"],
            name=op.f("fk_bulk_resolution_payments_resolution_id_bulk_resolutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_bulk_resolution_payments_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint(
            "resolution_id", "payment_id", name=op.f("pk_bulk_resolution_payments")
        ),
        **TABLE,
    )
    op.create_index(
        op.f("ix_bulk_resolution_payments_payment_id"),
        "bulk_resolution_payments",
        ["payment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_bulk_resolution_payments_payment_id"), table_name="bulk_resolution_payments"
    )
    op.drop_table("bulk_resolution_payments")
    op.drop_index(op.f("ix_bulk_resolutions_state_id"), table_name="bulk_resolutions")
    op.drop_table("bulk_resolutions")
