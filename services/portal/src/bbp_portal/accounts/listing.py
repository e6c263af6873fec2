"""Listing bill accounts a page at a time (which accounts: ``selection.AccountFilter``).

Pages use keyset pagination: every sort order is a tuple of columns ending with ``id``,
backed by an index (see the ``0002_accounts`` migration), and a page is "the next N rows
after this key" — an index range scan that costs the same on page 1 and page 20 000. No
``OFFSET``, no ``COUNT(*)`` over the table (the count shown is capped, see
:func:`count_capped`).

A *selection* of accounts for a bulk action (``AccountSelection``, ``selection_query``)
is in ``selection``, the module the fetch feature reuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    false,
    func,
    or_,
    select,
)

from bbp_common.platform.db.tables import account_groups, bill_account_groups, bill_accounts
from bbp_portal.accounts.selection import AccountFilter, escape_like
from bbp_portal.cursor import Cursor, InvalidCursor, decode_cursor

A = bill_accounts.c

#: Sort name → the columns of its key. Each key is unique, so the order is total and a
#: cursor names exactly one position.
SORTS: dict[str, tuple[Any, ...]] = {
    "id": (A.id,),
    "consumer_id": (A.consumer_id, A.utility_code),
    "label": (A.label, A.id),
    "utility": (A.utility_code, A.consumer_id),
}
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "consumer_id": (str, str),
    "label": (str, int),
    "utility": (str, str),
}
#: (sort, filtered by utility?) → the index that serves that order (migration 0002_accounts).
SORT_INDEXES: dict[tuple[str, bool], str] = {
    ("id", False): "PRIMARY",
    ("id", True): "ix_bill_accounts_utility_code_id",
    ("consumer_id", False): "ix_bill_accounts_consumer_id_utility_code",
    ("consumer_id", True): "uq_bill_accounts_utility_code_consumer_id",
    ("label", False): "ix_bill_accounts_label_id",
    ("label", True): "ix_bill_accounts_utility_code_label_id",
    ("utility", False): "uq_bill_accounts_utility_code_consumer_id",
    ("utility", True): "uq_bill_accounts_utility_code_consumer_id",
}
#: A group with fewer members is "selective": its members are read and sorted instead of
#: walking the sort index (which would pass over most of the table to find them).
SMALL_GROUP = 2000
MAX_PAGE = 200


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class AccountRow:
    id: int
    utility_code: str
    consumer_id: str
    mobile: str
    label: str
    active: bool
    groups: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Page:
    items: list[AccountRow]
    sort: str
    order: str
    next: str | None = None
    prev: str | None = None
    first: str | None = None
    last: str | None = None


def _beyond(columns: Sequence[Any], key: Sequence[Any], greater: bool) -> ColumnElement[bool]:
    """Row comparison ``(c1, c2) > (k1, k2)`` written out as
    ``c1 > k1 OR (c1 = k1 AND c2 > k2)``: the form MySQL's and MariaDB's range optimizers
    both turn into tight ranges on the ``(c1, c2)`` index (they do not for a row
    constructor, nor for ``c1 >= k1 AND (c1 > k1 OR c2 > k2)``)."""
    column, value = columns[0], key[0]
    strict = column > value if greater else column < value
    if len(columns) == 1:
        return strict
    return or_(strict, and_(column == value, _beyond(columns[1:], key[1:], greater)))


def parse_cursor(token: str | None) -> Cursor | None:
    return decode_cursor(token, key_types=KEY_TYPES) if token else None


def list_accounts(
    conn: Connection,
    account_filter: AccountFilter,
    *,
    sort: str = "id",
    order: str = "asc",
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """One page of accounts and the cursors of the pages next to it.

    ``cursor`` (from a previous page) overrides ``sort`` and ``order``, so a link keeps its
    meaning. Raises :class:`InvalidCursor` for a cursor we did not make.
    """
    limit = max(1, min(int(limit), MAX_PAGE))
    position = parse_cursor(cursor)
    if position is not None:
        sort, order = position.sort, position.order
    if sort not in SORTS:
        raise InvalidCursor(f"Unknown sort {sort!r}; use one of {', '.join(SORTS)}.")
    if order not in ("asc", "desc"):
        raise InvalidCursor("The order is asc or desc.")
    columns = SORTS[sort]
    # A column the filter fixes (utility = X) is left out of ORDER BY and of the key
    # comparison: it changes nothing in the order, but MariaDB then no longer sees that the
    # index already delivers the order, and sorts.
    walk = [
        i for i, c in enumerate(columns) if not (account_filter.utility and c is A.utility_code)
    ]
    walk_columns = [columns[i] for i in walk]

    def walk_key(key: Sequence[Any]) -> list[Any]:
        return [key[i] for i in walk]

    ascending = order == "asc"
    where, hint = _plan(conn, account_filter, sort)

    def fetch(extra: list[ColumnElement[bool]], forward: bool, n: int) -> list[Any]:
        """The page's rows in two steps: the ids by walking the index alone (the sort index
        holds the key, the group check needs only the id), then those rows by primary key.
        Fetching whole rows while walking would read every skipped row from the table."""
        going_up = ascending == forward
        order_by = [c.asc() if going_up else c.desc() for c in walk_columns]
        ids = (
            conn.execute(
                _hinted(select(A.id).where(*where, *extra).order_by(*order_by).limit(n), hint)
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        rows = {
            r.id: r
            for r in conn.execute(
                select(A.id, A.utility_code, A.consumer_id, A.mobile, A.label, A.active).where(
                    A.id.in_(ids)
                )
            )
        }
        return [rows[i] for i in ids if i in rows]

    def key_of(row: Any) -> tuple[Any, ...]:
        return tuple(getattr(row, c.name) for c in columns)

    direction = position.direction if position else "first"
    if direction in ("first", "after"):
        extra = (
            [] if position is None else [_beyond(walk_columns, walk_key(position.key), ascending)]
        )
        rows = fetch(extra, True, limit + 1)
        has_more, rows = len(rows) > limit, rows[:limit]
        has_next = has_more
        has_prev = (
            bool(rows)
            and position is not None
            and _any_beyond(
                conn, where, walk_columns, walk_key(key_of(rows[0])), not ascending, hint
            )
        )
    else:  # "before" or "last": read backwards, then turn the page around
        assert position is not None
        extra = (
            []
            if direction == "last"
            else [_beyond(walk_columns, walk_key(position.key), not ascending)]
        )
        rows = fetch(extra, False, limit + 1)
        has_more, rows = len(rows) > limit, rows[:limit]
        rows.reverse()
        has_prev = has_more
        has_next = (
            bool(rows)
            and direction != "last"
            and _any_beyond(conn, where, walk_columns, walk_key(key_of(rows[-1])), ascending, hint)
        )
    items = [
        AccountRow(r.id, r.utility_code, r.consumer_id, r.mobile, r.label, bool(r.active))
        for r in rows
    ]
    items = _with_groups(conn, items)

    def make(direction: str, key: tuple[Any, ...] = ()) -> str:
        return Cursor(sort, order, direction, key).encode()  # type: ignore[arg-type]

    return Page(
        items=items,
        sort=sort,
        order=order,
        next=make("after", key_of(rows[-1])) if rows and has_next else None,
        prev=make("before", key_of(rows[0])) if rows and has_prev else None,
        first=None,
        last=make("last"),
    )


def _any_beyond(
    conn: Connection,
    where: list[ColumnElement[bool]],
    columns: Sequence[Any],
    key: Sequence[Any],
    greater: bool,
    hint: str | None,
) -> bool:
    """Is there a row beyond ``key``? Walks the sort index away from ``key`` (ORDER BY …
    LIMIT 1), so the answer is the nearest neighbour, not a scan from the far end."""
    order_by = [c.asc() if greater else c.desc() for c in columns]
    query = select(A.id).where(*where, _beyond(columns, key, greater)).order_by(*order_by)
    query = query.limit(1)
    return conn.execute(_hinted(query, hint)).first() is not None


def _plan(
    conn: Connection, account_filter: AccountFilter, sort: str
) -> tuple[list[ColumnElement[bool]], str | None]:
    """The conditions of the page query and the index to walk, chosen per filter.

    Keyset pages are fast only if the database walks the sort order's index and stops after
    a page; left alone, MySQL and MariaDB sometimes prefer a filter's index and sort
    hundreds of thousands of rows, or walk the primary key past rows that a search skips.
    So: a *selective* filter (a group or a search with fewer than ``SMALL_GROUP`` matches,
    found with bounded probes) reads its matches and sorts them; otherwise the sort index is
    walked (``FORCE INDEX``, the same in both databases).
    """
    where = account_filter.conditions()
    selective = account_filter.status == "inactive"  # rare: (active, id) finds them
    q = account_filter.q.strip()
    if q:
        pattern = escape_like(q) + "%"
        matches: set[int] = set()
        for column in (A.consumer_id, A.label):
            found = (
                conn.execute(
                    select(A.id).where(column.like(pattern, escape="!")).limit(SMALL_GROUP)
                )
                .scalars()
                .all()
            )
            matches.update(found)
            if len(found) >= SMALL_GROUP:
                break
        else:
            # Few matches: the search condition becomes "id IN (those)", served by the key.
            where = AccountFilter(**{**account_filter.as_dict(), "q": ""}).conditions()
            where.append(A.id.in_(sorted(matches)) if matches else false())
            selective = True
    if account_filter.group_id is not None and not selective:
        M = bill_account_groups.c
        members = conn.execute(
            select(func.count()).select_from(
                select(M.bill_account_id)
                .where(M.group_id == account_filter.group_id)
                .limit(SMALL_GROUP)
                .subquery()
            )
        ).scalar_one()
        selective = members < SMALL_GROUP
    hint = None if selective else SORT_INDEXES[(sort, bool(account_filter.utility))]
    return where, hint


def _hinted(query: Select[Any], index: str | None) -> Select[Any]:
    if index is None:
        return query
    return query.with_hint(bill_accounts, f"FORCE INDEX ({index})")


def _with_groups(conn: Connection, items: list[AccountRow]) -> list[AccountRow]:
    """Attach group names: memberships by primary key, then the (few) names.

    Two plain queries rather than a join: joined, the optimizer may start from the groups and
    read every membership of a large group instead of the page's fifty.
    """
    if not items:
        return items
    M = bill_account_groups.c
    pairs = conn.execute(
        select(M.bill_account_id, M.group_id).where(M.bill_account_id.in_([i.id for i in items]))
    ).all()
    names: dict[int, str] = (
        dict(
            conn.execute(
                select(account_groups.c.id, account_groups.c.name).where(
                    account_groups.c.id.in_({g for _, g in pairs})
                )
            ).all()
        )
        if pairs
        else {}
    )
    by_account: dict[int, list[tuple[int, str]]] = {}
    for account_id, group_id in pairs:
        by_account.setdefault(account_id, []).append((group_id, names.get(group_id, "?")))
    return [
        AccountRow(
            i.id,
            i.utility_code,
            i.consumer_id,
            i.mobile,
            i.label,
            i.active,
            tuple(sorted(by_account.get(i.id, ()), key=lambda g: g[1].casefold())),
        )
        for i in items
    ]


__all__ = [
    "SORTS",
    "AccountRow",
    "InvalidCursor",
    "Page",
    "list_accounts",
]
