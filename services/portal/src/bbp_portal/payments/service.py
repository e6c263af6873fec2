"""Writing payment requests: creating one, cancelling its queued payments.

A payment request, its payments (each with its own reference id), their ``payment_events``
and the tallies commit in one transaction with the ``request.submitted`` outbox row, which
is relayed right after the commit; the scheduler takes it from there. What a payment pays
comes from our database — the bill's amount (plus its service charge where the biller says
so) — never from the browser. The person-facing rules around these writes (idempotency
keys, maker-checker, audit) are in ``operations``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from bbp_common.core.domain.payments import new_reference_id
from bbp_common.core.domain.requests import RequestKind, RequestState
from bbp_common.core.stores import PaymentStore, RequestStore
from bbp_common.platform.db.retry import retry_transaction
from bbp_common.platform.db.tables import bulk_requests
from bbp_common.platform.logging import get_correlation_id, get_logger
from bbp_portal.bulk.service import (
    Created,
    InTransaction,
    NothingSelected,
    Relay,
    RequestError,
    cancel,
    relay_now,
    submit,
)
from bbp_portal.payments.pending import examine

log = get_logger(__name__)

OnCreated = Callable[[Connection, int, bool], None]
"""Runs inside the creating transaction with ``(conn, request_id, awaiting_approval)``: the
caller's audit entry and notifications commit with the request or not at all."""


class BillsUnavailable(RequestError):
    """Some bills cannot be paid now: unknown, stale, already in a live payment, biller off."""

    code = "bills_unavailable"

    def __init__(self, message: str, problems: dict[int, str]) -> None:
        super().__init__(message)
        self.problems = problems


# --------------------------------------------------------------------------- creating


def _order(due: date | None, bill_id: int) -> tuple[int, date, int]:
    """Oldest due date first, bills without a due date last."""
    return (1, date.max, bill_id) if due is None else (0, due, bill_id)


def create_payment_request(
    engine: Engine,
    created_by: str,
    bill_ids: Sequence[int],
    *,
    idempotency_key: str | None = None,
    max_bill_age: timedelta | None = None,
    approval_threshold: Decimal | None = None,
    selection: str = "",
    relay: Relay | None = None,
    on_created: OnCreated | None = None,
) -> Created:
    """One payment request with one payment (and its own reference id) per bill.

    Refuses the whole request, naming each problem bill, when a bill is unknown, fetched
    longer ago than ``max_bill_age``, of an inactive biller, or already in a live payment —
    the unique index on ``live_bill_key`` settles any race with another request. The same
    ``idempotency_key`` returns the request it already created (a double-clicked confirm).
    """
    ids = sorted(set(bill_ids))
    if not ids:
        raise NothingSelected("Select at least one bill to pay.")
    try:
        return _create_payment_request(
            engine,
            created_by,
            ids,
            idempotency_key,
            max_bill_age,
            approval_threshold,
            selection,
            relay,
            on_created,
        )
    except IntegrityError as exc:
        if idempotency_key and "idempotency_key" in str(exc.orig):
            return _existing(engine, idempotency_key)
        if "live_bill_key" in str(exc.orig):
            raise BillsUnavailable(
                "Another payment of one of these bills started meanwhile; review and try again.",
                {},
            ) from None
        raise


def _existing(engine: Engine, key: str) -> Created:
    with engine.connect() as conn:
        row = conn.execute(
            select(
                bulk_requests.c.id,
                bulk_requests.c.total_items,
                bulk_requests.c.total_amount,
                bulk_requests.c.state,
            ).where(bulk_requests.c.idempotency_key == key)
        ).one()
    return Created(
        row.id,
        row.total_items,
        row.total_amount,
        existing=True,
        awaiting_approval=row.state == "awaiting_approval",
    )


@retry_transaction
def _create_payment_request(
    engine: Engine,
    created_by: str,
    ids: list[int],
    idempotency_key: str | None,
    max_bill_age: timedelta | None,
    approval_threshold: Decimal | None,
    selection: str,
    relay: Relay | None,
    on_created: OnCreated | None,
) -> Created:
    with engine.begin() as conn:
        if idempotency_key:
            existing = conn.execute(
                select(bulk_requests.c.id).where(bulk_requests.c.idempotency_key == idempotency_key)
            ).scalar()
            if existing is not None:
                return _existing(engine, idempotency_key)
        found = examine(conn, ids, max_bill_age)
        if found.problems:
            raise BillsUnavailable(
                f"{len(found.problems)} of the selected bills cannot be paid now.", found.problems
            )
        rows, keys, totals = found.rows, found.keys, found.totals
        total_amount = sum(totals.values(), Decimal("0"))
        needs_approval = approval_threshold is not None and total_amount > approval_threshold
        requests = RequestStore(conn, actor=f"portal:{created_by}")
        request_id = requests.add(
            RequestKind.PAYMENT,
            RequestState.AWAITING_APPROVAL if needs_approval else RequestState.QUEUED,
            "payment request created" + (": waits for approval" if needs_approval else ""),
            created_by=created_by,
            selection=selection[:500],
            idempotency_key=idempotency_key,
            total_items=len(rows),
            total_amount=total_amount,
            correlation_id=get_correlation_id(),
        )
        ordered = sorted(rows, key=lambda r: _order(r.due_date, r.id))
        PaymentStore(conn, actor=f"portal:{created_by}").add_queued(
            request_id,
            [
                {
                    "bill_id": row.id,
                    "reference_id": new_reference_id(),
                    "bill_account_id": row.bill_account_id,
                    "utility_code": row.utility_code,
                    "consumer_id": row.consumer_id,
                    "bill_number": row.bill_number,
                    "due_date": row.due_date,
                    "amount": row.amount,
                    "service_charge": row.service_charge
                    if row.pays_service_charge
                    else Decimal("0"),
                    "total": totals[row.id],
                    "dispatch_order": position,
                    "live_bill_key": keys[row.id],
                }
                for position, row in enumerate(ordered)
            ],
            "payment request created",
        )
        message_id = None if needs_approval else submit(conn, request_id, "payment")
        if on_created is not None:
            on_created(conn, request_id, needs_approval)
    if message_id:
        relay_now(relay, [message_id])
    log.info(
        "payment_request_created",
        request_id=request_id,
        payments=len(rows),
        total=str(total_amount),
        created_by=created_by,
        awaiting_approval=needs_approval,
    )
    return Created(request_id, len(rows), total_amount, awaiting_approval=needs_approval)


# --------------------------------------------------------------------------- cancelling


def cancel_queued_payments(
    conn: Connection, request_id: int, by: str, *, cause: str = "request cancelled"
) -> tuple[int, Decimal]:
    """``queued → cancelled`` for every payment of the request not yet dispatched, through
    the payment store (locked, evented, tallied, the bills freed). The caller holds the
    request's row lock, so the dispatcher (which re-reads the request with a shared lock)
    cannot take more of them meanwhile; payments in flight finish — or, if they come back
    unsent, are cancelled then (the store looks at the request before queueing any payment
    again). Returns (payments, amount) cancelled."""
    return PaymentStore(conn, actor=f"portal:{by}").cancel_queued(request_id, f"{cause} by {by}")


def cancel_request(
    engine: Engine,
    request_id: int,
    by: str,
    *,
    relay: Relay | None = None,
    in_transaction: InTransaction | None = None,
) -> int:
    """Cancel a payment request: its queued payments are cancelled (their bills are free
    again); what is in flight finishes. Returns payments cancelled.

    Works in every state where something may still be sent (``CANCELLABLE``): payments in
    flight finish, or are cancelled if they come back unsent. ``in_transaction`` runs
    before the commit (the caller's audit entry).
    """

    def cancel_items(conn: Connection) -> int:
        cancelled, _amount = cancel_queued_payments(conn, request_id, by)
        return cancelled

    return cancel(
        engine, request_id, by, "payment", cancel_items, relay=relay, in_transaction=in_transaction
    )


__all__ = [
    "BillsUnavailable",
    "Created",
    "NothingSelected",
    "OnCreated",
    "cancel_queued_payments",
    "cancel_request",
    "create_payment_request",
]
