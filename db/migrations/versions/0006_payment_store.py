"""The payment store (issue 15): never-sent payments go back with the same reference id
(``returns``) or end ``unsent``; the claim writes ``send_by_at`` and ``answer_by_at``;
``failure`` says who made a payment failed; requests may be ``scheduled`` or ``enquiring``;
``request_events`` records every request state change.

Revision ID: 0006_payment_store
Revises: 0005_request_correlation
Create Date: 2026-12-06 08:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006_payment_store"
down_revision = "0005_request_correlation"
branch_labels = None
depends_on = None

PAYMENT_STATES = (
    "'queued','dispatched','sending','posted','succeeded','failed','ambiguous','uncleared',"
    "'cancelled'"
)
REQUEST_STATES = "'awaiting_approval','rejected','queued','running','paused','finished','cancelled'"


def _replace_check(table: str, name: str, condition: str) -> None:
    # DROP CONSTRAINT: the one spelling both MariaDB and MySQL 8 (≥ 8.0.19) accept.
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.create_check_constraint(op.f(name), table, condition)


def upgrade() -> None:
    op.add_column(
        "payments", sa.Column("returns", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("payments", sa.Column("send_by_at", mysql.DATETIME(fsp=6), nullable=True))
    op.add_column("payments", sa.Column("answer_by_at", mysql.DATETIME(fsp=6), nullable=True))
    op.add_column("payments", sa.Column("failure", sa.String(length=16), nullable=True))
    # Payments claimed before this version: their send window is unknown; assume the old
    # default sending timeout (60 s) as the moment their answer was due at the latest.
    op.execute(
        "UPDATE payments SET send_by_at = sending_at,"
        " answer_by_at = DATE_ADD(sending_at, INTERVAL 60 SECOND) WHERE sending_at IS NOT NULL"
    )
    op.create_index(
        op.f("ix_payments_state_answer_by_at"), "payments", ["state", "answer_by_at"], unique=False
    )
    op.drop_index(op.f("ix_payments_state_sending_at"), table_name="payments")
    _replace_check("payments", "ck_payments_state", f"state IN ({PAYMENT_STATES},'unsent')")
    _replace_check(
        "bulk_requests",
        "ck_bulk_requests_state",
        "state IN ('awaiting_approval','scheduled','rejected','queued','running','paused',"
        "'enquiring','finished','cancelled')",
    )
    op.create_table(
        "request_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("cause", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column(
            "occurred_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["bulk_requests.id"],
            name=op.f("fk_request_events_request_id_bulk_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_request_events_request_id_id"), "request_events", ["request_id", "id"])


def downgrade() -> None:
    op.drop_table("request_events")
    _replace_check("bulk_requests", "ck_bulk_requests_state", f"state IN ({REQUEST_STATES})")
    _replace_check("payments", "ck_payments_state", f"state IN ({PAYMENT_STATES})")
    op.create_index(
        op.f("ix_payments_state_sending_at"), "payments", ["state", "sending_at"], unique=False
    )
    op.drop_index(op.f("ix_payments_state_answer_by_at"), table_name="payments")
    op.drop_column("payments", "failure")
    op.drop_column("payments", "answer_by_at")
    op.drop_column("payments", "send_by_at")
    op.drop_column("payments", "returns")
