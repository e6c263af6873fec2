"""Pending bills found by a fetch request, totalled per biller, and their cache.

There is no shortcut in the schema: the totals read every bill of a request, seconds for a
million items. So the request page loads them apart from itself, and :class:`TotalsCache`
keeps them per worker (a settled request's until evicted, a running one's a few seconds).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, func, select

from bbp_common.core.domain.charges import service_charge_paid
from bbp_common.platform.db.tables import billers, bills, fetch_items
from bbp_portal.bulk.queries import Progress

I = fetch_items.c  # noqa: E741 - the items table, as in the SQL
B = bills.c


@dataclass(frozen=True)
class BillerTotal:
    utility_code: str
    accounts: int
    bills: int
    amount: Decimal
    service_charge: Decimal


def biller_totals(conn: Connection, request_id: int) -> list[BillerTotal]:
    """Bills found per biller: accounts with bills, bills, their amount and service charges.

    Reads every bill of the request (items with outcome ``bills`` by their index, their bills
    by ``fetch_item_id``): seconds for a million-item request, which is why the page loads it
    apart from itself and the caller caches a settled request's answer.
    """
    rows = conn.execute(
        select(
            B.utility_code,
            func.count(func.distinct(B.fetch_item_id)).label("accounts"),
            func.count().label("bills"),
            func.coalesce(func.sum(B.amount), 0).label("amount"),
            func.coalesce(func.sum(B.service_charge), 0).label("service_charge"),
        )
        .select_from(fetch_items.join(bills, B.fetch_item_id == I.id))
        .where(I.request_id == request_id, I.outcome == "bills")
        .group_by(B.utility_code)
        .order_by(B.utility_code)
    )
    found = list(rows)
    pays = biller_pays(conn)
    return [
        BillerTotal(
            r.utility_code,
            int(r.accounts),
            int(r.bills),
            r.amount,
            # The one rule of the service charge (a biller's sum of charges, like one bill's).
            service_charge_paid(r.service_charge, pays.get(r.utility_code, False)),
        )
        for r in found
    ]


def biller_pays(conn: Connection) -> dict[str, bool]:
    """Whether each biller takes the bills' service charge (``pays_service_charge``)."""
    return {
        r.utility_code: bool(r.pays_service_charge)
        for r in conn.execute(select(billers.c.utility_code, billers.c.pays_service_charge))
    }


class TotalsCache:
    """Biller totals, one cache per app (so per database) and process. A settled request's
    cannot change any more: kept until evicted. A running request's are kept ``running_ttl``
    seconds, so that many people watching a large request do not each make the database add
    up all its bills."""

    def __init__(self, size: int = 256, running_ttl: float = 15.0) -> None:
        self.size = size
        self.running_ttl = running_ttl
        self._lock = threading.Lock()
        self._found: OrderedDict[int, tuple[bool, float, list[BillerTotal]]] = OrderedDict()

    def get(self, conn: Connection, progress: Progress) -> list[BillerTotal]:
        now = time.monotonic()
        with self._lock:
            cached = self._found.get(progress.request_id)
            if cached is not None:
                settled, at, totals = cached
                if settled or (not progress.settled and now - at < self.running_ttl):
                    self._found.move_to_end(progress.request_id)
                    return totals
        totals = biller_totals(conn, progress.request_id)
        with self._lock:
            self._found[progress.request_id] = (progress.settled, now, totals)
            self._found.move_to_end(progress.request_id)
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        return totals


__all__ = ["BillerTotal", "TotalsCache", "biller_pays", "biller_totals"]
