"""Pending bills at scale (issue 17, item 5).

* ``bill_selections``: the bills each person ticked on the pending page — the server-side
  selection that survives paging and filters ("select all matching", the running count and
  total), keyed ``(login_id, bill_id)``; a bill's rows go with it. The bill's biller, amount
  and reported service charge are copied in (a bill row never changes): the running total
  of 50 000 ticked bills reads the person's rows alone.
* ``bills (consumer_id)``: the pending page searches a consumer id by its beginning, across
  billers.

Revision ID: 0013_bill_selections
Revises: 0012_bulk_resolutions
Create Date: 2026-12-06 10:30:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0013_bill_selections"
# The lead re-chains this at merge onto main's newest revision.
down_revision = "0012_bulk_resolutions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bill_selections",
        sa.Column("login_id", sa.String(length=64), nullable=False),
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("service_charge", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column(
            "added_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"],
            ["bills.id"],
            name=op.f("fk_bill_selections_bill_id_bills"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("login_id", "bill_id", name=op.f("pk_bill_selections")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_bills_consumer_id"), "bills", ["consumer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bills_consumer_id"), table_name="bills")
    op.drop_table("bill_selections")
