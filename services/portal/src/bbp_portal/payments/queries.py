"""Reading payments: pending bills, the confirmation summary, a request's payments, one
payment, search, needs-attention, a request's history, the export.

Every list is a keyset page read from an index that holds its order, and every lookup goes
through an index: search by reference id (unique), ``orderId``, consumer id or bill number
(each indexed on ``payments``); needs-attention through ``payments (state, …)``,
``bulk_requests (state, id)`` and ``payment_anomalies (acknowledged_at, id)``, so its cost
follows the number of problems, not the number of payments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, select

from bbp_common.db.tables import (
    account_groups,
    audit_log,
    bill_account_groups,
    bill_accounts,
    billers,
    bills,
    bulk_requests,
    fetch_items,
    payment_anomalies,
    payment_events,
    payments,
    wallet_breaker,
)
from bbp_common.domain.payments import PaymentState, is_reference_id
from bbp_common.payment_store import BREAKER
from bbp_portal.cursor import Cursor, decode_cursor
from bbp_portal.payments.pending import examine, latest_successful_fetch
from bbp_portal.service_errors import NotFound, ValidationFailed

P = payments.c
B = bills.c
STATES = tuple(s.value for s in PaymentState)
MAX_PAGE = 200
SEARCH_LIMIT = 100
#: The buckets a payment request's page shows, in this order.
PAYMENT_BUCKETS = (
    "queued",
    "in_flight",
    "posted",
    "succeeded",
    "failed",
    "ambiguous",
    "uncleared",
    "cancelled",
)


def mask_label(label: str) -> str:
    """The paying wallet's label as shown: any run of 6+ digits keeps only its last three
    (``GP wallet 01711000123`` → ``GP wallet ********123``), so even a careless setting never
    puts the whole wallet number on a page."""
    return re.sub(r"\d{6,}", lambda m: "*" * (len(m[0]) - 3) + m[0][-3:], label)


def _page_limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next: str | None = None
    prev: str | None = None
    limit: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


def _keyset(
    conn: Connection,
    query: Any,
    column: Any,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None, str | None]:
    """One ascending keyset page over ``column`` (unique within the query): rows, next, prev."""
    position = decode_cursor(cursor, key_types={sort: (int,)}) if cursor else None
    forward = position is None or position.direction != "before"
    if position is not None and position.direction in ("after", "before"):
        query = query.where(column > position.key[0] if forward else column < position.key[0])
    query = query.order_by(column.asc() if forward else column.desc()).limit(limit + 1)
    rows = list(conn.execute(query))
    more, rows = len(rows) > limit, rows[:limit]
    if not forward:
        rows.reverse()
    key = column.key
    has_next = more if forward else bool(rows)
    has_prev = (position is not None and bool(rows)) if forward else more
    return (
        rows,
        Cursor(sort, "asc", "after", (getattr(rows[-1], key),)).encode()
        if rows and has_next
        else None,
        Cursor(sort, "asc", "before", (getattr(rows[0], key),)).encode()
        if rows and has_prev
        else None,
    )


# --------------------------------------------------------------------------- pending bills


@dataclass(frozen=True)
class PendingFilter:
    """Which pending bills: a biller, a group, due between two days, found by one fetch."""

    utility: str = ""
    group_id: int | None = None
    due_from: date | None = None
    due_to: date | None = None
    fetch_request_id: int | None = None

    def __post_init__(self) -> None:
        if self.due_from and self.due_to and self.due_from > self.due_to:
            raise ValidationFailed("invalid", "The first due day comes after the last.", "due_from")

    def as_dict(self) -> dict[str, Any]:
        return {
            "utility": self.utility,
            "group_id": self.group_id,
            "due_from": self.due_from.isoformat() if self.due_from else None,
            "due_to": self.due_to.isoformat() if self.due_to else None,
            "request": self.fetch_request_id,
        }

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.as_dict().items() if v not in (None, "")]
        return "pending bills" + (" where " + ", ".join(parts) if parts else "")


def _live_key_of_bill() -> Any:
    # The key as ``live_bill_key`` writes it, in its binary collation so the comparison is
    # exact and the unique index on ``payments.live_bill_key`` is used.
    return func.concat(B.utility_code, "|", B.consumer_id, "|", B.bill_number).collate(
        "utf8mb4_bin"
    )


def _pending_conditions(pending: PendingFilter) -> list[ColumnElement[bool]]:
    """Bills of each account's latest successful fetch that are in no live payment."""
    latest = latest_successful_fetch(B.bill_account_id)
    live = select(literal(1)).where(P.live_bill_key == _live_key_of_bill()).exists()
    where: list[ColumnElement[bool]] = [B.fetch_item_id == latest, ~live]
    if pending.utility:
        where.append(B.utility_code == pending.utility.strip().upper())
    if pending.group_id is not None:
        where.append(
            B.bill_account_id.in_(
                select(bill_account_groups.c.bill_account_id).where(
                    bill_account_groups.c.group_id == pending.group_id
                )
            )
        )
    if pending.due_from:
        where.append(B.due_date >= pending.due_from)
    if pending.due_to:
        where.append(B.due_date <= pending.due_to)
    if pending.fetch_request_id is not None:
        where.append(
            B.fetch_item_id.in_(
                select(fetch_items.c.id).where(fetch_items.c.request_id == pending.fetch_request_id)
            )
        )
    return where


@dataclass(frozen=True)
class PendingBill:
    id: int
    utility_code: str
    consumer_id: str
    label: str
    bill_number: str
    due_date: date | None
    amount: Decimal
    service_charge: Decimal
    fetched_at: datetime
    stale: bool


def list_pending(
    conn: Connection,
    pending: PendingFilter,
    *,
    max_bill_age: timedelta,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """One page of pending bills in bill id order; each says whether it is too old to pay."""
    limit = _page_limit(limit)
    now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
    query = (
        select(
            B.id,
            B.utility_code,
            B.consumer_id,
            bill_accounts.c.label,
            B.bill_number,
            B.due_date,
            B.amount,
            B.service_charge,
            B.fetched_at,
        )
        .select_from(bills.join(bill_accounts, bill_accounts.c.id == B.bill_account_id))
        .where(*_pending_conditions(pending))
    )
    rows, nxt, prev = _keyset(conn, query, B.id, "id", cursor, limit)
    items = [
        PendingBill(
            r.id,
            r.utility_code,
            r.consumer_id,
            r.label,
            r.bill_number,
            r.due_date,
            r.amount,
            r.service_charge,
            r.fetched_at,
            r.fetched_at < now - max_bill_age,
        )
        for r in rows
    ]
    return Page(items, nxt, prev, limit)


def pending_ids(
    conn: Connection, pending: PendingFilter, cap: int, *, max_bill_age: timedelta | None = None
) -> list[int]:
    """Every pending bill matching — fresh enough to pay when ``max_bill_age`` is given — at
    most ``cap + 1`` (so the caller can tell "too many")."""
    where = _pending_conditions(pending)
    if max_bill_age is not None:
        now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
        where.append(B.fetched_at >= now - max_bill_age)
    return list(conn.execute(select(B.id).where(*where).order_by(B.id).limit(cap + 1)).scalars())


def groups(conn: Connection) -> list[Any]:
    return list(
        conn.execute(
            select(account_groups.c.id, account_groups.c.name).order_by(account_groups.c.name)
        ).all()
    )


# --------------------------------------------------------------------------- confirmation


@dataclass(frozen=True)
class BillerSubtotal:
    utility_code: str
    name: str
    bills: int
    amount: Decimal
    service_charge: Decimal
    total: Decimal


@dataclass(frozen=True)
class Problem:
    bill_id: int
    utility_code: str
    consumer_id: str
    bill_number: str
    problem: str


@dataclass(frozen=True)
class Summary:
    """What the confirm button will create: count, total, subtotals per biller — or why not."""

    bill_ids: list[int]
    count: int
    total: Decimal
    billers: list[BillerSubtotal]
    problems: list[Problem]
    needs_approval: bool

    @property
    def payable(self) -> bool:
        return self.count > 0 and not self.problems


def summarise(
    conn: Connection,
    bill_ids: Sequence[int],
    *,
    max_bill_age: timedelta,
    approval_threshold: Decimal | None,
) -> Summary:
    """The same checks and amounts as creating the request (:func:`examine`), read only."""
    ids = sorted(set(bill_ids))
    found = examine(conn, ids, max_bill_age)
    names = {
        r.utility_code: r.name for r in conn.execute(select(billers.c.utility_code, billers.c.name))
    }
    by_biller: dict[str, list[Any]] = {}
    for row in found.rows:
        if row.id not in found.problems:
            by_biller.setdefault(row.utility_code, []).append(row)
    subtotals = []
    for utility in sorted(by_biller):
        rows = by_biller[utility]
        charge = sum(
            (r.service_charge for r in rows if r.pays_service_charge),
            Decimal("0"),
        )
        amount = sum((r.amount for r in rows), Decimal("0"))
        subtotals.append(
            BillerSubtotal(
                utility, names.get(utility, utility), len(rows), amount, charge, amount + charge
            )
        )
    rows_by_id = {row.id: row for row in found.rows}
    problems = [
        Problem(
            bill_id,
            rows_by_id[bill_id].utility_code if bill_id in rows_by_id else "",
            rows_by_id[bill_id].consumer_id if bill_id in rows_by_id else "",
            rows_by_id[bill_id].bill_number if bill_id in rows_by_id else "",
            problem,
        )
        for bill_id, problem in sorted(found.problems.items())
    ]
    payable_total = sum((s.total for s in subtotals), Decimal("0"))
    count = sum(s.bills for s in subtotals)
    return Summary(
        ids,
        count,
        payable_total,
        subtotals,
        problems,
        approval_threshold is not None and payable_total > approval_threshold,
    )


# --------------------------------------------------------------------------- a request's payments


@dataclass(frozen=True)
class PaymentFilter:
    state: str = ""
    q: str = ""

    def __post_init__(self) -> None:
        if self.state and self.state not in STATES:
            raise ValidationFailed("invalid", f"The state is one of {', '.join(STATES)}.", "state")
        if len(self.q) > 64:
            raise ValidationFailed("invalid", "The search is at most 64 characters.", "q")

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "q": self.q}


_PAYMENT_COLUMNS = (
    P.id,
    P.request_id,
    P.reference_id,
    P.dispatch_order,
    P.utility_code,
    P.consumer_id,
    P.bill_number,
    P.due_date,
    P.amount,
    P.service_charge,
    P.total,
    P.state,
    P.order_id,
    P.service_request_id,
    P.order_status,
    P.error_code,
    P.error_detail_code,
    P.error_message,
    P.reason,
    P.enquiry_count,
    P.sending_at,
    P.answered_at,
    P.resolved_by,
    P.resolved_at,
    P.resolution_comment,
)


def _one_of(q: str) -> ColumnElement[bool]:
    """The payment a search term names: reference id, orderId, consumer id or bill number."""
    text = q.strip()
    if is_reference_id(text.upper()):
        return P.reference_id == text.upper()
    return (P.order_id == text) | (P.consumer_id == text) | (P.bill_number == text)


def list_payments(
    conn: Connection,
    request_id: int,
    payment_filter: PaymentFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """A request's payments in dispatch order (due date, oldest first), keyset on the
    position, read from ``(request_id, state, dispatch_order)`` when a state is chosen."""
    limit = _page_limit(limit)
    where: list[ColumnElement[bool]] = [P.request_id == request_id]
    if payment_filter.state:
        where.append(P.state == payment_filter.state)
    if payment_filter.q.strip():
        where.append(_one_of(payment_filter.q))
    query = select(*_PAYMENT_COLUMNS).where(*where)
    rows, nxt, prev = _keyset(conn, query, P.dispatch_order, "position", cursor, limit)
    return Page(rows, nxt, prev, limit)


# --------------------------------------------------------------------------- one payment


@dataclass(frozen=True)
class PaymentDetail:
    payment: Any
    request: Any
    events: list[Any]
    anomalies: list[Any]


def get_payment(conn: Connection, payment_id: int) -> PaymentDetail:
    row = conn.execute(
        select(*_PAYMENT_COLUMNS, P.bill_id, P.created_at).where(P.id == payment_id)
    ).first()
    if row is None:
        raise NotFound(f"There is no payment {payment_id}.")
    request = conn.execute(
        select(bulk_requests.c.id, bulk_requests.c.state, bulk_requests.c.created_by).where(
            bulk_requests.c.id == row.request_id
        )
    ).one()
    events = conn.execute(
        select(payment_events)
        .where(payment_events.c.payment_id == payment_id)
        .order_by(payment_events.c.id)
    ).all()
    anomalies = conn.execute(
        select(payment_anomalies)
        .where(payment_anomalies.c.payment_id == payment_id)
        .order_by(payment_anomalies.c.id)
    ).all()
    return PaymentDetail(row, request, list(events), list(anomalies))


# --------------------------------------------------------------------------- search


def search(conn: Connection, q: str, *, limit: int = SEARCH_LIMIT) -> list[Any]:
    """Payments across every request named by ``q``: a reference id (exact, case-blind), an
    ``orderId``, a consumer id or a bill number (exact). Each arm reads its own index."""
    text = q.strip()
    if not text:
        return []
    if len(text) > 64:
        raise ValidationFailed("invalid", "The search is at most 64 characters.", "q")
    arms: list[ColumnElement[bool]] = []
    if is_reference_id(text.upper()):
        arms.append(P.reference_id == text.upper())
    arms += [P.order_id == text, P.consumer_id == text, P.bill_number == text]
    found: dict[int, Any] = {}
    for arm in arms:
        for row in conn.execute(
            select(*_PAYMENT_COLUMNS).where(arm).order_by(P.id.desc()).limit(limit)
        ):
            found.setdefault(row.id, row)
    return sorted(found.values(), key=lambda r: r.id, reverse=True)[:limit]


# --------------------------------------------------------------------------- needs attention


@dataclass(frozen=True)
class Breaker:
    state: str
    opened_at: datetime | None
    opened_reason: str | None
    opened_by_reference: str | None
    closed_by: str | None
    closed_at: datetime | None


def breaker(conn: Connection) -> Breaker:
    row = conn.execute(select(wallet_breaker).where(wallet_breaker.c.name == BREAKER)).first()
    if row is None:
        return Breaker("probing", None, None, None, None, None)
    return Breaker(
        row.state,
        row.opened_at,
        row.opened_reason,
        row.opened_by_reference,
        row.closed_by,
        row.closed_at,
    )


@dataclass(frozen=True)
class Attention:
    breaker: Breaker
    troubled: list[dict[str, Any]]
    anomalies: list[Any]
    auto_paused: list[Any]
    paused: list[Any]
    awaiting_approval: list[Any]

    @property
    def empty(self) -> bool:
        return (
            self.breaker.state == "closed"
            and not self.troubled
            and not self.anomalies
            and not self.auto_paused
            and not self.paused
            and not self.awaiting_approval
        )

    def count(self) -> int:
        return (
            (self.breaker.state != "closed")
            + len(self.troubled)
            + len(self.anomalies)
            + len(self.auto_paused)
            + len(self.awaiting_approval)
        )


_REQUEST_BRIEF = (
    bulk_requests.c.id,
    bulk_requests.c.kind,
    bulk_requests.c.state,
    bulk_requests.c.created_by,
    bulk_requests.c.created_at,
    bulk_requests.c.total_items,
    bulk_requests.c.total_amount,
    bulk_requests.c.paused_by,
    bulk_requests.c.paused_reason,
)


def attention(conn: Connection, *, limit: int = 200) -> Attention:
    """Everything a person must look at, each list from an index on its condition."""
    troubled: dict[int, dict[str, Any]] = {}
    for state in ("uncleared", "ambiguous"):
        rows = conn.execute(
            select(P.request_id, func.count().label("n"), func.sum(P.total).label("amount"))
            .where(P.state == state)
            .group_by(P.request_id)
            .order_by(P.request_id.desc())
            .limit(limit)
        ).all()
        for row in rows:
            entry = troubled.setdefault(
                row.request_id,
                {
                    "request_id": row.request_id,
                    "uncleared": 0,
                    "ambiguous": 0,
                    "uncleared_amount": Decimal("0"),
                    "ambiguous_amount": Decimal("0"),
                },
            )
            entry[state] = int(row.n)
            entry[f"{state}_amount"] = row.amount
    anomalies = conn.execute(
        select(
            payment_anomalies.c.id,
            payment_anomalies.c.payment_id,
            payment_anomalies.c.reference_id,
            payment_anomalies.c.state_at_receipt,
            payment_anomalies.c.result_kind,
            payment_anomalies.c.result,
            payment_anomalies.c.received_at,
            P.request_id,
            P.state.label("state_now"),
        )
        .select_from(payment_anomalies.join(payments, P.id == payment_anomalies.c.payment_id))
        .where(payment_anomalies.c.acknowledged_at.is_(None))
        .order_by(payment_anomalies.c.id.desc())
        .limit(limit)
    ).all()
    paused_rows = conn.execute(
        select(*_REQUEST_BRIEF)
        .where(bulk_requests.c.state == "paused")
        .order_by(bulk_requests.c.id.desc())
        .limit(limit)
    ).all()
    waiting = conn.execute(
        select(*_REQUEST_BRIEF)
        .where(bulk_requests.c.state == "awaiting_approval")
        .order_by(bulk_requests.c.id.asc())
        .limit(limit)
    ).all()
    return Attention(
        breaker(conn),
        sorted(troubled.values(), key=lambda e: e["request_id"], reverse=True),
        list(anomalies),
        [r for r in paused_rows if r.paused_by == "system"],
        [r for r in paused_rows if r.paused_by != "system"],
        list(waiting),
    )


# --------------------------------------------------------------------------- history


def history(conn: Connection, request_id: int, *, limit: int = 500) -> list[Any]:
    """What people (and the system) did to the request: creation, approval or rejection,
    pauses (auto-pauses included), resumes, cancellation, resolutions of its payments —
    from the audit log, by ``(target_type, target_id)``."""
    columns = (
        audit_log.c.id,
        audit_log.c.occurred_at,
        audit_log.c.actor,
        audit_log.c.action,
        audit_log.c.outcome,
        audit_log.c.target_type,
        audit_log.c.target_id,
        audit_log.c.details,
    )
    entries = conn.execute(
        select(*columns)
        .where(audit_log.c.target_type == "request", audit_log.c.target_id == str(request_id))
        .order_by(audit_log.c.id)
        .limit(limit)
    ).all()
    resolved_ids = [
        str(i)
        for i in conn.execute(
            select(P.id).where(P.request_id == request_id, P.resolved_by.is_not(None))
        ).scalars()
    ]
    resolved = (
        conn.execute(
            select(*columns)
            .where(audit_log.c.target_type == "payment", audit_log.c.target_id.in_(resolved_ids))
            .limit(limit)
        ).all()
        if resolved_ids
        else []
    )
    return sorted([*entries, *resolved], key=lambda e: e.id)


# --------------------------------------------------------------------------- export


EXPORT_HEADER = (
    "request_id",
    "payment_id",
    "position",
    "reference_id",
    "utility",
    "consumer_id",
    "bill_number",
    "due_date",
    "amount",
    "service_charge",
    "total",
    "state",
    "order_id",
    "service_request_id",
    "order_status",
    "error_code",
    "error_detail_code",
    "mobiquity_message",
    "reason",
    "enquiries",
    "sent_at_utc",
    "answered_at_utc",
    "resolved_by",
    "resolved_at_utc",
    "resolution_comment",
)


def export_rows(
    conn_factory: Any, request_id: int, *, chunk: int = 2000
) -> Iterator[tuple[Any, ...]]:
    """Every payment of the request in dispatch order, in keyset chunks each on a short-lived
    connection (a long download holds no transaction open)."""
    after = -1
    while True:
        with conn_factory() as conn:
            rows = conn.execute(
                select(*_PAYMENT_COLUMNS)
                .where(P.request_id == request_id, P.dispatch_order > after)
                .order_by(P.dispatch_order)
                .limit(chunk)
            ).all()
        if not rows:
            return
        for r in rows:
            yield (
                r.request_id,
                r.id,
                r.dispatch_order + 1,
                r.reference_id,
                r.utility_code,
                r.consumer_id,
                r.bill_number,
                r.due_date,
                r.amount,
                r.service_charge,
                r.total,
                r.state,
                r.order_id,
                r.service_request_id,
                r.order_status,
                r.error_code,
                r.error_detail_code,
                r.error_message,
                r.reason,
                r.enquiry_count,
                r.sending_at,
                r.answered_at,
                r.resolved_by,
                r.resolved_at,
                r.resolution_comment,
            )
        after = rows[-1].dispatch_order


__all__ = [
    "EXPORT_HEADER",
    "PAYMENT_BUCKETS",
    "STATES",
    "Attention",
    "Breaker",
    "Page",
    "PaymentFilter",
    "PendingFilter",
    "Summary",
    "attention",
    "breaker",
    "export_rows",
    "get_payment",
    "groups",
    "history",
    "list_payments",
    "list_pending",
    "mask_label",
    "pending_ids",
    "search",
    "summarise",
]
