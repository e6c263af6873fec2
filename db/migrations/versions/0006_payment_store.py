"""The payment store (issue 15): never-sent payments go back with the same reference id
(``returns``) or end ``unsent``; the claim writes ``send_by_at`` and ``answer_by_at``;
``failure`` says who made a payment failed; requests may be ``scheduled`` or ``enquiring``;
``request_events`` records every request state change.

Create Date: 2026-12-06 08:00:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0006_payment_store"
down_revision = "0005_request_correlation"

PAYMENT_STATES = (
    "'queued','dispatched','sending','posted','succeeded','failed','ambiguous','uncleared',"
    "'cancelled'"
)
REQUEST_STATES = "'awaiting_approval','rejected','queued','running','paused','finished','cancelled'"


def upgrade() -> None:
    op.add_column(
        "payments", sa.Column("returns", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("payments", parts.moment("send_by_at"))
    op.add_column("payments", parts.moment("answer_by_at"))
    op.add_column("payments", sa.Column("failure", sa.String(length=16), nullable=True))
    # Payments claimed before this version: their send window is unknown; assume the old
    # default sending timeout (60 s) as the moment their answer was due at the latest.
    op.execute(
        "UPDATE payments SET send_by_at = sending_at,"
        " answer_by_at = DATE_ADD(sending_at, INTERVAL 60 SECOND) WHERE sending_at IS NOT NULL"
    )
    parts.create_index("payments", "state", "answer_by_at")
    parts.drop_index("payments", "state", "sending_at")
    parts.replace_check("payments", "ck_payments_state", f"state IN ({PAYMENT_STATES},'unsent')")
    parts.replace_check(
        "bulk_requests",
        "ck_bulk_requests_state",
        "state IN ('awaiting_approval','scheduled','rejected','queued','running','paused',"
        "'enquiring','finished','cancelled')",
    )
    parts.create_table(
        "request_events",
        parts.surrogate_id(),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("cause", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        parts.stamped("occurred_at"),
        parts.references("request_events", "request_id", "bulk_requests"),
        parts.primary_key("request_events"),
    )
    parts.create_index("request_events", "request_id", "id")


def downgrade() -> None:
    op.drop_table("request_events")
    parts.replace_check("bulk_requests", "ck_bulk_requests_state", f"state IN ({REQUEST_STATES})")
    parts.replace_check("payments", "ck_payments_state", f"state IN ({PAYMENT_STATES})")
    parts.create_index("payments", "state", "sending_at")
    parts.drop_index("payments", "state", "answer_by_at")
    op.drop_column("payments", "failure")
    op.drop_column("payments", "answer_by_at")
    op.drop_column("payments", "send_by_at")
    op.drop_column("payments", "returns")
