"""Which bills can be paid now, and what paying a set of them would do.

Only the bills of each account's latest successful fetch are payable (an older fetch's bill
may have been paid since), and a bill is in at most one live payment. The pending list is a
keyset page in bill id order, filtered by biller, group, due dates, amount and the beginning
of a consumer id; its page is found a batch of bills at a time (``_page_candidates``) so
that tens of thousands of pending bills cost a page what the page shows. ``examine``
(``examining``) runs every check of creating a payment request without writing: the
confirmation page (``summarise``, ``summary``) shows exactly what the confirm button will
create, or why it will refuse; both are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, select

from bbp_common.core.domain.charges import service_charge_paid
from bbp_common.platform.db.tables import (
    account_groups,
    bill_account_groups,
    bill_accounts,
    billers,
    bills,
    fetch_items,
    payments,
)
from bbp_portal.cursor import decode_cursor
from bbp_portal.payments.examining import Examined, examine, latest_successful_fetch
from bbp_portal.payments.queries import Page, keyset, page_limit
from bbp_portal.payments.summary import (
    BillerSubtotal,
    Problem,
    Summary,
    due_moments,
    summarise,
)
from bbp_portal.service_errors import ValidationFailed

P = payments.c
B = bills.c
#: What a person sees of a bill to pay (a list of pending bills, a confirmation).
BILL_COLUMNS = (
    B.id,
    B.utility_code,
    B.consumer_id,
    bill_accounts.c.label,
    B.bill_number,
    B.due_date,
    B.amount,
    B.service_charge,
)


def bill_values(
    row: Any, pays_service_charge: bool
) -> tuple[int, str, str, str, str, date | None, Decimal, Decimal]:
    """A row of :data:`BILL_COLUMNS` as a person sees it: its service charge is what is paid
    with the bill (:func:`service_charge_paid`, the one rule)."""
    return (
        row.id,
        row.utility_code,
        row.consumer_id,
        row.label,
        row.bill_number,
        row.due_date,
        row.amount,
        service_charge_paid(row.service_charge, pays_service_charge),
    )


# --------------------------------------------------------------------------- pending bills


#: The page sizes the pending page offers (``size``); the first is the default.
PAGE_SIZES = (50, 100, 200, 25)


@dataclass(frozen=True)
class PendingFilter:
    """Which pending bills: a biller, a group, due between two days, an amount between two
    figures, a consumer id starting with some digits, found by one fetch."""

    utility: str = ""
    group_id: int | None = None
    due_from: date | None = None
    due_to: date | None = None
    fetch_request_id: int | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    consumer: str = ""

    def __post_init__(self) -> None:
        if self.due_from and self.due_to and self.due_from > self.due_to:
            raise ValidationFailed("invalid", "The first due day comes after the last.", "due_from")
        if (
            self.amount_min is not None
            and self.amount_max is not None
            and self.amount_min > self.amount_max
        ):
            raise ValidationFailed(
                "invalid", "The smallest amount is above the largest.", "amount_min"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "utility": self.utility,
            "group_id": self.group_id,
            "due_from": self.due_from.isoformat() if self.due_from else None,
            "due_to": self.due_to.isoformat() if self.due_to else None,
            "request": self.fetch_request_id,
            "amount_min": str(self.amount_min) if self.amount_min is not None else None,
            "amount_max": str(self.amount_max) if self.amount_max is not None else None,
            "consumer": self.consumer,
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


def _in_live_payment() -> Any:
    return select(literal(1)).where(P.live_bill_key == _live_key_of_bill()).exists()


def pending_conditions(pending: PendingFilter) -> list[ColumnElement[bool]]:
    """Bills of each account's latest successful fetch that are in no live payment.

    A consumer id is searched by its beginning (``LIKE 'digits%'``), served by the index
    ``bills (consumer_id)``; the other filters narrow the bill-id walk of the page."""
    latest = latest_successful_fetch(B.bill_account_id)
    where: list[ColumnElement[bool]] = [B.fetch_item_id == latest, ~_in_live_payment()]
    return where + _filter_conditions(pending)


def _filter_conditions(pending: PendingFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
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
    if pending.amount_min is not None:
        where.append(B.amount >= pending.amount_min)
    if pending.amount_max is not None:
        where.append(B.amount <= pending.amount_max)
    if pending.consumer:
        escaped = pending.consumer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(B.consumer_id.like(escaped + "%", escape="\\"))
    if pending.fetch_request_id is not None:
        where.append(
            B.fetch_item_id.in_(
                select(fetch_items.c.id).where(fetch_items.c.request_id == pending.fetch_request_id)
            )
        )
    return where


@dataclass(frozen=True)
class PendingBill:
    """A pending bill as the page shows it. ``service_charge`` is what is paid with it (the
    one rule, :func:`bbp_common.core.domain.charges.service_charge_paid`); ``billed_charge``
    is Mobiquity's figure, shown only to explain a 0.00."""

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
    billed_charge: Decimal = Decimal("0")

    @property
    def total(self) -> Decimal:
        return self.amount + self.service_charge

    @property
    def charge_left_out(self) -> bool:
        """Mobiquity reported a charge the biller does not take with the bill."""
        return self.billed_charge > 0 and self.service_charge == 0


def list_pending(
    conn: Connection,
    pending: PendingFilter,
    *,
    max_bill_age: timedelta,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """One page of pending bills in bill id order; each says whether it is too old to pay."""
    limit = page_limit(limit)
    now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
    query = select(*BILL_COLUMNS, B.fetched_at, billers.c.pays_service_charge).select_from(
        bills.join(bill_accounts, bill_accounts.c.id == B.bill_account_id).outerjoin(
            billers, billers.c.utility_code == B.utility_code
        )
    )
    # The page's bills are found first (a batch at a time, see ``_page_candidates``); the
    # page then reads just them, and ``keyset`` makes its cursors.
    candidates = _page_candidates(conn, pending, cursor, limit)
    rows, nxt, prev = keyset(conn, query.where(B.id.in_(candidates)), B.id, "id", cursor, limit)
    items = [
        PendingBill(
            *bill_values(r, bool(r.pays_service_charge)),
            r.fetched_at,
            r.fetched_at < now - max_bill_age,
            r.service_charge,
        )
        for r in rows
    ]
    return Page(items, nxt, prev, limit)


#: Most bills checked at a time while a page is filled (the first batch is the page's size,
#: each next one twice the last).
LAST_BATCH = 6400


def _page_candidates(
    conn: Connection, pending: PendingFilter, cursor: str | None, limit: int
) -> list[int]:
    """The ids of one page of pending bills (at most ``limit + 1``, for "is there more"), in
    the cursor's direction: bills matching the plain filters are read in id order a batch at
    a time, and only a batch gets the per-bill checks (latest fetch, no live payment).

    Why: given to MariaDB as one query, a group filter makes it start from the group's
    accounts, run the two correlated checks on *every* bill of the group and sort them —
    330 ms for a group of 5 000 among 50 000 pending bills — where a page needs 51."""
    position = decode_cursor(cursor, key_types={"id": (int,)}) if cursor else None
    forward = position is None or position.direction != "before"
    edge = (
        position.key[0]
        if position is not None and position.direction in ("after", "before")
        else None
    )
    plain = _filter_conditions(pending)
    checks = [B.fetch_item_id == latest_successful_fetch(B.bill_account_id), ~_in_live_payment()]
    found: list[int] = []
    batch = limit + 1
    while len(found) <= limit:
        query = select(B.id).where(*plain)
        if edge is not None:
            query = query.where(B.id > edge if forward else B.id < edge)
        ids = list(
            conn.execute(
                query.order_by(B.id.asc() if forward else B.id.desc()).limit(batch)
            ).scalars()
        )
        if not ids:
            break
        kept = set(conn.execute(select(B.id).where(B.id.in_(ids), *checks)).scalars())
        found.extend(i for i in ids if i in kept)
        if len(ids) < batch:
            break
        edge, batch = ids[-1], min(batch * 2, LAST_BATCH)
    return found[: limit + 1]


def pending_ids(
    conn: Connection, pending: PendingFilter, cap: int, *, max_bill_age: timedelta | None = None
) -> list[int]:
    """Every pending bill matching — fresh enough to pay when ``max_bill_age`` is given — at
    most ``cap + 1`` (so the caller can tell "too many")."""
    where = pending_conditions(pending)
    if max_bill_age is not None:
        now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
        where.append(B.fetched_at >= now - max_bill_age)
    return list(conn.execute(select(B.id).where(*where).order_by(B.id).limit(cap + 1)).scalars())


def already_in_payments(conn: Connection, fetch_request_id: int) -> int:
    """How many bills a fetch request found that are already in a payment — paid, or being
    paid — so "pay the bills found" can say why they are not listed."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(bills)
            .where(
                B.fetch_item_id.in_(
                    select(fetch_items.c.id).where(fetch_items.c.request_id == fetch_request_id)
                ),
                _in_live_payment(),
            )
        ).scalar_one()
    )


def groups(conn: Connection) -> list[Any]:
    return list(
        conn.execute(
            select(account_groups.c.id, account_groups.c.name).order_by(account_groups.c.name)
        ).all()
    )


__all__ = [
    "PAGE_SIZES",
    "BillerSubtotal",
    "Examined",
    "PendingBill",
    "PendingFilter",
    "Problem",
    "Summary",
    "already_in_payments",
    "due_moments",
    "examine",
    "groups",
    "latest_successful_fetch",
    "list_pending",
    "pending_conditions",
    "pending_ids",
    "summarise",
]
