"""The schema, as SQLAlchemy Core tables: the contract where the three services meet.

The Alembic migrations in ``db/migrations`` create exactly this (a test compares them).
Portable between MySQL 8 and MariaDB ≥ 10.6: InnoDB, utf8mb4 with ``utf8mb4_unicode_ci``
(present in both), ``DECIMAL(14,2)`` for money, ``DATETIME(6)`` in UTC, JSON kept as TEXT
(MariaDB's JSON is a LONGTEXT alias, MySQL's is binary: TEXT behaves the same in both).

Why one module of more than 400 lines: the whole schema in one place — the contract where
the three services meet, and the migrations' target.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.mysql import DATETIME, MEDIUMTEXT

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

#: Money: 12 digits before the point, 2 after.
Money = Numeric(14, 2, asdecimal=True)


def Timestamp() -> DATETIME:
    """UTC, microseconds."""
    return DATETIME(fsp=6)


def _id(type_: type[BigInteger] | type[Integer] = BigInteger) -> Column[Any]:
    """The table's auto-increment surrogate key."""
    return Column("id", type_, primary_key=True, autoincrement=True)


def _stamped(name: str) -> Column[Any]:
    """A moment the database fills in when the row is inserted."""
    return Column(name, Timestamp(), nullable=False, server_default=text("CURRENT_TIMESTAMP(6)"))


def _created() -> Column[Any]:
    return _stamped("created_at")


def _updated() -> Column[Any]:
    return Column(
        "updated_at",
        Timestamp(),
        nullable=False,
        server_default=text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
    )


# --------------------------------------------------------------------------- foundation

outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("exchange", String(64), nullable=False),
    Column("routing_key", String(128), nullable=False),
    Column("message_type", String(64), nullable=False),
    Column("correlation_id", String(64)),
    Column("body", MEDIUMTEXT, nullable=False),
    Column("status", String(8), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    _created(),
    _stamped("available_at"),
    Column("sent_at", Timestamp()),
    CheckConstraint("status IN ('pending','sent','failed')", name="status"),
    Index(None, "status", "available_at", "id"),
    **TABLE_ARGS,
)
"""Messages written in the same transaction as the business change; relays publish them."""

processed_messages = Table(
    "processed_messages",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("message_id", String(36), primary_key=True),
    _stamped("processed_at"),
    **TABLE_ARGS,
)
"""Inbox: message ids a consumer already applied, written in the same transaction as the effect."""

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128)),
    Column("fencing_token", BigInteger, nullable=False, server_default="0"),
    Column("acquired_at", Timestamp()),
    Column("renewed_at", Timestamp()),
    Column("expires_at", Timestamp()),
    **TABLE_ARGS,
)
"""Leadership leases, judged by the database clock (the active scheduler holds ``scheduler``)."""

# --------------------------------------------------------------------------- people

users = Table(
    "users",
    metadata,
    _id(Integer),
    Column("login_id", String(64), nullable=False, unique=True),
    Column("email", String(254), nullable=False),
    Column("mobile", String(15)),
    Column("language", String(2), nullable=False, server_default="en"),
    Column("role", String(16), nullable=False, server_default="admin"),
    Column("active", Boolean, nullable=False, server_default=text("1")),
    Column("last_login_at", Timestamp()),
    Column("created_by", String(64)),
    _created(),
    _updated(),
    CheckConstraint("role IN ('admin','superadmin','auditor')", name="role"),
    CheckConstraint("language IN ('en','bn')", name="language"),
    **TABLE_ARGS,
)
"""Who may use the portal. No password column, ever: Mobiquity checks credentials."""

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    _stamped("occurred_at"),
    Column("actor", String(64)),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False, server_default="ok"),
    Column("target_type", String(32)),
    Column("target_id", String(64)),
    Column("ip", String(64)),
    Column("device_id", String(64)),
    Column("details", Text),
    Index(None, "occurred_at"),
    Index(None, "actor", "occurred_at"),
    Index(None, "action", "occurred_at"),
    Index(None, "target_type", "target_id"),
    **TABLE_ARGS,
)
"""Append-only (triggers refuse UPDATE and DELETE): who did what, when, from where."""

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("public_id", String(16, collation="utf8mb4_bin"), nullable=False, unique=True),
    Column(
        "login_id",
        String(64),
        ForeignKey("users.login_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_sha256", String(64, collation="utf8mb4_bin"), nullable=False),
    _created(),
    Column("expires_at", Timestamp(), nullable=False),
    Column("last_used_at", Timestamp()),
    Column("last_used_ip", String(64)),
    Column("revoked_at", Timestamp()),
    Column("revoked_by", String(64)),
    Column("revoked_reason", String(16)),
    CheckConstraint("role IN ('admin','superadmin','auditor')", name="role"),
    CheckConstraint(
        "revoked_reason IN ('owner','superadmin','user_disabled')", name="revoked_reason"
    ),
    Index(None, "login_id", "id"),
    **TABLE_ARGS,
)
"""API tokens of machine clients (``bbp_portal.api_tokens``): each belongs to a registered
user, carries at most that user's role, expires within 30 days. The secret is never stored:
``secret_sha256`` is the SHA-256 of its high-entropy part, ``public_id`` finds the row.
Removing the user removes its tokens; disabling it revokes them (``revoked_reason``)."""

# --------------------------------------------------------------------------- catalogue

billers = Table(
    "billers",
    metadata,
    _id(Integer),
    Column("utility_code", String(16), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("receiver_wallet", String(15), nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("biller_code", String(32), nullable=False),
    Column("pays_service_charge", Boolean, nullable=False, server_default=text("0")),
    Column("supports_fetch", Boolean, nullable=False, server_default=text("1")),
    Column("active", Boolean, nullable=False, server_default=text("1")),
    _created(),
    _updated(),
    **TABLE_ARGS,
)
"""Utilities we fetch and pay; each biller's receiver wallet, productId and billerCode."""

account_groups = Table(
    "account_groups",
    metadata,
    _id(Integer),
    Column("name", String(80), nullable=False, unique=True),
    _created(),
    **TABLE_ARGS,
)

bill_accounts = Table(
    "bill_accounts",
    metadata,
    _id(),
    Column("utility_code", String(16), ForeignKey("billers.utility_code"), nullable=False),
    Column("consumer_id", String(64), nullable=False),
    Column("mobile", String(15), nullable=False),
    Column("label", String(120), nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default=text("1")),
    Column("created_by", String(64)),
    _created(),
    _updated(),
    UniqueConstraint("utility_code", "consumer_id"),
    # Keyset pagination: every sort order is a unique key — (label, id), (consumer_id,
    # utility_code), (utility_code, consumer_id), id — and has its index, with and without the
    # utility filter, so each page is an index range scan however deep it lies.
    Index(None, "consumer_id", "utility_code"),
    Index(None, "label", "id"),
    Index(None, "utility_code", "id"),
    Index(None, "utility_code", "label", "id"),
    Index(None, "active", "id"),
    **TABLE_ARGS,
)
"""A utility account whose bills we fetch and pay.

``consumer_id`` is what Mobiquity takes (and echoes as ``account_no``). Unique per utility,
compared case-insensitively (the collation), as the bulk upload's duplicate check does."""

bill_account_groups = Table(
    "bill_account_groups",
    metadata,
    Column(
        "bill_account_id",
        BigInteger,
        ForeignKey("bill_accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "group_id", Integer, ForeignKey("account_groups.id", ondelete="CASCADE"), primary_key=True
    ),
    Index(None, "group_id", "bill_account_id"),
    **TABLE_ARGS,
)

account_uploads = Table(
    "account_uploads",
    metadata,
    _id(),
    Column("created_by", String(64), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("file_format", String(4), nullable=False),
    Column("file_size", Integer, nullable=False),
    Column("state", String(10), nullable=False, server_default="validated"),
    Column("total_rows", Integer, nullable=False, server_default="0"),
    Column("valid_rows", Integer, nullable=False, server_default="0"),
    Column("error_rows", Integer, nullable=False, server_default="0"),
    Column("error_count", Integer, nullable=False, server_default="0"),
    Column("imported_rows", Integer),
    _created(),
    Column("expires_at", Timestamp(), nullable=False),
    Column("finished_at", Timestamp()),
    CheckConstraint("file_format IN ('csv','xlsx')", name="file_format"),
    CheckConstraint("state IN ('validated','imported','discarded')", name="state"),
    Index(None, "created_by", "id"),
    Index(None, "expires_at"),
    **TABLE_ARGS,
)
"""A bulk upload of bill accounts between "validate" and "import": the report the admin saw
is exactly what the import stores. Bound to its uploader; dropped after ``expires_at``."""

account_upload_rows = Table(
    "account_upload_rows",
    metadata,
    Column(
        "upload_id",
        BigInteger,
        ForeignKey("account_uploads.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("valid", Boolean, nullable=False),
    Column("utility_code", String(16), nullable=False, server_default=""),
    Column("consumer_id", String(64), nullable=False, server_default=""),
    Column("mobile", String(15), nullable=False, server_default=""),
    Column("label", String(120), nullable=False, server_default=""),
    Column("group_ids", String(500), nullable=False, server_default=""),
    **TABLE_ARGS,
)
"""One data row of an upload, normalised (``group_ids``: comma-separated ids)."""

account_upload_errors = Table(
    "account_upload_errors",
    metadata,
    _id(),
    Column(
        "upload_id",
        BigInteger,
        ForeignKey("account_uploads.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("line", Integer, nullable=False),
    Column("column_letter", String(3), nullable=False, server_default=""),
    Column("column_name", String(32), nullable=False, server_default=""),
    Column("code", String(32), nullable=False),
    Column("message", String(255), nullable=False),
    Column("value", String(255), nullable=False, server_default=""),
    Index(None, "upload_id", "line", "id"),
    **TABLE_ARGS,
)
"""Every problem an upload's validation found, by line and column (the per-row report)."""

# --------------------------------------------------------------------------- requests

bulk_requests = Table(
    "bulk_requests",
    metadata,
    _id(),
    Column("kind", String(8), nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("selection", String(500), nullable=False, server_default=""),
    Column("idempotency_key", String(64), unique=True),
    Column("total_items", Integer, nullable=False, server_default="0"),
    Column("total_amount", Money),
    Column("paused_reason", String(255)),
    Column("paused_by", String(64)),
    Column("approved_by", String(64)),
    Column("approved_at", Timestamp()),
    Column("approval_comment", String(500)),
    # Why a payment request waits for approval (bbp_common.core.domain.approvals), e.g.
    # "request_limit,daily_limit"; NULL when it did not have to.
    Column("approval_reason", String(64)),
    Column("cancelled_by", String(64)),
    # The portal request's correlation id: stamped on every command of this request.
    Column("correlation_id", String(64)),
    # A scheduled payment request: when it starts (its first payment is due), and — when
    # each payment goes some days before its bill's due date — how many.
    Column("start_at", Timestamp()),
    Column("days_before_due", SmallInteger),
    # A request made from another: a fetch that fetches a scheduled payment request's bills
    # again at their due time ('refetch'), or a "pay again" of a finished one ('pay_again':
    # its fetch request, then the new payment request).
    Column("source_request_id", BigInteger, ForeignKey("bulk_requests.id")),
    Column("origin", String(12)),
    _created(),
    Column("started_at", Timestamp()),
    Column("finished_at", Timestamp()),
    _updated(),
    CheckConstraint("kind IN ('fetch','payment')", name="kind"),
    CheckConstraint(
        "state IN ('awaiting_approval','scheduled','rejected','queued','running','paused',"
        "'enquiring','finished','cancelled')",
        name="state",
    ),
    CheckConstraint("origin IS NULL OR origin IN ('refetch','pay_again')", name="origin"),
    Index(None, "state", "id"),
    Index(None, "kind", "id"),
    Index(None, "created_by", "id"),
    # A maker's payment requests of one day (the daily approval limit).
    Index(None, "created_by", "created_at"),
    **TABLE_ARGS,
)
"""A bulk fetch or payment request: one row, many items (fetch_items or payments)."""

maker_days = Table(
    "maker_days",
    metadata,
    Column("maker", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("requests", Integer, nullable=False, server_default="0"),
    _created(),
    _updated(),
    **TABLE_ARGS,
)
"""One row per maker and Asia/Dhaka day (``bbp_common.core.stores.maker_days``): creating a
payment request locks it (``FOR UPDATE``) before summing the maker's day, so two requests
made at once are judged one after the other against the daily approval limit.
``requests``: the payment requests the maker created that day."""

request_tallies = Table(
    "request_tallies",
    metadata,
    Column("request_id", BigInteger, ForeignKey("bulk_requests.id"), primary_key=True),
    Column("bucket", String(16), primary_key=True),
    Column("shard", SmallInteger, primary_key=True, server_default="0"),
    Column("item_count", Integer, nullable=False, server_default="0"),
    Column("amount", Numeric(16, 2), nullable=False, server_default="0"),
    **TABLE_ARGS,
)
"""Items (and amounts) per state of a request, kept in the same transaction as each change,
so the request page never counts a million rows; sharded (see ``bbp_common.core.tallies``)."""

fetch_items = Table(
    "fetch_items",
    metadata,
    _id(),
    Column("request_id", BigInteger, ForeignKey("bulk_requests.id"), nullable=False),
    Column("bill_account_id", BigInteger, ForeignKey("bill_accounts.id"), nullable=False),
    Column("utility_code", String(16), nullable=False),
    Column("consumer_id", String(64), nullable=False),
    Column("mobile", String(15), nullable=False),
    Column("state", String(12), nullable=False, server_default="queued"),
    Column("outcome", String(12)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Timestamp()),
    Column("dispatched_at", Timestamp()),
    Column("completed_at", Timestamp()),
    Column("bill_count", Integer),
    Column("bills_amount", Money),
    Column("error_code", String(64)),
    Column("error_message", String(500)),
    CheckConstraint("state IN ('queued','dispatched','done','cancelled')", name="state"),
    CheckConstraint("outcome IS NULL OR outcome IN ('bills','no_bills','failed')", name="outcome"),
    Index(None, "request_id", "state", "id"),
    Index(None, "request_id", "outcome", "id"),
    Index(None, "state", "dispatched_at"),
    Index(None, "bill_account_id", "completed_at"),
    **TABLE_ARGS,
)
"""One account of a fetch request.

queued → dispatched → done (outcome bills | no_bills | failed), or cancelled."""

bills = Table(
    "bills",
    metadata,
    _id(),
    Column("fetch_item_id", BigInteger, ForeignKey("fetch_items.id"), nullable=False),
    Column("bill_account_id", BigInteger, ForeignKey("bill_accounts.id"), nullable=False),
    Column("utility_code", String(16), nullable=False),
    Column("consumer_id", String(64), nullable=False),
    Column("bill_number", String(64), nullable=False),
    Column("due_date", Date),
    Column("amount", Money, nullable=False),
    Column("service_charge", Money, nullable=False, server_default="0"),
    Column("detail", Text),
    Column("fetched_at", Timestamp(), nullable=False),
    UniqueConstraint("fetch_item_id", "bill_number"),
    Index(None, "bill_account_id", "fetched_at"),
    Index(None, "utility_code", "consumer_id", "bill_number"),
    Index(None, "due_date"),
    Index(None, "consumer_id"),
    **TABLE_ARGS,
)
"""A pending bill as Mobiquity reported it at ``fetched_at`` (amounts exactly as given)."""

bill_selections = Table(
    "bill_selections",
    metadata,
    Column("login_id", String(64), primary_key=True),
    Column(
        "bill_id",
        BigInteger,
        ForeignKey("bills.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("utility_code", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("service_charge", Money, nullable=False),
    _stamped("added_at"),
    **TABLE_ARGS,
)
"""The bills a person ticked on the pending page (one selection per person, kept across
pages and filters until they pay it or clear it): the server-side selection behind "select
all matching" and the running count and total. Not payment state: a row says only "ticked".
The bill's biller, amount and reported service charge are copied in (a bill row never
changes), so the running total reads the person's rows alone, by the primary key."""

# --------------------------------------------------------------------------- payments

PAYMENT_STATES = (
    "scheduled",
    "queued",
    "dispatched",
    "sending",
    "posted",
    "succeeded",
    "failed",
    "ambiguous",
    "uncleared",
    "cancelled",
    "unsent",
)

payments = Table(
    "payments",
    metadata,
    _id(),
    Column("request_id", BigInteger, ForeignKey("bulk_requests.id"), nullable=False),
    Column("bill_id", BigInteger, ForeignKey("bills.id"), nullable=False),
    Column("reference_id", String(20, collation="utf8mb4_bin"), nullable=False, unique=True),
    Column("bill_account_id", BigInteger, ForeignKey("bill_accounts.id"), nullable=False),
    Column("utility_code", String(16), nullable=False),
    Column("consumer_id", String(64), nullable=False),
    Column("bill_number", String(64), nullable=False),
    Column("due_date", Date),
    Column("amount", Money, nullable=False),
    Column("service_charge", Money, nullable=False, server_default="0"),
    Column("total", Money, nullable=False),
    Column("state", String(12), nullable=False, server_default="queued"),
    Column("dispatch_order", Integer, nullable=False, server_default="0"),
    Column("live_bill_key", String(200, collation="utf8mb4_bin"), unique=True),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("returns", Integer, nullable=False, server_default="0"),
    Column("dispatched_at", Timestamp()),
    Column("deadline_at", Timestamp()),
    Column("sending_at", Timestamp()),
    Column("send_by_at", Timestamp()),
    Column("answer_by_at", Timestamp()),
    Column("sent_by", String(128)),
    Column("answered_at", Timestamp()),
    Column("order_id", String(64)),
    Column("service_request_id", String(64)),
    Column("order_status", String(32)),
    Column("error_code", String(64)),
    Column("error_detail_code", String(64)),
    Column("error_message", String(500)),
    Column("reason", String(255)),
    Column("failure", String(16)),
    Column("enquiry_count", Integer, nullable=False, server_default="0"),
    Column("enquiry_due_at", Timestamp()),
    Column("enquiry_sent_at", Timestamp()),
    Column("enquiry_total", SmallInteger),
    Column("check_requested_at", Timestamp()),
    Column("check_requested_by", String(64)),
    Column("check_resume_at", Timestamp()),
    Column("check_outcome", String(16)),
    Column("check_answered_at", Timestamp()),
    Column("resolved_by", String(64)),
    Column("resolved_at", Timestamp()),
    Column("resolution_comment", String(500)),
    # A scheduled payment: when it becomes due, where it stands (``Hold``: due, refetching,
    # changed; NULL in every other state), the fetch request that fetches its bill again, and
    # the total it had before that fetch found another amount.
    Column("due_at", Timestamp()),
    Column("hold", String(10)),
    Column("refetch_request_id", BigInteger, ForeignKey("bulk_requests.id")),
    Column("previous_total", Money),
    _created(),
    _updated(),
    CheckConstraint("state IN ('" + "','".join(PAYMENT_STATES) + "')", name="state"),
    CheckConstraint("total > 0", name="total_positive"),
    CheckConstraint("hold IS NULL OR hold IN ('due','refetching','changed')", name="hold"),
    Index(None, "request_id", "state", "dispatch_order"),
    Index(None, "state", "enquiry_due_at"),
    Index(None, "state", "answer_by_at"),
    Index(None, "state", "deadline_at"),
    Index(None, "order_id"),
    Index(None, "consumer_id"),
    Index(None, "bill_number"),
    # The scheduler's starter: payments due now, and those whose bill is being fetched again.
    # Neither column changes on the hot path, so state moves never touch this index.
    Index(None, "hold", "due_at"),
    **TABLE_ARGS,
)
"""One bill to pay, with our unique reference id. ``live_bill_key`` is
``utility|consumer|bill_number`` while the payment is live and NULL once ``failed``,
``cancelled`` or ``unsent``: its unique index is what makes a bill payable by one live payment
only. ``attempt`` numbers the dispatches (claims and results must match it); ``returns``
counts the times it provably never left and went back to the queue; the claim writes
``send_by_at`` (never sent later) and ``answer_by_at`` (send-by + the client's timeouts);
``failure`` says who made it failed (``bbp_common.core.domain.payments.Failure``).
``enquiry_total`` is how many enquiries the scheduler's schedule holds (written with each
enquiry's bookkeeping, for the pages' "2 of 5"); ``check_*`` is a person's "check now": one
extra enquiry, not counted among them (``check_requested_at`` set while it is asked for or
out; ``check_resume_at`` the regular enquiry's due time it displaced) and its answer.
``due_at``/``hold``/``refetch_request_id``/``previous_total``: a ``scheduled`` payment
(``bbp_common.core.domain.schedules``). Only ``bbp_common.core.stores.payments`` writes this
table."""

payment_events = Table(
    "payment_events",
    metadata,
    _id(),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    Column("reference_id", String(20, collation="utf8mb4_bin"), nullable=False),
    Column("from_state", String(12)),
    Column("to_state", String(12), nullable=False),
    Column("cause", String(255), nullable=False),
    Column("actor", String(128), nullable=False),
    _stamped("occurred_at"),
    Index(None, "payment_id", "id"),
    Index(None, "reference_id"),
    **TABLE_ARGS,
)
"""Every state change of a payment: reference id, time and cause (the payments' audit trail)."""

request_events = Table(
    "request_events",
    metadata,
    _id(),
    Column("request_id", BigInteger, ForeignKey("bulk_requests.id"), nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("cause", String(255), nullable=False),
    Column("actor", String(128), nullable=False),
    _stamped("occurred_at"),
    Index(None, "request_id", "id"),
    **TABLE_ARGS,
)
"""Every state change of a bulk request (written by ``bbp_common.core.stores.requests``)."""

payment_anomalies = Table(
    "payment_anomalies",
    metadata,
    _id(),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    Column("reference_id", String(20, collation="utf8mb4_bin"), nullable=False),
    Column("state_at_receipt", String(12), nullable=False),
    Column("result_kind", String(32), nullable=False),
    Column("result", Text, nullable=False),
    _stamped("received_at"),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", Timestamp()),
    Column("acknowledgement", String(500)),
    Index(None, "acknowledged_at", "id"),
    Index(None, "payment_id"),
    **TABLE_ARGS,
)
"""Results that disagree with a payment's final state: kept for a person, never dropped."""

bulk_resolutions = Table(
    "bulk_resolutions",
    metadata,
    _id(),
    Column("idempotency_key", String(64, collation="utf8mb4_bin"), nullable=False, unique=True),
    Column("outcome", String(8), nullable=False),
    Column("comment", String(500), nullable=False),
    Column("reconciliation_id", BigInteger),
    Column("payment_count", Integer, nullable=False),
    Column("total", Money, nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_by", String(64), nullable=False),
    _created(),
    Column("decided_by", String(64)),
    Column("decided_at", Timestamp()),
    Column("decision_comment", String(500)),
    Column("resolved_count", Integer),
    CheckConstraint("outcome IN ('paid','not_paid')", name="outcome"),
    CheckConstraint("state IN ('awaiting_approval','applied','rejected')", name="state"),
    Index(None, "state", "id"),
    **TABLE_ARGS,
)
"""A superadmin's resolution of many uncleared payments at once, with one comment
(``bbp_portal.payments.resolutions``). Above ``BBP_BULK_RESOLVE_SECOND_APPROVAL_ABOVE`` it
waits (``awaiting_approval``) for another superadmin; the payments change only when it is
``applied``, each through the payment store. ``reconciliation_id``: the reconciliation the
person read the evidence in (carried into each payment's comment and audit entry)."""

bulk_resolution_payments = Table(
    "bulk_resolution_payments",
    metadata,
    Column(
        "resolution_id",
        BigInteger,
        ForeignKey("bulk_resolutions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), primary_key=True),
    Column("reference_id", String(20, collation="utf8mb4_bin"), nullable=False),
    Column("total", Money, nullable=False),
    Column("result", String(24)),
    Index(None, "payment_id"),
    **TABLE_ARGS,
)
"""The payments of a bulk resolution as the person chose them; ``result`` is ``resolved``,
or why one was refused (``not_uncleared``, ``success_unacknowledged``, ``in_pending``), or
NULL while the resolution waits for its second approval."""

wallet_breaker = Table(
    "wallet_breaker",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("state", String(8), nullable=False, server_default="probing"),
    Column("opened_at", Timestamp()),
    Column("opened_reason", String(255)),
    Column("opened_by_reference", String(20)),
    Column("closed_by", String(64)),
    Column("closed_at", Timestamp()),
    CheckConstraint("state IN ('open','closed','probing')", name="state"),
    **TABLE_ARGS,
)
"""The paying wallet's breaker: a wrong MPIN must not lock the wallet.

``open``: no payment may be claimed (the first wallet-authentication failure opens it; only
a superadmin closes it). ``probing``: one payment at a time, until one answer proves the
wallet authenticates (a new deployment and a closed breaker start here). ``closed``: free."""

dispatches = Table(
    "dispatches",
    metadata,
    _id(),
    Column("dispatched_at", Timestamp(), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("request_id", BigInteger),
    Column("fencing_token", BigInteger, nullable=False),
    Index(None, "dispatched_at"),
    **TABLE_ARGS,
)
"""Every command the scheduler sent toward Mobiquity (fetch, pay, enquiry): the pacing record."""

# --------------------------------------------------------------------------- notifications

NOTIFICATION_STATES = ("pending", "sent", "failed", "dead")

notifications = Table(
    "notifications",
    metadata,
    _id(),
    Column("notification_id", String(36), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("language", String(2), nullable=False, server_default="en"),
    Column("template", String(64), nullable=False),
    Column("params", MEDIUMTEXT, nullable=False),
    Column("request_id", BigInteger),
    Column("state", String(8), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    _created(),
    Column("sent_at", Timestamp()),
    Column("resent_by", String(64)),
    Column("resent_at", Timestamp()),
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("command_id", String(64)),
    Column("next_attempt_at", Timestamp()),
    _updated(),
    CheckConstraint("channel IN ('email','sms')", name="channel"),
    CheckConstraint("language IN ('en','bn')", name="language"),
    CheckConstraint("state IN ('" + "','".join(NOTIFICATION_STATES) + "')", name="state"),
    Index(None, "state", "id"),
    Index(None, "request_id"),
    **TABLE_ARGS,
)
"""One e-mail or SMS to one recipient (``bbp_common.core.notifications``): written with its
``command.notify`` outbox row in the business change's transaction; the scheduler records
each delivery result the communicator reports. ``params`` is a JSON object of what the
template shows — never a secret. ``command_id`` is the message id of the current
``command.notify`` (a retry or a resend writes a new one; older copies are only acknowledged),
``retries`` the retries scheduled since it was queued or sent again, ``next_attempt_at`` when
the next one is due."""

notified_payments = Table(
    "notified_payments",
    metadata,
    Column("payment_id", BigInteger, ForeignKey("payments.id"), primary_key=True),
    Column("purpose", String(16), primary_key=True),
    Column("notification_id", String(36)),
    _created(),
    **TABLE_ARGS,
)
"""Which payments a notification already told about (``attention``: uncleared; ``submitted``:
the payment-submitted SMS), so each payment is reported once and uncleared ones are batched
per request."""

# --------------------------------------------------------------------------- reconciliation

#: The classes a reconciliation puts each reference id in (``bbp_portal.reconcile``).
RECONCILIATION_CLASSES = (
    "matched",
    "amount_differs",
    "not_ours",
    "missing_from_report",
    "double_payment_alarm",
    "definitive_for_open",
    "failed_in_report",
    "pending_in_report",
)

reconciliations = Table(
    "reconciliations",
    metadata,
    _id(),
    Column("uploaded_by", String(64), nullable=False),
    _stamped("uploaded_at"),
    Column("file_name", String(255), nullable=False),
    Column("file_format", String(4), nullable=False),
    Column("mapping", Text, nullable=False),
    Column("report_lines", Integer, nullable=False, server_default="0"),
    Column("period_from", Timestamp()),
    Column("period_to", Timestamp()),
    Column("counts", Text, nullable=False),
    Column("duration_ms", Integer, nullable=False, server_default="0"),
    CheckConstraint("file_format IN ('csv','xlsx')", name="file_format"),
    Index(None, "uploaded_at"),
    **TABLE_ARGS,
)
"""One uploaded Mobiquity transaction report and what matching it found: ``mapping`` is the
column mapping used (JSON), ``period_from``/``period_to`` the window (UTC) in which a posted
or succeeded payment of ours must appear in the report, ``counts`` the items per class
(JSON). The file itself is not kept: its lines are matched in a temporary table."""

reconciliation_items = Table(
    "reconciliation_items",
    metadata,
    _id(),
    Column("reconciliation_id", BigInteger, ForeignKey("reconciliations.id"), nullable=False),
    Column("class", String(24), nullable=False),
    Column("reference_id", String(64, collation="utf8mb4_bin")),
    Column("payment_id", BigInteger, ForeignKey("payments.id")),
    Column("line_no", Integer),
    Column("report_lines", Integer, nullable=False, server_default="0"),
    Column("transaction_id", String(64)),
    Column("report_status", String(8)),
    Column("report_amount", Money),
    Column("report_at", Timestamp()),
    Column("our_state", String(12)),
    Column("our_amount", Money),
    Column("outcome", String(8)),
    CheckConstraint("class IN ('" + "','".join(RECONCILIATION_CLASSES) + "')", name="class"),
    CheckConstraint(
        "report_status IS NULL OR report_status IN ('paid','failed','pending')",
        name="report_status",
    ),
    CheckConstraint("outcome IS NULL OR outcome IN ('paid','not_paid')", name="outcome"),
    Index(None, "reconciliation_id", "class", "id"),
    Index(None, "payment_id"),
    **TABLE_ARGS,
)
"""One reference id of a reconciliation, in its class: the report's side (its first line,
how many lines, Mobiquity's transaction id, what the lines say — ``paid`` if any line is
paid, else ``pending``, else ``failed`` — the paid amount, the time in the report's own time
zone) and ours (the payment, its state and total when matched). ``outcome`` is what a
definitive line says of an open payment (``definitive_for_open`` only): a hint for the person
who resolves it, never applied by itself."""

double_payment_alarms = Table(
    "double_payment_alarms",
    metadata,
    _id(),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    Column("reconciliation_id", BigInteger, ForeignKey("reconciliations.id")),
    _stamped("raised_at"),
    Column("cleared_at", Timestamp()),
    Column("cleared_by", String(64)),
    Column("comment", String(500)),
    Index(None, "payment_id", "cleared_at"),
    Index(None, "cleared_at", "id"),
    **TABLE_ARGS,
)
"""A payment of ours that failed or was never sent, which Mobiquity's report shows paid (or
pending): its bill may have been paid, so "pay again" refuses it until a superadmin clears
the alarm with a comment. Written only by ``bbp_common.core.stores.alarms``."""
