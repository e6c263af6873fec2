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

Revision ID: 0010_scheduled_payments
Revises: 0009_api_tokens
Create Date: 2026-12-09 08:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0010_scheduled_payments"
down_revision = "0009_api_tokens"
branch_labels = None
depends_on = None

STATES = (
    "'queued','dispatched','sending','posted','succeeded','failed','ambiguous','uncleared',"
    "'cancelled','unsent'"
)


def _replace_check(table: str, name: str, condition: str) -> None:
    # DROP CONSTRAINT: the one spelling both MariaDB and MySQL 8 (≥ 8.0.19) accept.
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.create_check_constraint(op.f(name), table, condition)


def upgrade() -> None:
    op.add_column("bulk_requests", sa.Column("start_at", mysql.DATETIME(fsp=6), nullable=True))
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
    op.add_column("payments", sa.Column("due_at", mysql.DATETIME(fsp=6), nullable=True))
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
    op.create_index(op.f("ix_payments_hold_due_at"), "payments", ["hold", "due_at"], unique=False)
    _replace_check("payments", "ck_payments_state", f"state IN ('scheduled',{STATES})")


def downgrade() -> None:
    _replace_check("payments", "ck_payments_state", f"state IN ({STATES})")
    op.drop_index(op.f("ix_payments_hold_due_at"), table_name="payments")
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
