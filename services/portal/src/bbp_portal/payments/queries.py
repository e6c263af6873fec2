"""Reading payments: a request's payments, one payment, search, a request's history; the
keyset paging the other readers share (``pending``: pending bills and the confirmation;
``attention``: needs-attention and the wallet breaker; ``export``: the results file).

Every list is a keyset page read from an index that holds its order, and every lookup goes
through an index: search by reference id (unique), ``orderId``, consumer id or bill number
(each indexed on ``payments``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from bbp_common.core.domain.payments import PaymentState, is_reference_id
from bbp_common.platform.db.tables import (
    audit_log,
    bills,
    bulk_requests,
    payment_anomalies,
    payment_events,
    payments,
)
from bbp_portal.cursor import Cursor, decode_cursor
from bbp_portal.service_errors import NotFound, ValidationFailed

P = payments.c
B = bills.c
STATES = tuple(s.value for s in PaymentState)
MAX_PAGE = 200
SEARCH_LIMIT = 100
#: The buckets a payment request's page shows, in this order: the states, with dispatched
#: and sending as one (in flight).
PAYMENT_BUCKETS = tuple("in_flight" if s == "dispatched" else s for s in STATES if s != "sending")


def mask_label(label: str) -> str:
    """The paying wallet's label as shown: any run of 6+ digits keeps only its last three
    (``GP wallet 01711000123`` → ``GP wallet ********123``), so even a careless setting never
    puts the whole wallet number on a page."""
    return re.sub(r"\d{6,}", lambda m: "*" * (len(m[0]) - 3) + m[0][-3:], label)


def page_limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next: str | None = None
    prev: str | None = None
    limit: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


def keyset(
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


PAYMENT_COLUMNS = (
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
    P.failure,  # why it failed, in words (bbp_portal.words)
    P.enquiry_count,
    P.enquiry_total,
    P.enquiry_due_at,
    P.enquiry_sent_at,
    P.check_requested_at,
    P.check_requested_by,
    P.check_outcome,
    P.check_answered_at,
    P.sending_at,
    P.answered_at,
    P.resolved_by,
    P.resolved_at,
    P.resolution_comment,
    P.due_at,
    P.hold,
    P.previous_total,
    P.refetch_request_id,
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
    limit = page_limit(limit)
    where: list[ColumnElement[bool]] = [P.request_id == request_id]
    if payment_filter.state:
        where.append(P.state == payment_filter.state)
    if payment_filter.q.strip():
        where.append(_one_of(payment_filter.q))
    query = select(*PAYMENT_COLUMNS).where(*where)
    rows, nxt, prev = keyset(conn, query, P.dispatch_order, "position", cursor, limit)
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
        select(*PAYMENT_COLUMNS, P.bill_id, P.created_at).where(P.id == payment_id)
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
            select(*PAYMENT_COLUMNS).where(arm).order_by(P.id.desc()).limit(limit)
        ):
            found.setdefault(row.id, row)
    return sorted(found.values(), key=lambda r: r.id, reverse=True)[:limit]


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


# --------------------------------------------------------------------------- scheduled payments


@dataclass(frozen=True)
class Scheduled:
    """Where a scheduled payment request's waiting payments stand: how many wait for their
    time, are being fetched again, or wait for a person (their amount changed, listed), and
    when the next one is due. Read through ``(hold, due_at)``: only scheduled payments carry
    a hold."""

    waiting: int
    fetching: int
    changed: list[Any]
    next_due: Any

    @property
    def changed_total(self) -> Any:
        return sum((row.total for row in self.changed), 0)


#: The changed payments a page lists (a person decides about them all at once).
CHANGED_SHOWN = 200


def scheduled(conn: Connection, request_id: int, waiting_in_all: int) -> Scheduled:
    """``waiting_in_all``: the request's ``scheduled`` tally (every payment still scheduled)."""
    changed = conn.execute(
        select(P.id, P.reference_id, P.consumer_id, P.bill_number, P.previous_total, P.total)
        .where(P.hold == "changed", P.request_id == request_id)
        .order_by(P.id)
        .limit(CHANGED_SHOWN)
    ).all()
    fetching = int(
        conn.execute(
            select(func.count()).where(P.hold == "refetching", P.request_id == request_id)
        ).scalar_one()
    )
    next_due = conn.execute(
        select(P.due_at)
        .where(P.hold == "due", P.request_id == request_id)
        .order_by(P.due_at)
        .limit(1)
    ).scalar()
    waiting = max(0, waiting_in_all - fetching - len(changed))
    return Scheduled(waiting, fetching, list(changed), next_due)


__all__ = [
    "CHANGED_SHOWN",
    "MAX_PAGE",
    "PAYMENT_BUCKETS",
    "PAYMENT_COLUMNS",
    "SEARCH_LIMIT",
    "STATES",
    "Page",
    "PaymentDetail",
    "PaymentFilter",
    "Scheduled",
    "get_payment",
    "history",
    "keyset",
    "list_payments",
    "mask_label",
    "page_limit",
    "search",
]
