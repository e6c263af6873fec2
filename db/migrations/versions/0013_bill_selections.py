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

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0013_bill_selections"
# The lead re-chains this at merge onto main's newest revision.
down_revision = "0012_bulk_resolutions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    parts.create_table(
        "bill_selections",
        sa.Column("login_id", sa.String(length=64), nullable=False),
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("amount", parts.MONEY, nullable=False),
        sa.Column("service_charge", parts.MONEY, nullable=False),
        parts.stamped("added_at"),
        parts.references("bill_selections", "bill_id", "bills", ondelete="CASCADE"),
        parts.primary_key("bill_selections", "login_id", "bill_id"),
    )
    parts.create_index("bills", "consumer_id")


def downgrade() -> None:
    parts.drop_index("bills", "consumer_id")
    op.drop_table("bill_selections")
