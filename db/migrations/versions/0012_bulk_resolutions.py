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

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0012_bulk_resolutions"
down_revision = "0011_reconciliation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    parts.create_table(
        "bulk_resolutions",
        parts.surrogate_id(),
        sa.Column("idempotency_key", sa.String(length=64, collation="utf8mb4_bin"), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("reconciliation_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_count", sa.Integer(), nullable=False),
        sa.Column("total", parts.MONEY, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        parts.stamped(),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        parts.moment("decided_at"),
        sa.Column("decision_comment", sa.String(length=500), nullable=True),
        sa.Column("resolved_count", sa.Integer(), nullable=True),
        parts.check("bulk_resolutions", "outcome", "outcome IN ('paid','not_paid')"),
        parts.check(
            "bulk_resolutions", "state", "state IN ('awaiting_approval','applied','rejected')"
        ),
        parts.primary_key("bulk_resolutions"),
        parts.unique("bulk_resolutions", "idempotency_key"),
    )
    parts.create_index("bulk_resolutions", "state", "id")
    parts.create_table(
        "bulk_resolution_payments",
        sa.Column("resolution_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("total", parts.MONEY, nullable=False),
        sa.Column("result", sa.String(length=24), nullable=True),
        parts.references(
            "bulk_resolution_payments", "resolution_id", "bulk_resolutions", ondelete="CASCADE"
        ),
        parts.references("bulk_resolution_payments", "payment_id", "payments"),
        parts.primary_key("bulk_resolution_payments", "resolution_id", "payment_id"),
    )
    parts.create_index("bulk_resolution_payments", "payment_id")


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping the payment_id index first is refused
    # (MySQL 1553: a foreign key needs it).
    op.drop_table("bulk_resolution_payments")
    op.drop_table("bulk_resolutions")
