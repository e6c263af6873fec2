"""The bills a person ticked on the pending page: a server-side selection.

Tens of thousands of pending bills do not fit in a page's form, so what is ticked lives in
``bill_selections`` (one selection per person, keyed ``(login_id, bill_id)``): a tick or an
untick is one row, "select all matching" adds every fresh pending bill a filter matches
(the per-bill checks once, then inserts by primary key), and the selection survives paging
and changing the filter until the person pays it or clears it. The running count and total
read the person's rows alone by the primary key (each carries its bill's biller, amount and
reported charge), grouped per biller, and apply the one service-charge rule
(:func:`bbp_common.core.domain.charges.service_charge_paid`) per biller — the same figures
the confirmation page and the payments will show.

A row says only "ticked": it is not payment state. Whether a ticked bill can still be paid
(paid elsewhere since, fetched too long ago) is checked where it is paid, as for any chosen
bill (``pending.examine``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, select

from bbp_common.core.domain.charges import service_charge_paid
from bbp_common.platform.db.tables import bill_accounts, bill_selections, billers, bills
from bbp_portal.bulk.service import chunks
from bbp_portal.payments.pending import BILL_COLUMNS, PendingFilter, bill_values, pending_ids

S = bill_selections.c
B = bills.c


@dataclass(frozen=True)
class Tally:
    """The running figures of a selection (or of any set of bills): the same rule as paying."""

    count: int
    amount: Decimal
    service_charge: Decimal

    @property
    def total(self) -> Decimal:
        return self.amount + self.service_charge


EMPTY = Tally(0, Decimal("0"), Decimal("0"))


def add(conn: Connection, login_id: str, ids: Iterable[int]) -> None:
    """Tick these bills (a bill ticked twice stays one row; an unknown id is ignored)."""
    for chunk in chunks(sorted(set(ids))):
        found = select(literal(login_id), B.id, B.utility_code, B.amount, B.service_charge)
        conn.execute(
            insert(bill_selections)
            .from_select(
                ["login_id", "bill_id", "utility_code", "amount", "service_charge"],
                found.where(B.id.in_(chunk)),
            )
            .prefix_with("IGNORE")
        )


def remove(conn: Connection, login_id: str, ids: Iterable[int]) -> None:
    for chunk in chunks(sorted(set(ids))):
        conn.execute(delete(bill_selections).where(S.login_id == login_id, S.bill_id.in_(chunk)))


def clear(conn: Connection, login_id: str) -> None:
    conn.execute(delete(bill_selections).where(S.login_id == login_id))


def add_matching(
    conn: Connection,
    login_id: str,
    pending: PendingFilter,
    *,
    max_bill_age: timedelta,
    cap: int,
) -> int | None:
    """Tick every pending bill the filter matches that is fresh enough to pay, unless more
    than ``cap`` match (then nothing is ticked and None comes back). Returns how many bills
    matched. The per-bill checks run once (``pending_ids``); the ticks are then written by
    primary key, a chunk at a time."""
    ids = pending_ids(conn, pending, cap, max_bill_age=max_bill_age)
    if len(ids) > cap:
        return None
    add(conn, login_id, ids)
    return len(ids)


def ticked_among(conn: Connection, login_id: str, ids: Sequence[int]) -> set[int]:
    """Which of these bills (one page's) the person ticked."""
    if not ids:
        return set()
    return set(
        conn.execute(
            select(S.bill_id).where(S.login_id == login_id, S.bill_id.in_(list(ids)))
        ).scalars()
    )


def _biller_pays(conn: Connection) -> dict[str, bool]:
    return {
        r.utility_code: bool(r.pays_service_charge)
        for r in conn.execute(select(billers.c.utility_code, billers.c.pays_service_charge))
    }


def tally(conn: Connection, login_id: str) -> Tally:
    """Count, amount and service charge of the person's ticked bills: one grouped read of
    their rows by the primary key (``login_id`` first; the figures are copied in), the rule
    applied per biller."""
    rows = conn.execute(
        select(
            S.utility_code,
            func.count().label("n"),
            func.coalesce(func.sum(S.amount), 0).label("amount"),
            func.coalesce(func.sum(S.service_charge), 0).label("charge"),
        )
        .where(S.login_id == login_id)
        .group_by(S.utility_code)
    ).all()
    return _tally(conn, rows)


def _tally(conn: Connection, rows: Sequence[Any]) -> Tally:
    if not rows:
        return EMPTY
    pays = _biller_pays(conn)
    return Tally(
        sum(int(r.n) for r in rows),
        sum((Decimal(r.amount) for r in rows), Decimal("0")),
        sum(
            (service_charge_paid(Decimal(r.charge), pays.get(r.utility_code, False)) for r in rows),
            Decimal("0"),
        ),
    )


def chosen_ids(conn: Connection, login_id: str, cap: int) -> list[int]:
    """The person's ticked bills, at most ``cap + 1`` (so the caller can tell "too many")."""
    return list(
        conn.execute(
            select(S.bill_id).where(S.login_id == login_id).order_by(S.bill_id).limit(cap + 1)
        ).scalars()
    )


@dataclass(frozen=True)
class ChosenBill:
    id: int
    utility_code: str
    consumer_id: str
    label: str
    bill_number: str
    due_date: Any
    amount: Decimal
    service_charge: Decimal

    @property
    def total(self) -> Decimal:
        return self.amount + self.service_charge


def bills_of(conn: Connection, ids: Sequence[int]) -> list[ChosenBill]:
    """These bills (one page of a confirmation), in id order, with the charge paid."""
    if not ids:
        return []
    pays = _biller_pays(conn)
    rows = conn.execute(
        select(*BILL_COLUMNS)
        .select_from(bills.join(bill_accounts, bill_accounts.c.id == B.bill_account_id))
        .where(B.id.in_(list(ids)))
        .order_by(B.id)
    )
    return [ChosenBill(*bill_values(r, pays.get(r.utility_code, False))) for r in rows]


def uncharged_billers(conn: Connection, codes: Iterable[str]) -> list[Any]:
    """Of these billers, the ones that take no service charge with the bill (code, name):
    the pages say why their service charge is 0.00."""
    wanted = sorted(set(codes))
    if not wanted:
        return []
    return list(
        conn.execute(
            select(billers.c.utility_code, billers.c.name)
            .where(billers.c.utility_code.in_(wanted), billers.c.pays_service_charge.is_(False))
            .order_by(billers.c.utility_code)
        ).all()
    )


__all__ = [
    "EMPTY",
    "ChosenBill",
    "Tally",
    "add",
    "add_matching",
    "bills_of",
    "chosen_ids",
    "clear",
    "remove",
    "tally",
    "ticked_among",
    "uncharged_billers",
]
