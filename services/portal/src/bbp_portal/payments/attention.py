"""Needs attention: everything a person must look at, and the wallet breaker.

Each list is read from an index on its condition — ``payments (state, …)``,
``bulk_requests (state, id)``, ``payment_anomalies (acknowledged_at, id)`` — so its cost
follows the number of problems, not the number of payments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from bbp_common.core.stores.breaker import NAME as BREAKER
from bbp_common.platform.db.tables import bulk_requests, payment_anomalies, payments, wallet_breaker

P = payments.c


@dataclass(frozen=True)
class Breaker:
    state: str
    opened_at: datetime | None
    opened_reason: str | None
    opened_by_reference: str | None
    closed_by: str | None
    closed_at: datetime | None

    @property
    def stops_payments(self) -> bool:
        """Open: no payment of any request is sent."""
        return self.state == "open"

    @property
    def resuming(self) -> bool:
        """Probing after a person closed it: one payment at a time until one proves the
        wallet. (A new deployment probes too, but nothing went wrong there: not this.)"""
        return self.state == "probing" and self.closed_by is not None

    @property
    def needs_attention(self) -> bool:
        """Open, or resuming after an opening. A breaker that never opened is no problem,
        even while it proves a new deployment's wallet with its first payment."""
        return self.stops_payments or self.resuming


def breaker(conn: Connection) -> Breaker:
    row = conn.execute(select(wallet_breaker).where(wallet_breaker.c.name == BREAKER)).first()
    if row is None:
        return Breaker("probing", None, None, None, None, None)
    return Breaker(
        row.state,
        row.opened_at,
        row.opened_reason,
        row.opened_by_reference,
        row.closed_by,
        row.closed_at,
    )


@dataclass(frozen=True)
class Attention:
    breaker: Breaker
    troubled: list[dict[str, Any]]
    anomalies: list[Any]
    auto_paused: list[Any]
    paused: list[Any]
    awaiting_approval: list[Any]

    @property
    def empty(self) -> bool:
        return (
            not self.breaker.needs_attention
            and not self.troubled
            and not self.anomalies
            and not self.auto_paused
            and not self.paused
            and not self.awaiting_approval
        )

    def count(self) -> int:
        return (
            self.breaker.needs_attention
            + len(self.troubled)
            + len(self.anomalies)
            + len(self.auto_paused)
            + len(self.awaiting_approval)
        )


_REQUEST_BRIEF = (
    bulk_requests.c.id,
    bulk_requests.c.kind,
    bulk_requests.c.state,
    bulk_requests.c.created_by,
    bulk_requests.c.created_at,
    bulk_requests.c.total_items,
    bulk_requests.c.total_amount,
    bulk_requests.c.paused_by,
    bulk_requests.c.paused_reason,
)


def attention(conn: Connection, *, limit: int = 200) -> Attention:
    """Everything a person must look at, each list from an index on its condition."""
    troubled: dict[int, dict[str, Any]] = {}
    for state in ("uncleared", "ambiguous", "unsent"):
        rows = conn.execute(
            select(P.request_id, func.count().label("n"), func.sum(P.total).label("amount"))
            .where(P.state == state)
            .group_by(P.request_id)
            .order_by(P.request_id.desc())
            .limit(limit)
        ).all()
        for row in rows:
            entry = troubled.setdefault(
                row.request_id,
                {
                    "request_id": row.request_id,
                    "uncleared": 0,
                    "ambiguous": 0,
                    "unsent": 0,
                    "uncleared_amount": Decimal("0"),
                    "ambiguous_amount": Decimal("0"),
                    "unsent_amount": Decimal("0"),
                },
            )
            entry[state] = int(row.n)
            entry[f"{state}_amount"] = row.amount
    anomalies = conn.execute(
        select(
            payment_anomalies.c.id,
            payment_anomalies.c.payment_id,
            payment_anomalies.c.reference_id,
            payment_anomalies.c.state_at_receipt,
            payment_anomalies.c.result_kind,
            payment_anomalies.c.result,
            payment_anomalies.c.received_at,
            P.request_id,
            P.state.label("state_now"),
        )
        .select_from(payment_anomalies.join(payments, P.id == payment_anomalies.c.payment_id))
        .where(payment_anomalies.c.acknowledged_at.is_(None))
        .order_by(payment_anomalies.c.id.desc())
        .limit(limit)
    ).all()
    paused_rows = conn.execute(
        select(*_REQUEST_BRIEF)
        .where(bulk_requests.c.state == "paused")
        .order_by(bulk_requests.c.id.desc())
        .limit(limit)
    ).all()
    waiting = conn.execute(
        select(*_REQUEST_BRIEF)
        .where(bulk_requests.c.state == "awaiting_approval")
        .order_by(bulk_requests.c.id.asc())
        .limit(limit)
    ).all()
    return Attention(
        breaker(conn),
        sorted(troubled.values(), key=lambda e: e["request_id"], reverse=True),
        list(anomalies),
        [r for r in paused_rows if r.paused_by == "system"],
        [r for r in paused_rows if r.paused_by != "system"],
        list(waiting),
    )


__all__ = ["Attention", "Breaker", "attention", "breaker"]
