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

from bbp_common.db.tables import (
    payment_anomalies,
    payment_events,
    payments,
    wallet_breaker,
)
from bbp_common.domain.payments import (
    RELEASING_STATES,
    PaymentState,
    check_transition,
)
from bbp_common.tallies import bump as bump_tallies

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


def _move_tally(
    conn: Connection, request_id: int, old: PaymentState, new: PaymentState, total: Decimal
) -> None:
    if BUCKET[old] != BUCKET[new]:
        bump_tallies(conn, request_id, {BUCKET[old]: (-1, -total), BUCKET[new]: (1, total)})


_EVENT = insert(payment_events).values(occurred_at=func.utc_timestamp(6))


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
        _EVENT,
        {
            "payment_id": payment_id,
            "reference_id": reference_id,
            "from_state": old.value if old else None,
            "to_state": new.value,
            "cause": cause[:255],
            "actor": actor[:128],
        },
    )


def record_events_where(
    conn: Connection,
    condition: Any,
    old: PaymentState | None,
    new: PaymentState,
    cause: str,
    actor: str,
) -> None:
    """One event for every payment matching ``condition``, in one INSERT … SELECT (for
    changes made to many payments at once: creation, cancellation, a claim just made)."""
    conn.execute(
        insert(payment_events).from_select(
            [
                "payment_id",
                "reference_id",
                "from_state",
                "to_state",
                "cause",
                "actor",
                "occurred_at",
            ],
            select(
                payments.c.id,
                payments.c.reference_id,
                literal(old.value if old else None),
                literal(new.value),
                literal(cause[:255]),
                literal(actor[:128]),
                func.utc_timestamp(6),
            ).where(condition),
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
    later: Deferred | None = None,
) -> bool:
    """Move ``payment`` to ``target`` if it is still in ``expect`` (default: its seen state).

    Returns False, changing nothing, when someone else moved it first. The live-bill key is
    cleared on failed/cancelled so the bill can be paid again. With ``later``, the event
    and the tally move are collected there and written by ``later.flush`` in the same
    transaction (a batch of results writes them in two statements instead of many).
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
    if later is not None:
        later.event(payment, target, cause, actor)
        later.move(payment.request_id, payment.state, target, payment.total)
        return True
    record_event(conn, payment.id, payment.reference_id, payment.state, target, cause, actor)
    _move_tally(conn, payment.request_id, payment.state, target, payment.total)
    return True


class Deferred:
    """Events and tally moves of one transaction, written together at its end."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.changes: dict[int, dict[str, list[Any]]] = {}

    @property
    def requests(self) -> set[int]:
        return set(self.changes)

    def event(self, payment: PaymentRow, target: PaymentState, cause: str, actor: str) -> None:
        self.events.append(
            {
                "payment_id": payment.id,
                "reference_id": payment.reference_id,
                "from_state": payment.state.value,
                "to_state": target.value,
                "cause": cause[:255],
                "actor": actor[:128],
            }
        )

    def bump(self, request_id: int, changes: Mapping[str, tuple[int, Any]]) -> None:
        buckets = self.changes.setdefault(request_id, {})
        for bucket, (count, amount) in changes.items():
            entry = buckets.setdefault(bucket, [0, Decimal("0")])
            entry[0] += count
            entry[1] += amount

    def move(self, request_id: int, old: PaymentState, new: PaymentState, total: Decimal) -> None:
        if BUCKET[old] != BUCKET[new]:
            self.bump(request_id, {BUCKET[old]: (-1, -total), BUCKET[new]: (1, total)})

    def flush(self, conn: Connection) -> None:
        if self.events:
            conn.execute(_EVENT, self.events)
        for request_id in sorted(self.changes):
            bump_tallies(
                conn, request_id, {b: (c, a) for b, (c, a) in self.changes[request_id].items()}
            )
        self.events = []
        self.changes = {}


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
    the wallet breaker lets it through. While the breaker is *probing*, claims take the
    breaker row's lock and go only when no other payment is being sent: one at a time, so
    a wrong MPIN costs one failed attempt, not as many as were in flight. The caller
    commits before making the HTTP call.
    """
    state = breaker_state(conn)
    if state == "probing":
        state = conn.execute(
            select(wallet_breaker.c.state).where(wallet_breaker.c.name == BREAKER).with_for_update()
        ).scalar_one()
        if state == "probing" and _anything_sending(conn):
            state = "busy"
    result = None
    if state in ("closed", "probing"):
        breaker_lets_through = (
            select(literal(1))
            .select_from(wallet_breaker)
            .where(
                wallet_breaker.c.name == BREAKER,
                wallet_breaker.c.state.in_(["closed", "probing"]),
            )
            .exists()
        )
        result = conn.execute(
            update(payments)
            .where(
                payments.c.id == payment_id,
                payments.c.state == S.DISPATCHED.value,
                payments.c.attempt == attempt,
                payments.c.deadline_at > func.utc_timestamp(6),
                breaker_lets_through,
            )
            .values(state=S.SENDING.value, sending_at=func.utc_timestamp(6), sent_by=actor[:128])
        )
    if result is not None and result.rowcount == 1:
        # Ours, and locked by our UPDATE: record it in one statement and go.
        cause = "claimed for billpay" + (" (probing the wallet)" if state == "probing" else "")
        record_events_where(
            conn, payments.c.id == payment_id, S.DISPATCHED, S.SENDING, cause, actor
        )
        return ClaimResult.CLAIMED
    payment = load(conn, payment_id, lock=True)
    if payment is None:
        return ClaimResult.NOT_FOUND
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
        cause="wallet breaker open" if state == "open" else "wallet being probed",
        actor=actor,
        values={"dispatched_at": None, "deadline_at": None},
        extra_where=payments.c.attempt == attempt,
    )
    return ClaimResult.BREAKER_OPEN


def _anything_sending(conn: Connection) -> bool:
    sending = select(payments.c.id).where(payments.c.state == S.SENDING.value).limit(1)
    return conn.execute(sending).first() is not None


def breaker_state(conn: Connection) -> str:
    """``closed``, ``probing`` or ``open`` (see ``wallet_breaker``)."""
    state = conn.execute(
        select(wallet_breaker.c.state).where(wallet_breaker.c.name == BREAKER)
    ).scalar()
    return str(state or "probing")


def breaker_is_open(conn: Connection) -> bool:
    return breaker_state(conn) == "open"


def open_breaker(conn: Connection, *, reason: str, reference_id: str | None) -> bool:
    """Open the paying wallet's breaker (idempotent). True if this call opened it."""
    result = conn.execute(
        update(wallet_breaker)
        .where(wallet_breaker.c.name == BREAKER, wallet_breaker.c.state != "open")
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
    """A person closes it: payments resume one at a time until one proves the wallet."""
    result = conn.execute(
        update(wallet_breaker)
        .where(wallet_breaker.c.name == BREAKER, wallet_breaker.c.state == "open")
        .values(state="probing", closed_by=by[:64], closed_at=func.utc_timestamp(6))
    )
    return result.rowcount == 1


def confirm_wallet(conn: Connection) -> bool:
    """An answer proved the wallet authenticates: ``probing → closed`` (full speed)."""
    result = conn.execute(
        update(wallet_breaker)
        .where(wallet_breaker.c.name == BREAKER, wallet_breaker.c.state == "probing")
        .values(state="closed")
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
