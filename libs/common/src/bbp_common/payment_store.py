"""Payment state changes in MySQL: every change conditional, recorded and tallied.

Each function runs inside the caller's transaction and changes a payment only if it is
still in the state the caller saw (``UPDATE … WHERE state IN (…)``), so concurrent actors —
the scheduler, any number of communicators, a person — can never both win. Every change
writes a ``payment_events`` row (reference id, time, cause, actor) and moves the request's
tallies in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, insert, literal, select, text, update
from sqlalchemy.dialects import mysql

from bbp_common.db.tables import (
    payment_anomalies,
    payment_events,
    payments,
    request_tallies,
    wallet_breaker,
)
from bbp_common.domain.payments import (
    RELEASING_STATES,
    PaymentState,
    check_transition,
)

S = PaymentState
BREAKER = "payer"

#: Tally bucket of each state: dispatched and sending count as one ("in flight"), so the
#: claim — the hottest change — never touches the tallies.
BUCKET = {
    S.QUEUED: "queued",
    S.DISPATCHED: "in_flight",
    S.SENDING: "in_flight",
    S.POSTED: "posted",
    S.SUCCEEDED: "succeeded",
    S.FAILED: "failed",
    S.AMBIGUOUS: "ambiguous",
    S.UNCLEARED: "uncleared",
    S.CANCELLED: "cancelled",
}


def bump_tallies(
    conn: Connection, request_id: int, changes: Mapping[str, tuple[int, Decimal]]
) -> None:
    """Add ``(count, amount)`` to each bucket of a request (negative to take away).

    Buckets are written in sorted order so that two transactions touching the same request
    lock its tally rows in the same order (no deadlock between them).
    """
    for bucket in sorted(changes):
        count, amount = changes[bucket]
        if count == 0 and amount == 0:
            continue
        stmt = mysql.insert(request_tallies).values(
            request_id=request_id, bucket=bucket, item_count=count, amount=amount
        )
        conn.execute(
            stmt.on_duplicate_key_update(
                item_count=request_tallies.c.item_count + stmt.inserted.item_count,
                amount=request_tallies.c.amount + stmt.inserted.amount,
            )
        )


def _move_tally(
    conn: Connection, request_id: int, old: PaymentState, new: PaymentState, total: Decimal
) -> None:
    if BUCKET[old] != BUCKET[new]:
        bump_tallies(conn, request_id, {BUCKET[old]: (-1, -total), BUCKET[new]: (1, total)})


def record_event(
    conn: Connection,
    payment_id: int,
    reference_id: str,
    old: PaymentState | None,
    new: PaymentState,
    cause: str,
    actor: str,
) -> None:
    conn.execute(
        insert(payment_events).values(
            payment_id=payment_id,
            reference_id=reference_id,
            from_state=old.value if old else None,
            to_state=new.value,
            cause=cause[:255],
            actor=actor[:128],
            occurred_at=func.utc_timestamp(6),
        )
    )


@dataclass(frozen=True)
class PaymentRow:
    id: int
    request_id: int
    reference_id: str
    state: PaymentState
    total: Decimal
    attempt: int

    @classmethod
    def of(cls, row: Any) -> PaymentRow:
        return cls(row.id, row.request_id, row.reference_id, S(row.state), row.total, row.attempt)


def load(conn: Connection, payment_id: int, *, lock: bool = False) -> PaymentRow | None:
    query = select(
        payments.c.id,
        payments.c.request_id,
        payments.c.reference_id,
        payments.c.state,
        payments.c.total,
        payments.c.attempt,
    ).where(payments.c.id == payment_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return PaymentRow.of(row) if row else None


def transition(
    conn: Connection,
    payment: PaymentRow,
    target: PaymentState,
    *,
    cause: str,
    actor: str,
    expect: Iterable[PaymentState] | None = None,
    extra_where: Any = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Move ``payment`` to ``target`` if it is still in ``expect`` (default: its seen state).

    Returns False, changing nothing, when someone else moved it first. The live-bill key is
    cleared on failed/cancelled so the bill can be paid again.
    """
    check_transition(payment.state, target)
    allowed = [s.value for s in (expect or [payment.state])]
    new_values: dict[str, Any] = dict(values or {})
    new_values["state"] = target.value
    if target in RELEASING_STATES:
        new_values["live_bill_key"] = None
    condition = and_(payments.c.id == payment.id, payments.c.state.in_(allowed))
    if extra_where is not None:
        condition = and_(condition, extra_where)
    result = conn.execute(update(payments).where(condition).values(**new_values))
    if result.rowcount != 1:
        return False
    record_event(conn, payment.id, payment.reference_id, payment.state, target, cause, actor)
    _move_tally(conn, payment.request_id, payment.state, target, payment.total)
    return True


class ClaimResult(StrEnum):
    CLAIMED = "claimed"  # ours to send, committed before the call
    DUPLICATE = "duplicate"  # sending or later: someone else has it; only acknowledge
    SUPERSEDED = "superseded"  # a newer dispatch of the same payment exists; drop this one
    EXPIRED = "expired"  # deadline passed while dispatched: marked failed, never sent
    BREAKER_OPEN = "breaker_open"  # the paying wallet's breaker is open: back to queued
    SENDER_DIED = "sender_died"  # redelivered while sending: its sender died mid-call
    NOT_FOUND = "not_found"


def claim(
    conn: Connection, payment_id: int, attempt: int, *, actor: str, redelivered: bool
) -> ClaimResult:
    """The only door to billpay: ``dispatched → sending`` if still ours to send.

    One conditional UPDATE decides, with the database's clock: the payment is still
    ``dispatched`` for this very dispatch (``attempt``), its deadline has not passed, and
    the wallet breaker is closed. The caller commits before making the HTTP call.
    """
    breaker_closed = (
        select(literal(1))
        .select_from(wallet_breaker)
        .where(wallet_breaker.c.name == BREAKER, wallet_breaker.c.state == "closed")
        .exists()
    )
    result = conn.execute(
        update(payments)
        .where(
            payments.c.id == payment_id,
            payments.c.state == S.DISPATCHED.value,
            payments.c.attempt == attempt,
            payments.c.deadline_at > func.utc_timestamp(6),
            breaker_closed,
        )
        .values(state=S.SENDING.value, sending_at=func.utc_timestamp(6), sent_by=actor[:128])
    )
    payment = load(conn, payment_id, lock=True)
    if payment is None:
        return ClaimResult.NOT_FOUND
    if result.rowcount == 1:
        record_event(
            conn,
            payment.id,
            payment.reference_id,
            S.DISPATCHED,
            S.SENDING,
            "claimed for billpay",
            actor,
        )
        return ClaimResult.CLAIMED
    # The claim failed: find out why, and act only through conditional updates.
    if payment.state is S.SENDING:
        return ClaimResult.SENDER_DIED if redelivered else ClaimResult.DUPLICATE
    if payment.state is not S.DISPATCHED:
        return ClaimResult.DUPLICATE
    if payment.attempt != attempt:
        return ClaimResult.SUPERSEDED
    expired = conn.execute(
        select(payments.c.deadline_at <= func.utc_timestamp(6)).where(payments.c.id == payment_id)
    ).scalar_one()
    if expired:
        transition(
            conn,
            payment,
            S.FAILED,
            cause="expired, not sent",
            actor=actor,
            values={"reason": "expired, not sent"},
            extra_where=and_(
                payments.c.attempt == attempt, payments.c.deadline_at <= func.utc_timestamp(6)
            ),
        )
        return ClaimResult.EXPIRED
    transition(
        conn,
        payment,
        S.QUEUED,
        cause="wallet breaker open",
        actor=actor,
        values={"dispatched_at": None, "deadline_at": None},
        extra_where=payments.c.attempt == attempt,
    )
    return ClaimResult.BREAKER_OPEN


def breaker_is_open(conn: Connection) -> bool:
    state = conn.execute(
        select(wallet_breaker.c.state).where(wallet_breaker.c.name == BREAKER)
    ).scalar()
    return state == "open"


def open_breaker(conn: Connection, *, reason: str, reference_id: str | None) -> bool:
    """Open the paying wallet's breaker (idempotent). True if this call opened it."""
    result = conn.execute(
        update(wallet_breaker)
        .where(wallet_breaker.c.name == BREAKER, wallet_breaker.c.state == "closed")
        .values(
            state="open",
            opened_at=func.utc_timestamp(6),
            opened_reason=reason[:255],
            opened_by_reference=reference_id,
            closed_by=None,
            closed_at=None,
        )
    )
    return result.rowcount == 1


def close_breaker(conn: Connection, *, by: str) -> bool:
    result = conn.execute(
        update(wallet_breaker)
        .where(wallet_breaker.c.name == BREAKER, wallet_breaker.c.state == "open")
        .values(state="closed", closed_by=by[:64], closed_at=func.utc_timestamp(6))
    )
    return result.rowcount == 1


def record_anomaly(conn: Connection, payment: PaymentRow, result_kind: str, result: str) -> None:
    """Keep a result that disagrees with the payment's final state, for a person."""
    conn.execute(
        insert(payment_anomalies).values(
            payment_id=payment.id,
            reference_id=payment.reference_id,
            state_at_receipt=payment.state.value,
            result_kind=result_kind[:32],
            result=result,
            received_at=func.utc_timestamp(6),
        )
    )


def db_time(conn: Connection) -> Any:
    return conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
