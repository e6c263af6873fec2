"""The claim: the only door to billpay (``dispatched → sending``), for one payment or many.

One transaction decides, with the database's clock: each payment must still be
``dispatched`` for this very dispatch (its attempt number), its claim deadline not passed,
and the wallet breaker must let it through (while *probing*: one payment, and none while
another is being sent). The claim writes ``send_by_at`` (now + the send window) and
``answer_by_at`` (send-by + the client's connect and read timeouts) on the row. The caller
commits, then sends each claimed payment at once — never after its send-by moment, measured
from a local clock read *before* the claim, so that it errs early — or reports it not sent.

``answer_by_at`` is the one deadline the scheduler needs: a payment still ``sending`` past it
(plus a grace) lost its sender; "not found" enquiry answers are believed only after it (plus
the grace). The communicator writes it from its own client settings, so no setting of the
scheduler has to agree with the communicator's timeouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.stores.breaker import CLOSED, PROBING, WalletBreaker
from bbp_common.core.stores.payments import PaymentRow, PaymentStore
from bbp_common.core.stores.sql import NOW, Sql, marks

S = PaymentState


class ClaimResult(StrEnum):
    CLAIMED = "claimed"  # ours to send, committed before the call
    DUPLICATE = "duplicate"  # sending or later for this attempt: only acknowledge
    SUPERSEDED = "superseded"  # another dispatch (attempt) of the payment: drop this one
    EXPIRED = "expired"  # its claim deadline passed: it can never be claimed (never sent)
    BREAKER_OPEN = "breaker_open"  # the wallet breaker refused: back to the queue, uncounted
    SENDER_DIED = "sender_died"  # redelivered while sending this attempt: enquire
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class PayOrder:
    """What a claimed payment is sent with: amounts and wallets from our database only."""

    payment_id: int
    reference_id: str
    attempt: int
    consumer_id: str
    bill_number: str
    total: Decimal
    biller_code: str | None
    receiver_wallet: str | None
    product_id: int | None
    biller_name: str | None


@dataclass(frozen=True)
class Claim:
    payment_id: int
    attempt: int
    result: ClaimResult
    order: PayOrder | None = None
    probing: bool = False


@dataclass(frozen=True)
class ClaimRequest:
    payment_id: int
    attempt: int
    redelivered: bool = False


def claim(
    store: PaymentStore,
    breaker: WalletBreaker,
    wanted: Sequence[ClaimRequest],
    *,
    send_window: float,
    answer_window: float,
) -> list[Claim]:
    """Claim what may be sent now; refused ones say why. Payments the breaker refused go
    back to the queue here (uncounted: not their fault). The caller commits, then sends."""
    gate = breaker.gate()
    ids = [w.payment_id for w in wanted]
    rows = store.lock(ids)
    live = _live(store, [i for i in ids if i in rows and rows[i].state is S.DISPATCHED])
    claims: list[Claim] = []
    claimable: list[PaymentRow] = []
    refused: list[PaymentRow] = []
    for want in wanted:
        row = rows.get(want.payment_id)
        if row is None:
            claims.append(Claim(want.payment_id, want.attempt, ClaimResult.NOT_FOUND))
            continue
        row = store.current(row.id)
        result: ClaimResult | None = None
        if row.attempt != want.attempt:
            result = ClaimResult.SUPERSEDED
        elif row.state is S.SENDING:
            result = ClaimResult.SENDER_DIED if want.redelivered else ClaimResult.DUPLICATE
        elif row.state is not S.DISPATCHED:
            result = ClaimResult.DUPLICATE
        elif row.id not in live:
            result = ClaimResult.EXPIRED
        elif gate not in (CLOSED, PROBING) or (gate == PROBING and claimable):
            result = ClaimResult.BREAKER_OPEN
            refused.append(row)
        if result is not None:
            claims.append(Claim(row.id, want.attempt, result))
            continue
        claimable.append(row)
    if refused:
        store.never_left(refused, "the wallet breaker refused the claim", counted=False)
    orders = _claim_rows(store, claimable, send_window, answer_window)
    for row in claimable:
        order = orders.get(row.id)
        claims.append(
            Claim(
                row.id,
                row.attempt,
                ClaimResult.CLAIMED if order else ClaimResult.NOT_FOUND,
                order,
                probing=gate == PROBING,
            )
        )
    return claims


def _live(store: PaymentStore, ids: list[int]) -> set[int]:
    """Which locked dispatches can still be claimed, on the database's clock."""
    if not ids:
        return set()
    rows = store.conn.exec_driver_sql(
        f"SELECT id FROM payments WHERE id IN ({marks(len(ids))})"
        " AND deadline_at > UTC_TIMESTAMP(6)",
        tuple(ids),
    )
    return {row_id for (row_id,) in rows}


def _claim_rows(
    store: PaymentStore, rows: list[PaymentRow], send_window: float, answer_window: float
) -> dict[int, PayOrder]:
    """``dispatched → sending`` for the locked, live rows, then what to send them with."""
    if not rows:
        return {}
    send_us = int(send_window * 1_000_000)
    answer_us = int((send_window + answer_window) * 1_000_000)
    values = {
        "sending_at": NOW,
        "send_by_at": Sql(f"DATE_ADD(UTC_TIMESTAMP(6), INTERVAL {send_us} MICROSECOND)"),
        "answer_by_at": Sql(f"DATE_ADD(UTC_TIMESTAMP(6), INTERVAL {answer_us} MICROSECOND)"),
        "sent_by": store.actor,
    }
    for row in rows:
        store.move(row, S.SENDING, "claimed for billpay", values)
    store.flush()
    ids = [row.id for row in rows]
    found = store.conn.exec_driver_sql(
        "SELECT p.id, p.reference_id, p.attempt, p.consumer_id, p.bill_number, p.total,"
        " b.biller_code, b.receiver_wallet, b.product_id, b.name"
        " FROM payments p LEFT JOIN billers b ON b.utility_code = p.utility_code"
        f" WHERE p.id IN ({marks(len(ids))})",
        tuple(ids),
    ).all()
    return {r[0]: PayOrder(*r) for r in found}


def describe(claims: Sequence[Claim]) -> dict[str, Any]:
    """Counts per result, for a log line."""
    counts: dict[str, int] = {}
    for c in claims:
        counts[c.result.value] = counts.get(c.result.value, 0) + 1
    return counts
