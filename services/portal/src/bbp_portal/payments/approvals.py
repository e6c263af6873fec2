"""Reading maker-checker: what creating a payment request would lead to now (the
confirmation page, ``POST /payments/preview``), and a request waiting for approval as the
approve page shows it. Reads only; the rule is ``bbp_common.core.domain.approvals`` and the
writes are in ``service`` / ``operations``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from bbp_common.core.domain.approvals import (
    ApprovalLimits,
    ApprovalReason,
    approval_reasons,
    maker_day,
    parse_reasons,
)
from bbp_common.core.stores import MakerDays
from bbp_common.platform.db.tables import billers, bulk_requests, payments
from bbp_portal.service_errors import NotFound


@dataclass(frozen=True)
class Outlook:
    """What a new payment request of ``total`` by ``maker`` would do now (a preview: the
    creating transaction decides again, under the maker's lock)."""

    reasons: tuple[ApprovalReason, ...]
    limits: ApprovalLimits
    day: date
    #: What the maker's payment requests of the day count so far (BDT), before this one.
    counted: Decimal

    @property
    def needs_approval(self) -> bool:
        return bool(self.reasons)

    def waits_for(self, reason: str) -> bool:
        return reason in self.reasons


def outlook(
    conn: Connection,
    maker: str,
    total: Decimal,
    limits: ApprovalLimits,
    *,
    step_up_missing: bool = False,
) -> Outlook:
    today = MakerDays(conn).today(maker)
    return Outlook(
        approval_reasons(total, today.counted, limits, step_up_missing=step_up_missing),
        limits,
        today.day,
        today.counted,
    )


@dataclass(frozen=True)
class BillerLine:
    utility_code: str
    name: str
    payments: int
    total: Decimal


@dataclass(frozen=True)
class Waiting:
    """A payment request as its approver sees it before deciding."""

    id: int
    state: str
    created_by: str
    created_at: datetime
    selection: str
    payments: int
    total: Decimal
    reasons: tuple[ApprovalReason, ...]
    #: The Asia/Dhaka day it was created, and what its maker's requests of that day count
    #: now (this one included, unless it was cancelled or rejected).
    day: date
    day_counted: Decimal
    billers: list[BillerLine]
    #: A scheduled request: when it starts (approving leaves it scheduled).
    start_at: datetime | None = None

    def waits_for(self, reason: str) -> bool:
        return reason in self.reasons


def waiting(conn: Connection, request_id: int) -> Waiting:
    R = bulk_requests.c
    row = conn.execute(
        select(
            R.id,
            R.kind,
            R.state,
            R.created_by,
            R.created_at,
            R.selection,
            R.total_items,
            R.total_amount,
            R.approval_reason,
            R.start_at,
        ).where(R.id == request_id)
    ).first()
    if row is None or row.kind != "payment":
        raise NotFound(f"There is no payment request {request_id}.")
    P = payments.c
    lines = conn.execute(
        select(
            P.utility_code,
            func.coalesce(billers.c.name, P.utility_code).label("name"),
            func.count().label("payments"),
            func.sum(P.total).label("total"),
        )
        .select_from(payments.outerjoin(billers, billers.c.utility_code == P.utility_code))
        .where(P.request_id == request_id)
        .group_by(P.utility_code, billers.c.name)
        .order_by(P.utility_code)
    ).all()
    day = maker_day(row.created_at)
    return Waiting(
        id=row.id,
        state=row.state,
        created_by=row.created_by,
        created_at=row.created_at,
        selection=row.selection,
        payments=row.total_items,
        total=row.total_amount or Decimal("0"),
        reasons=parse_reasons(row.approval_reason),
        day=day,
        day_counted=MakerDays(conn).counted(row.created_by, day),
        billers=[
            BillerLine(line.utility_code, line.name, int(line.payments), Decimal(line.total))
            for line in lines
        ],
        start_at=row.start_at,
    )


__all__ = ["BillerLine", "Outlook", "Waiting", "outlook", "waiting"]
