"""Initial schema: foundation (outbox, inbox, leases), people, catalogue, requests, payments.

Create Date: 2026-11-25 18:50:38.868935+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None


def upgrade() -> None:
    parts.create_table(
        "account_groups",
        parts.surrogate_id(sa.Integer),
        sa.Column("name", sa.String(length=80), nullable=False),
        parts.stamped(),
        parts.primary_key("account_groups"),
        parts.unique("account_groups", "name"),
    )
    parts.create_table(
        "audit_log",
        parts.surrogate_id(),
        parts.stamped("occurred_at"),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="ok", nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        parts.primary_key("audit_log"),
    )
    parts.create_index("audit_log", "action", "occurred_at")
    parts.create_index("audit_log", "actor", "occurred_at")
    parts.create_index("audit_log", "occurred_at")
    parts.create_index("audit_log", "target_type", "target_id")
    parts.create_table(
        "billers",
        parts.surrogate_id(sa.Integer),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("receiver_wallet", sa.String(length=15), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("biller_code", sa.String(length=32), nullable=False),
        sa.Column("pays_service_charge", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("supports_fetch", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        parts.stamped(),
        parts.updated_at(),
        parts.primary_key("billers"),
        parts.unique("billers", "utility_code"),
    )
    parts.create_table(
        "bulk_requests",
        parts.surrogate_id(),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("selection", sa.String(length=500), server_default="", nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("total_items", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("paused_reason", sa.String(length=255), nullable=True),
        sa.Column("paused_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        parts.moment("approved_at"),
        sa.Column("approval_comment", sa.String(length=500), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        parts.stamped(),
        parts.moment("started_at"),
        parts.moment("finished_at"),
        parts.updated_at(),
        parts.check("bulk_requests", "kind", "kind IN ('fetch','payment')"),
        parts.check(
            "bulk_requests",
            "state",
            "state IN ('awaiting_approval','rejected','queued','running','paused','finished','cancelled')",
        ),
        parts.primary_key("bulk_requests"),
        parts.unique("bulk_requests", "idempotency_key"),
    )
    parts.create_index("bulk_requests", "created_by", "id")
    parts.create_index("bulk_requests", "kind", "id")
    parts.create_index("bulk_requests", "state", "id")
    parts.create_table(
        "dispatches",
        parts.surrogate_id(),
        parts.moment("dispatched_at", nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        parts.primary_key("dispatches"),
    )
    parts.create_index("dispatches", "dispatched_at")
    parts.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), server_default="0", nullable=False),
        parts.moment("acquired_at"),
        parts.moment("renewed_at"),
        parts.moment("expires_at"),
        parts.primary_key("leases", "name"),
    )
    parts.create_table(
        "outbox",
        parts.surrogate_id(),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("exchange", sa.String(length=64), nullable=False),
        sa.Column("routing_key", sa.String(length=128), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("body", mysql.MEDIUMTEXT(), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        parts.stamped(),
        parts.stamped("available_at"),
        parts.moment("sent_at"),
        parts.check("outbox", "status", "status IN ('pending','sent','failed')"),
        parts.primary_key("outbox"),
        parts.unique("outbox", "message_id"),
    )
    parts.create_index("outbox", "status", "available_at", "id")
    parts.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        parts.stamped("processed_at"),
        parts.primary_key("processed_messages", "consumer", "message_id"),
    )
    parts.create_table(
        "users",
        parts.surrogate_id(sa.Integer),
        sa.Column("login_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("mobile", sa.String(length=15), nullable=True),
        sa.Column("language", sa.String(length=2), server_default="en", nullable=False),
        sa.Column("role", sa.String(length=16), server_default="admin", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        parts.moment("last_login_at"),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        parts.stamped(),
        parts.updated_at(),
        parts.check("users", "language", "language IN ('en','bn')"),
        parts.check("users", "role", "role IN ('admin','superadmin','auditor')"),
        parts.primary_key("users"),
        parts.unique("users", "login_id"),
    )
    parts.create_table(
        "wallet_breaker",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), server_default="probing", nullable=False),
        parts.moment("opened_at"),
        sa.Column("opened_reason", sa.String(length=255), nullable=True),
        sa.Column("opened_by_reference", sa.String(length=20), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        parts.moment("closed_at"),
        parts.check("wallet_breaker", "state", "state IN ('open','closed','probing')"),
        parts.primary_key("wallet_breaker", "name"),
    )
    parts.create_table(
        "bill_accounts",
        parts.surrogate_id(),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("mobile", sa.String(length=15), nullable=False),
        sa.Column("label", sa.String(length=120), server_default="", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        parts.stamped(),
        parts.updated_at(),
        parts.references("bill_accounts", "utility_code", "billers", "utility_code"),
        parts.primary_key("bill_accounts"),
        parts.unique("bill_accounts", "utility_code", "consumer_id"),
    )
    parts.create_index("bill_accounts", "consumer_id")
    parts.create_index("bill_accounts", "label")
    parts.create_table(
        "request_tallies",
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("item_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("amount", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        parts.references("request_tallies", "request_id", "bulk_requests"),
        parts.primary_key("request_tallies", "request_id", "bucket", "shard"),
    )
    parts.create_table(
        "bill_account_groups",
        sa.Column("bill_account_id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        parts.references(
            "bill_account_groups", "bill_account_id", "bill_accounts", ondelete="CASCADE"
        ),
        parts.references("bill_account_groups", "group_id", "account_groups", ondelete="CASCADE"),
        parts.primary_key("bill_account_groups", "bill_account_id", "group_id"),
    )
    parts.create_index("bill_account_groups", "group_id", "bill_account_id")
    parts.create_table(
        "fetch_items",
        parts.surrogate_id(),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("bill_account_id", sa.BigInteger(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("mobile", sa.String(length=15), nullable=False),
        sa.Column("state", sa.String(length=12), server_default="queued", nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        parts.moment("next_attempt_at"),
        parts.moment("dispatched_at"),
        parts.moment("completed_at"),
        sa.Column("bill_count", sa.Integer(), nullable=True),
        sa.Column("bills_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        parts.check(
            "fetch_items", "outcome", "outcome IS NULL OR outcome IN ('bills','no_bills','failed')"
        ),
        parts.check("fetch_items", "state", "state IN ('queued','dispatched','done','cancelled')"),
        parts.references("fetch_items", "bill_account_id", "bill_accounts"),
        parts.references("fetch_items", "request_id", "bulk_requests"),
        parts.primary_key("fetch_items"),
    )
    parts.create_index("fetch_items", "bill_account_id", "completed_at")
    parts.create_index("fetch_items", "request_id", "outcome", "id")
    parts.create_index("fetch_items", "request_id", "state", "id")
    parts.create_index("fetch_items", "state", "dispatched_at")
    parts.create_table(
        "bills",
        parts.surrogate_id(),
        sa.Column("fetch_item_id", sa.BigInteger(), nullable=False),
        sa.Column("bill_account_id", sa.BigInteger(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("bill_number", sa.String(length=64), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column(
            "service_charge", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column("detail", sa.Text(), nullable=True),
        parts.moment("fetched_at", nullable=False),
        parts.references("bills", "bill_account_id", "bill_accounts"),
        parts.references("bills", "fetch_item_id", "fetch_items"),
        parts.primary_key("bills"),
        parts.unique("bills", "fetch_item_id", "bill_number"),
    )
    parts.create_index("bills", "bill_account_id", "fetched_at")
    parts.create_index("bills", "due_date")
    parts.create_index("bills", "utility_code", "consumer_id", "bill_number")
    parts.create_table(
        "payments",
        parts.surrogate_id(),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("bill_account_id", sa.BigInteger(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("bill_number", sa.String(length=64), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column(
            "service_charge", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("state", sa.String(length=12), server_default="queued", nullable=False),
        sa.Column("dispatch_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("live_bill_key", sa.String(length=200, collation="utf8mb4_bin"), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        parts.moment("dispatched_at"),
        parts.moment("deadline_at"),
        parts.moment("sending_at"),
        sa.Column("sent_by", sa.String(length=128), nullable=True),
        parts.moment("answered_at"),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("service_request_id", sa.String(length=64), nullable=True),
        sa.Column("order_status", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_detail_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("enquiry_count", sa.Integer(), server_default="0", nullable=False),
        parts.moment("enquiry_due_at"),
        parts.moment("enquiry_sent_at"),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        parts.moment("resolved_at"),
        sa.Column("resolution_comment", sa.String(length=500), nullable=True),
        parts.stamped(),
        parts.updated_at(),
        parts.check(
            "payments",
            "state",
            "state IN ('queued','dispatched','sending','posted','succeeded','failed','ambiguous','uncleared','cancelled')",
        ),
        parts.check("payments", "total_positive", "total > 0"),
        parts.references("payments", "bill_account_id", "bill_accounts"),
        parts.references("payments", "bill_id", "bills"),
        parts.references("payments", "request_id", "bulk_requests"),
        parts.primary_key("payments"),
        parts.unique("payments", "live_bill_key"),
        parts.unique("payments", "reference_id"),
    )
    parts.create_index("payments", "bill_number")
    parts.create_index("payments", "consumer_id")
    parts.create_index("payments", "order_id")
    parts.create_index("payments", "request_id", "state", "dispatch_order")
    parts.create_index("payments", "state", "deadline_at")
    parts.create_index("payments", "state", "enquiry_due_at")
    parts.create_index("payments", "state", "sending_at")
    parts.create_table(
        "payment_anomalies",
        parts.surrogate_id(),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("state_at_receipt", sa.String(length=12), nullable=False),
        sa.Column("result_kind", sa.String(length=32), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        parts.stamped("received_at"),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        parts.moment("acknowledged_at"),
        sa.Column("acknowledgement", sa.String(length=500), nullable=True),
        parts.references("payment_anomalies", "payment_id", "payments"),
        parts.primary_key("payment_anomalies"),
    )
    parts.create_index("payment_anomalies", "acknowledged_at", "id")
    parts.create_index("payment_anomalies", "payment_id")
    parts.create_table(
        "payment_events",
        parts.surrogate_id(),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("from_state", sa.String(length=12), nullable=True),
        sa.Column("to_state", sa.String(length=12), nullable=False),
        sa.Column("cause", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        parts.stamped("occurred_at"),
        parts.references("payment_events", "payment_id", "payments"),
        parts.primary_key("payment_events"),
    )
    parts.create_index("payment_events", "payment_id", "id")
    parts.create_index("payment_events", "reference_id")
    # The audit log is append-only: the database itself refuses changes (MySQL 8 and MariaDB
    # accept the same SIGNAL syntax).
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
            "FOR EACH ROW SIGNAL SQLSTATE '45000' "
            "SET MESSAGE_TEXT = 'audit_log is append-only'"
        )
    op.execute("INSERT INTO wallet_breaker (name, state) VALUES ('payer', 'probing')")
    op.execute("INSERT INTO leases (name, fencing_token) VALUES ('scheduler', 0)")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_table("payment_events")
    op.drop_table("payment_anomalies")
    op.drop_table("payments")
    op.drop_table("bills")
    op.drop_table("fetch_items")
    op.drop_table("bill_account_groups")
    op.drop_table("request_tallies")
    op.drop_table("bill_accounts")
    op.drop_table("wallet_breaker")
    op.drop_table("users")
    op.drop_table("processed_messages")
    op.drop_table("outbox")
    op.drop_table("leases")
    op.drop_table("dispatches")
    op.drop_table("bulk_requests")
    op.drop_table("billers")
    op.drop_table("audit_log")
    op.drop_table("account_groups")
