"""What paying a set of chosen bills would do, read only: the confirmation page's count,
totals per biller (the one service-charge rule), the bills that cannot be paid now and why
(the same checks as creating the request, ``examining.examine``), and when a schedule would
pay them. ``pending`` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from bbp_common.core.domain.charges import service_charge_paid
from bbp_common.platform.db.tables import billers, bills
from bbp_portal.bulk.service import chunks
from bbp_portal.payments.examining import examine

B = bills.c


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

    @property
    def amount(self) -> Decimal:
        """The bills' own amounts (of the payable bills)."""
        return sum((b.amount for b in self.billers), Decimal("0"))

    @property
    def service_charge(self) -> Decimal:
        """The service charge paid with them (the one rule)."""
        return sum((b.service_charge for b in self.billers), Decimal("0"))


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
            (service_charge_paid(r.service_charge, r.pays_service_charge) for r in rows),
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


__all__ = ["BillerSubtotal", "Problem", "Summary", "due_moments", "summarise"]
