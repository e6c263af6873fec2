"""Which bill accounts: a filter (search, utility, group, status), and a *selection* for a
bulk action — ticked ids, or every account matching a filter.

:class:`AccountFilter` and :class:`AccountSelection` are what the fetch feature reuses (the
one module of ``accounts/`` that another feature imports): :func:`selection_query` gives a
``SELECT id`` to feed an ``INSERT … SELECT``, and :func:`resolve_selection` the ids
themselves. Deactivated accounts are never selected for fetching or paying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Select, exists, false, func, or_, select, true

from bbp_common.platform.db.tables import bill_account_groups, bill_accounts

A = bill_accounts.c
Status = Literal["active", "inactive", "all"]


def escape_like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


@dataclass(frozen=True)
class AccountFilter:
    """Which accounts: a search (prefix of consumer id or label), a utility, a group, a status.

    The search is a prefix match so that it is served by the consumer-id and label indexes
    at any table size (a ``%contains%`` search would read every row).
    """

    q: str = ""
    utility: str = ""
    group_id: int | None = None
    status: Status = "all"

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        q = self.q.strip()
        if q:
            pattern = escape_like(q) + "%"
            where.append(
                or_(A.consumer_id.like(pattern, escape="!"), A.label.like(pattern, escape="!"))
            )
        if self.utility:
            where.append(A.utility_code == self.utility.strip().upper())
        if self.group_id is not None:
            where.append(
                exists().where(
                    bill_account_groups.c.bill_account_id == A.id,
                    bill_account_groups.c.group_id == self.group_id,
                )
            )
        if self.status == "active":
            where.append(A.active == true())
        elif self.status == "inactive":
            where.append(A.active == false())
        return where

    def as_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "utility": self.utility,
            "group_id": self.group_id,
            "status": self.status,
        }


@dataclass(frozen=True)
class AccountSelection:
    """The accounts a bulk action applies to: ticked ``ids``, or every account matching
    ``filter`` ("all matching", which includes "a group": ``AccountFilter(group_id=…)``).

    Exactly one of the two is used: ``ids`` when given, else ``filter``. Deactivated accounts
    are never selected for fetching or paying (``active_only``).
    """

    ids: tuple[int, ...] = ()
    filter: AccountFilter | None = None

    def describe(self) -> str:
        """Short text for ``bulk_requests.selection`` and the audit log."""
        if self.ids:
            shown = ",".join(str(i) for i in self.ids[:20])
            more = f" (+{len(self.ids) - 20} more)" if len(self.ids) > 20 else ""
            return f"ids:{shown}{more}"
        f = self.filter or AccountFilter()
        parts = [f"{k}={v}" for k, v in f.as_dict().items() if v not in ("", None, "all")]
        return "all" + (":" + ";".join(parts) if parts else "")


def selection_query(selection: AccountSelection, *, active_only: bool = True) -> Select[Any]:
    """``SELECT bill_accounts.id …`` for the selection, in id order.

    Feed it to ``INSERT … SELECT`` (fetch items, payments) rather than loading a million ids
    into Python.
    """
    query = select(A.id).order_by(A.id)
    if selection.ids:
        query = query.where(A.id.in_(sorted(set(selection.ids))))
    elif selection.filter is not None:
        query = query.where(*selection.filter.conditions())
    if active_only:
        query = query.where(A.active == true())
    return query


def resolve_selection(
    conn: Connection, selection: AccountSelection, *, active_only: bool = True
) -> list[int]:
    """The ids of the selected accounts (for small selections; else :func:`selection_query`)."""
    return list(conn.execute(selection_query(selection, active_only=active_only)).scalars())


def count_capped(conn: Connection, account_filter: AccountFilter, cap: int = 10_000) -> int:
    """How many accounts match, counting at most ``cap`` + 1 (shown as "10 000+")."""
    inner = select(A.id).where(*account_filter.conditions()).limit(cap + 1).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


__all__ = [
    "AccountFilter",
    "AccountSelection",
    "Status",
    "count_capped",
    "escape_like",
    "resolve_selection",
    "selection_query",
]
