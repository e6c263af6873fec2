"""Reading a fetch request's items: its per-account results and bills, page by page, and
every row of its results file.

Everything here must stay fast with a million fetch items in a request, so nothing counts
or sorts the items of a request:

* result pages are keyset pages in item id order, each read from an index that already
  holds that order — ``(request_id, outcome, id)`` or ``(request_id, state, id)`` for an
  outcome or state filter, else the primary key between the request's first and last item
  (found with index dives, see :func:`item_bounds`);
* a consumer-id search goes through ``bill_accounts``' consumer-id index to the few
  accounts it names, then to their items by ``(bill_account_id, …)``;
* the export reads in keyset chunks of the primary key, each on a short-lived connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, false, func, select

from bbp_common.core.domain.charges import service_charge_paid
from bbp_common.platform.db.tables import bill_accounts, bills, fetch_items
from bbp_portal.cursor import Cursor
from bbp_portal.requests.queries import MAX_PAGE, Page, parse_cursor
from bbp_portal.requests.totals import biller_pays
from bbp_portal.service_errors import ValidationFailed

I = fetch_items.c  # noqa: E741 - the items table, as in the SQL
B = bills.c

#: Item filters of a fetch request: an outcome, or a state for items without one yet.
OUTCOMES = ("bills", "no_bills", "failed")
ITEM_STATES = ("queued", "dispatched", "cancelled")
ITEM_STATUSES = (*OUTCOMES, *ITEM_STATES)
#: A consumer-id search naming more accounts than this is not selective: walk instead.
SEARCH_CANDIDATES = 2000


@dataclass(frozen=True)
class ItemFilter:
    """Which items of a fetch request: an outcome or state, a utility, a consumer-id prefix."""

    status: str = ""
    utility: str = ""
    q: str = ""

    def __post_init__(self) -> None:
        if self.status and self.status not in ITEM_STATUSES:
            raise ValidationFailed(
                "invalid", f"The status is one of {', '.join(ITEM_STATUSES)}.", "status"
            )
        if len(self.q) > 64:
            raise ValidationFailed("invalid", "The search is at most 64 characters.", "q")

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "utility": self.utility, "q": self.q}


@dataclass(frozen=True)
class BillRow:
    id: int
    bill_number: str
    due_date: date | None
    amount: Decimal
    service_charge: Decimal


@dataclass(frozen=True)
class ItemRow:
    id: int
    bill_account_id: int
    utility_code: str
    consumer_id: str
    mobile: str
    state: str
    outcome: str | None
    attempts: int
    bill_count: int | None
    bills_amount: Decimal | None
    error_code: str | None
    error_message: str | None
    completed_at: datetime | None
    bills: tuple[BillRow, ...] = ()

    @property
    def status(self) -> str:
        """The outcome once done, else the state (what the filter and the page show)."""
        return self.outcome or self.state


_ITEM_COLUMNS = (
    I.id,
    I.bill_account_id,
    I.utility_code,
    I.consumer_id,
    I.mobile,
    I.state,
    I.outcome,
    I.attempts,
    I.bill_count,
    I.bills_amount,
    I.error_code,
    I.error_message,
    I.completed_at,
)


def item_bounds(conn: Connection, request_id: int) -> tuple[int, int] | None:
    """The first and last item id of a request, by dives into ``(request_id, state, id)``:
    ``MIN``/``MAX`` of an index prefix is one lookup each, where ``MIN(id) WHERE request_id``
    alone would read every entry of the request."""
    lows, highs = [], []
    for state in ("queued", "dispatched", "done", "cancelled"):
        low, high = conn.execute(
            select(func.min(I.id), func.max(I.id)).where(
                I.request_id == request_id, I.state == state
            )
        ).one()
        if low is not None:
            lows.append(low)
            highs.append(high)
    return (min(lows), max(highs)) if lows else None


def _escape_like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _plan_items(
    conn: Connection, request_id: int, item_filter: ItemFilter
) -> tuple[list[ColumnElement[bool]], str | None]:
    """The conditions of a results page and the index to walk in id order."""
    where: list[ColumnElement[bool]] = [I.request_id == request_id]
    hint: str | None
    if item_filter.status in OUTCOMES:
        where.append(I.outcome == item_filter.status)
        hint = "ix_fetch_items_request_id_outcome_id"
    elif item_filter.status:
        where.append(I.state == item_filter.status)
        hint = "ix_fetch_items_request_id_state_id"
    else:
        bounds = item_bounds(conn, request_id)
        if bounds is None:
            where.append(false())
        else:
            where.append(I.id.between(*bounds))
        hint = "PRIMARY"
    if item_filter.utility:
        where.append(I.utility_code == item_filter.utility.strip().upper())
    q = item_filter.q.strip()
    if q:
        pattern = _escape_like(q) + "%"
        where.append(I.consumer_id.like(pattern, escape="!"))
        candidates = list(
            conn.execute(
                select(bill_accounts.c.id)
                .where(bill_accounts.c.consumer_id.like(pattern, escape="!"))
                .limit(SEARCH_CANDIDATES + 1)
            ).scalars()
        )
        if len(candidates) <= SEARCH_CANDIDATES:
            # Few accounts match: reach their items through (bill_account_id, …) and sort
            # the handful found, rather than walk the request's items.
            where.append(I.bill_account_id.in_(candidates) if candidates else false())
            hint = None
    return where, hint


def _hinted(query: Select[Any], index: str | None) -> Select[Any]:
    return query if index is None else query.with_hint(fetch_items, f"FORCE INDEX ({index})")


def list_items(
    conn: Connection,
    request_id: int,
    item_filter: ItemFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
    with_bills: bool = True,
) -> Page:
    """One page of a fetch request's per-account results, in item id order, with the bills
    found for the items on it."""
    limit = max(1, min(int(limit), MAX_PAGE))
    position = parse_cursor(cursor)
    where, hint = _plan_items(conn, request_id, item_filter)
    direction = position.direction if position else "first"
    forward = direction in ("first", "after")
    extra: list[ColumnElement[bool]] = []
    if position is not None and direction != "last":
        extra.append(I.id > position.key[0] if forward else I.id < position.key[0])
    order = I.id.asc() if forward else I.id.desc()
    query = select(*_ITEM_COLUMNS).where(*where, *extra).order_by(order).limit(limit + 1)
    rows = list(conn.execute(_hinted(query, hint)))
    more, rows = len(rows) > limit, rows[:limit]
    if not forward:
        rows.reverse()

    def beyond(key: int, upward: bool) -> bool:
        probe = (
            select(I.id)
            .where(*where, I.id > key if upward else I.id < key)
            .order_by(I.id.asc() if upward else I.id.desc())
            .limit(1)
        )
        return conn.execute(_hinted(probe, hint)).first() is not None

    if forward:
        has_next = more
        has_prev = position is not None and bool(rows) and beyond(rows[0].id, False)
    else:
        has_prev = more
        has_next = direction == "before" and bool(rows) and beyond(rows[-1].id, True)
    found = bills_of(conn, [r.id for r in rows if r.bill_count]) if with_bills else {}
    items = [
        ItemRow(*(getattr(r, c.name) for c in _ITEM_COLUMNS), bills=tuple(found.get(r.id, ())))
        for r in rows
    ]
    return Page(
        items,
        next=Cursor("id", "asc", "after", (rows[-1].id,)).encode() if rows and has_next else None,
        prev=Cursor("id", "asc", "before", (rows[0].id,)).encode() if rows and has_prev else None,
        last=Cursor("id", "asc", "last").encode(),
        limit=limit,
    )


def bills_of(conn: Connection, item_ids: Sequence[int]) -> dict[int, list[BillRow]]:
    """The bills found for these items, by ``(fetch_item_id, bill_number)``."""
    found: dict[int, list[BillRow]] = {}
    if not item_ids:
        return found
    rows = conn.execute(
        select(
            B.fetch_item_id,
            B.id,
            B.utility_code,
            B.bill_number,
            B.due_date,
            B.amount,
            B.service_charge,
        ).where(B.fetch_item_id.in_(list(item_ids)))
    )
    pays = biller_pays(conn)
    for row in rows:
        # The one rule of the service charge: what is paid with the bill, on every page.
        charge = service_charge_paid(row.service_charge, pays.get(row.utility_code, False))
        found.setdefault(row.fetch_item_id, []).append(
            BillRow(row.id, row.bill_number, row.due_date, row.amount, charge)
        )
    for values in found.values():
        values.sort(key=lambda b: (b.due_date or date.max, b.bill_number))
    return found


# --------------------------------------------------------------------------- export


ExportRow = tuple[Any, ...]
EXPORT_HEADER = (
    "request_id",
    "item_id",
    "utility",
    "consumer_id",
    "mobile",
    "status",
    "bill_number",
    "due_date",
    "amount",
    "service_charge",
    "error_code",
    "error_message",
    "attempts",
    "completed_at_utc",
)


def export_rows(conn_factory: Any, request_id: int, *, chunk: int = 2000) -> Iterator[ExportRow]:
    """Every result of a fetch request: one row per bill found, one row per account with no
    bill, a failure, or no result (cancelled, still queued). Read in keyset chunks of the
    primary key, each on a short-lived connection, so a long download holds no transaction
    open and nothing is loaded whole."""
    with conn_factory() as conn:
        bounds = item_bounds(conn, request_id)
    if bounds is None:
        return
    low, high = bounds
    after = low - 1
    while True:
        with conn_factory() as conn:
            query = (
                select(*_ITEM_COLUMNS)
                .where(I.request_id == request_id, I.id > after, I.id <= high)
                .order_by(I.id)
                .limit(chunk)
            )
            rows = list(conn.execute(_hinted(query, "PRIMARY")))
            found = bills_of(conn, [r.id for r in rows if r.bill_count])
        if not rows:
            return
        for r in rows:
            status = r.outcome or r.state
            tail = (r.error_code, r.error_message, r.attempts, r.completed_at)
            head = (request_id, r.id, r.utility_code, r.consumer_id, r.mobile, status)
            mine = found.get(r.id)
            if mine:
                for bill in mine:
                    yield (
                        *head,
                        bill.bill_number,
                        bill.due_date,
                        bill.amount,
                        bill.service_charge,
                        *tail,
                    )
            else:
                yield (*head, None, None, None, None, *tail)
        after = rows[-1].id


__all__ = [
    "EXPORT_HEADER",
    "ITEM_STATUSES",
    "BillRow",
    "ItemFilter",
    "ItemRow",
    "bills_of",
    "export_rows",
    "item_bounds",
    "list_items",
]
