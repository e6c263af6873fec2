"""Initial schema: foundation (outbox, inbox, leases), people, catalogue, requests, payments.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 18:50:38.868935+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_account_groups_name")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "occurred_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="ok", nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_audit_log_action_occurred_at"),
        "audit_log",
        ["action", "occurred_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_audit_log_actor_occurred_at"), "audit_log", ["actor", "occurred_at"], unique=False
    )
    op.create_index(op.f("ix_audit_log_occurred_at"), "audit_log", ["occurred_at"], unique=False)
    op.create_index(
        op.f("ix_audit_log_target_type_target_id"),
        "audit_log",
        ["target_type", "target_id"],
        unique=False,
    )
    op.create_table(
        "billers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("receiver_wallet", sa.String(length=15), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("biller_code", sa.String(length=32), nullable=False),
        sa.Column("pays_service_charge", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("supports_fetch", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billers")),
        sa.UniqueConstraint("utility_code", name=op.f("uq_billers_utility_code")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "bulk_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
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
        sa.Column("approved_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("approval_comment", sa.String(length=500), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("started_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("finished_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('fetch','payment')", name=op.f("ck_bulk_requests_kind")),
        sa.CheckConstraint(
            "state IN ('awaiting_approval','rejected','queued','running','paused','finished','cancelled')",
            name=op.f("ck_bulk_requests_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_requests")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_bulk_requests_idempotency_key")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_bulk_requests_created_by_id"), "bulk_requests", ["created_by", "id"], unique=False
    )
    op.create_index(op.f("ix_bulk_requests_kind_id"), "bulk_requests", ["kind", "id"], unique=False)
    op.create_index(
        op.f("ix_bulk_requests_state_id"), "bulk_requests", ["state", "id"], unique=False
    )
    op.create_table(
        "dispatches",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("dispatched_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatches")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_dispatches_dispatched_at"), "dispatches", ["dispatched_at"], unique=False
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("acquired_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("renewed_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("expires_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("exchange", sa.String(length=64), nullable=False),
        sa.Column("routing_key", sa.String(length=128), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("body", mysql.MEDIUMTEXT(), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column(
            "available_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("sent_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.CheckConstraint("status IN ('pending','sent','failed')", name=op.f("ck_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_outbox_status_available_at_id"),
        "outbox",
        ["status", "available_at", "id"],
        unique=False,
    )
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column(
            "processed_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "message_id", name=op.f("pk_processed_messages")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("login_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("mobile", sa.String(length=15), nullable=True),
        sa.Column("language", sa.String(length=2), server_default="en", nullable=False),
        sa.Column("role", sa.String(length=16), server_default="admin", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("last_login_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.CheckConstraint("language IN ('en','bn')", name=op.f("ck_users_language")),
        sa.CheckConstraint("role IN ('admin','superadmin','auditor')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("login_id", name=op.f("uq_users_login_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "wallet_breaker",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), server_default="probing", nullable=False),
        sa.Column("opened_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("opened_reason", sa.String(length=255), nullable=True),
        sa.Column("opened_by_reference", sa.String(length=20), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.CheckConstraint(
            "state IN ('open','closed','probing')", name=op.f("ck_wallet_breaker_state")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_wallet_breaker")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "bill_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("mobile", sa.String(length=15), nullable=False),
        sa.Column("label", sa.String(length=120), server_default="", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["utility_code"],
            ["billers.utility_code"],
            name=op.f("fk_bill_accounts_utility_code_billers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_accounts")),
        sa.UniqueConstraint(
            "utility_code", "consumer_id", name=op.f("uq_bill_accounts_utility_code_consumer_id")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_bill_accounts_consumer_id"), "bill_accounts", ["consumer_id"], unique=False
    )
    op.create_index(op.f("ix_bill_accounts_label"), "bill_accounts", ["label"], unique=False)
    op.create_table(
        "request_tallies",
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("item_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("amount", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["bulk_requests.id"],
            name=op.f("fk_request_tallies_request_id_bulk_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "bucket", "shard", name=op.f("pk_request_tallies")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "bill_account_groups",
        sa.Column("bill_account_id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_account_id"],
            ["bill_accounts.id"],
            name=op.f("fk_bill_account_groups_bill_account_id_bill_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["account_groups.id"],
            name=op.f("fk_bill_account_groups_group_id_account_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bill_account_id", "group_id", name=op.f("pk_bill_account_groups")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_bill_account_groups_group_id_bill_account_id"),
        "bill_account_groups",
        ["group_id", "bill_account_id"],
        unique=False,
    )
    op.create_table(
        "fetch_items",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("bill_account_id", sa.BigInteger(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("mobile", sa.String(length=15), nullable=False),
        sa.Column("state", sa.String(length=12), server_default="queued", nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("dispatched_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("completed_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("bill_count", sa.Integer(), nullable=True),
        sa.Column("bills_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('bills','no_bills','failed')",
            name=op.f("ck_fetch_items_outcome"),
        ),
        sa.CheckConstraint(
            "state IN ('queued','dispatched','done','cancelled')", name=op.f("ck_fetch_items_state")
        ),
        sa.ForeignKeyConstraint(
            ["bill_account_id"],
            ["bill_accounts.id"],
            name=op.f("fk_fetch_items_bill_account_id_bill_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["bulk_requests.id"],
            name=op.f("fk_fetch_items_request_id_bulk_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_items")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_fetch_items_bill_account_id_completed_at"),
        "fetch_items",
        ["bill_account_id", "completed_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_fetch_items_request_id_outcome_id"),
        "fetch_items",
        ["request_id", "outcome", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_fetch_items_request_id_state_id"),
        "fetch_items",
        ["request_id", "state", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_fetch_items_state_dispatched_at"),
        "fetch_items",
        ["state", "dispatched_at"],
        unique=False,
    )
    op.create_table(
        "bills",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
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
        sa.Column("fetched_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_account_id"],
            ["bill_accounts.id"],
            name=op.f("fk_bills_bill_account_id_bill_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["fetch_item_id"], ["fetch_items.id"], name=op.f("fk_bills_fetch_item_id_fetch_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint(
            "fetch_item_id", "bill_number", name=op.f("uq_bills_fetch_item_id_bill_number")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_bills_bill_account_id_fetched_at"),
        "bills",
        ["bill_account_id", "fetched_at"],
        unique=False,
    )
    op.create_index(op.f("ix_bills_due_date"), "bills", ["due_date"], unique=False)
    op.create_index(
        op.f("ix_bills_utility_code_consumer_id_bill_number"),
        "bills",
        ["utility_code", "consumer_id", "bill_number"],
        unique=False,
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
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
        sa.Column("dispatched_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("deadline_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("sending_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("sent_by", sa.String(length=128), nullable=True),
        sa.Column("answered_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("service_request_id", sa.String(length=64), nullable=True),
        sa.Column("order_status", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_detail_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("enquiry_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("enquiry_due_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("enquiry_sent_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("resolution_comment", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('queued','dispatched','sending','posted','succeeded','failed','ambiguous','uncleared','cancelled')",
            name=op.f("ck_payments_state"),
        ),
        sa.CheckConstraint("total > 0", name=op.f("ck_payments_total_positive")),
        sa.ForeignKeyConstraint(
            ["bill_account_id"],
            ["bill_accounts.id"],
            name=op.f("fk_payments_bill_account_id_bill_accounts"),
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_payments_bill_id_bills")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["bulk_requests.id"], name=op.f("fk_payments_request_id_bulk_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("live_bill_key", name=op.f("uq_payments_live_bill_key")),
        sa.UniqueConstraint("reference_id", name=op.f("uq_payments_reference_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_payments_bill_number"), "payments", ["bill_number"], unique=False)
    op.create_index(op.f("ix_payments_consumer_id"), "payments", ["consumer_id"], unique=False)
    op.create_index(op.f("ix_payments_order_id"), "payments", ["order_id"], unique=False)
    op.create_index(
        op.f("ix_payments_request_id_state_dispatch_order"),
        "payments",
        ["request_id", "state", "dispatch_order"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payments_state_deadline_at"), "payments", ["state", "deadline_at"], unique=False
    )
    op.create_index(
        op.f("ix_payments_state_enquiry_due_at"),
        "payments",
        ["state", "enquiry_due_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payments_state_sending_at"), "payments", ["state", "sending_at"], unique=False
    )
    op.create_table(
        "payment_anomalies",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("state_at_receipt", sa.String(length=12), nullable=False),
        sa.Column("result_kind", sa.String(length=32), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("acknowledgement", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_anomalies_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_anomalies")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_payment_anomalies_acknowledged_at_id"),
        "payment_anomalies",
        ["acknowledged_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payment_anomalies_payment_id"), "payment_anomalies", ["payment_id"], unique=False
    )
    op.create_table(
        "payment_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reference_id", sa.String(length=20, collation="utf8mb4_bin"), nullable=False),
        sa.Column("from_state", sa.String(length=12), nullable=True),
        sa.Column("to_state", sa.String(length=12), nullable=False),
        sa.Column("cause", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column(
            "occurred_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_events_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_payment_events_payment_id_id"),
        "payment_events",
        ["payment_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payment_events_reference_id"), "payment_events", ["reference_id"], unique=False
    )
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
