"""Scheduled payments and "pay again" (issue 18, items 3 and 4).

* ``bulk_requests.start_at`` / ``days_before_due``: a scheduled payment request starts at a
  given time, or lets each payment go some days before its bill's due date.
* ``bulk_requests.source_request_id`` / ``origin``: a request made from another — the fetch
  that fetches a scheduled request's bills again at their due time (``refetch``), or a "pay
  again" of a finished request (``pay_again``: its fetch, then the new payment request).
* payments may be ``scheduled`` (waiting for their due time, never dispatched) with
  ``due_at``, ``hold`` (due, refetching, changed), ``refetch_request_id`` and
  ``previous_total``; the index ``(hold, due_at)`` serves the scheduler's starter and is
  untouched by the hot path's state moves.

Create Date: 2026-12-09 08:00:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0010_scheduled_payments"
down_revision = "0009_api_tokens"

STATES = (
    "'queued','dispatched','sending','posted','succeeded','failed','ambiguous','uncleared',"
    "'cancelled','unsent'"
)


def upgrade() -> None:
    op.add_column("bulk_requests", parts.moment("start_at"))
    op.add_column("bulk_requests", sa.Column("days_before_due", sa.SmallInteger(), nullable=True))
    op.add_column("bulk_requests", sa.Column("source_request_id", sa.BigInteger(), nullable=True))
    op.add_column("bulk_requests", sa.Column("origin", sa.String(length=12), nullable=True))
    op.create_foreign_key(
        op.f("fk_bulk_requests_source_request_id_bulk_requests"),
        "bulk_requests",
        "bulk_requests",
        ["source_request_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_bulk_requests_origin"),
        "bulk_requests",
        "origin IS NULL OR origin IN ('refetch','pay_again')",
    )
    op.add_column("payments", parts.moment("due_at"))
    op.add_column("payments", sa.Column("hold", sa.String(length=10), nullable=True))
    op.add_column("payments", sa.Column("refetch_request_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "payments", sa.Column("previous_total", sa.Numeric(precision=14, scale=2), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_payments_refetch_request_id_bulk_requests"),
        "payments",
        "bulk_requests",
        ["refetch_request_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_payments_hold"),
        "payments",
        "hold IS NULL OR hold IN ('due','refetching','changed')",
    )
    parts.create_index("payments", "hold", "due_at")
    parts.replace_check("payments", "ck_payments_state", f"state IN ('scheduled',{STATES})")


def downgrade() -> None:
    parts.replace_check("payments", "ck_payments_state", f"state IN ({STATES})")
    parts.drop_index("payments", "hold", "due_at")
    op.drop_constraint(op.f("ck_payments_hold"), "payments", type_="check")
    op.drop_constraint(
        op.f("fk_payments_refetch_request_id_bulk_requests"), "payments", type_="foreignkey"
    )
    for column in ("previous_total", "refetch_request_id", "hold", "due_at"):
        op.drop_column("payments", column)
    op.drop_constraint(op.f("ck_bulk_requests_origin"), "bulk_requests", type_="check")
    op.drop_constraint(
        op.f("fk_bulk_requests_source_request_id_bulk_requests"),
        "bulk_requests",
        type_="foreignkey",
    )
    for column in ("origin", "source_request_id", "days_before_due", "start_at"):
        op.drop_column("bulk_requests", column)
