"""Which bills can be paid now, and what paying a set of them would do.

Only the bills of each account's latest successful fetch are payable (an older fetch's bill
may have been paid since), and a bill is in at most one live payment. The pending list is a
keyset page in bill id order. :func:`examine` runs every check of creating a payment
request without writing: the confirmation page (:func:`summarise`) shows exactly what the
confirm button will create, or why it will refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, select

from bbp_common.core.domain.payments import live_bill_key
from bbp_common.platform.db.tables import (
    account_groups,
    bill_account_groups,
    bill_accounts,
    billers,
    bills,
    fetch_items,
    payments,
)
from bbp_portal.bulk.service import chunks
from bbp_portal.payments.queries import Page, keyset, page_limit
from bbp_portal.service_errors import ValidationFailed

P = payments.c
B = bills.c


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
    limit = page_limit(limit)
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
    rows, nxt, prev = keyset(conn, query, B.id, "id", cursor, limit)
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


def due_moments(conn: Connection, ids: Sequence[int], schedule: Any) -> tuple[Any, Any]:
    """When the first and the last of these bills' payments would become due under
    ``schedule`` (``bbp_common.core.domain.schedules.Schedule``), naive UTC."""
    moments: list[Any] = []
    for chunk in chunks(sorted(set(ids))):
        dates = conn.execute(select(B.due_date).where(B.id.in_(chunk))).scalars()
        moments.extend(schedule.due_at(due) for due in dates)
    return (min(moments), max(moments)) if moments else (schedule.start_at, schedule.start_at)


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Examined:
    """What paying a set of bills would do: the bills found, each one's live-bill key and total
    (from our database), and the reason each bill that cannot be paid now cannot."""

    rows: list[Any]
    keys: dict[int, str]
    totals: dict[int, Decimal]
    problems: dict[int, str]

    @property
    def total_amount(self) -> Decimal:
        return sum(self.totals.values(), Decimal("0"))


def latest_successful_fetch(account_id: Any) -> Any:
    """The account's latest fetch item that got an answer (bills or "no bills"), as a
    correlated scalar subquery (served by ``fetch_items (bill_account_id, completed_at)``).
    Only its bills are payable: an older fetch's bill may have been paid since."""
    return (
        select(fetch_items.c.id)
        .where(
            fetch_items.c.bill_account_id == account_id,
            fetch_items.c.outcome.in_(["bills", "no_bills"]),
        )
        .order_by(fetch_items.c.completed_at.desc(), fetch_items.c.id.desc())
        .limit(1)
        .correlate(bills)
        .scalar_subquery()
    )


def examine(conn: Connection, ids: Sequence[int], max_bill_age: timedelta | None) -> Examined:
    """The checks of :func:`create_payment_request`, without writing: the confirmation page
    shows exactly what the confirm button will create, or why it will refuse."""
    now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
    rows: list[Any] = []
    for chunk in chunks(sorted(set(ids))):
        rows.extend(
            conn.execute(
                select(
                    bills.c.id,
                    bills.c.bill_account_id,
                    bills.c.utility_code,
                    bills.c.consumer_id,
                    bills.c.bill_number,
                    bills.c.due_date,
                    bills.c.amount,
                    bills.c.service_charge,
                    bills.c.fetched_at,
                    bills.c.fetch_item_id,
                    latest_successful_fetch(bills.c.bill_account_id).label("latest_fetch_item"),
                    billers.c.pays_service_charge,
                    billers.c.active.label("biller_active"),
                )
                .select_from(bills.join(billers, billers.c.utility_code == bills.c.utility_code))
                .where(bills.c.id.in_(chunk))
            ).all()
        )
    problems: dict[int, str] = {}
    found_ids = {row.id for row in rows}
    for bill_id in ids:
        if bill_id not in found_ids:
            problems[bill_id] = "unknown bill"
    for row in rows:
        if not row.biller_active:
            problems[row.id] = f"biller {row.utility_code} is inactive"
        elif max_bill_age is not None and row.fetched_at < now - max_bill_age:
            problems[row.id] = "fetched too long ago: fetch it again"
        elif row.fetch_item_id != row.latest_fetch_item:
            problems[row.id] = "a newer fetch of this account no longer lists it: fetch it again"
    keys = {
        row.id: live_bill_key(row.utility_code, row.consumer_id, row.bill_number) for row in rows
    }
    by_key: dict[str, list[int]] = {}
    for bill_id, key in keys.items():
        by_key.setdefault(key, []).append(bill_id)
    for key_chunk in chunks(list(by_key)):
        for taken in conn.execute(
            select(payments.c.live_bill_key, payments.c.reference_id).where(
                payments.c.live_bill_key.in_(key_chunk)
            )
        ):
            for bill_id in by_key.get(taken.live_bill_key, ()):
                problems[bill_id] = f"already in live payment {taken.reference_id}"
    for same in by_key.values():
        for bill_id in sorted(same)[1:]:
            problems[bill_id] = "the same bill is selected twice"
    totals = {
        row.id: row.amount + (row.service_charge if row.pays_service_charge else Decimal("0"))
        for row in rows
    }
    return Examined(rows, keys, totals, problems)


__all__ = [
    "BillerSubtotal",
    "Examined",
    "PendingBill",
    "PendingFilter",
    "Problem",
    "Summary",
    "due_moments",
    "examine",
    "groups",
    "latest_successful_fetch",
    "list_pending",
    "pending_ids",
    "summarise",
]
