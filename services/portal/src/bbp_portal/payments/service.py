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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from bbp_common.core.domain.approvals import (
    ApprovalLimits,
    ApprovalReason,
    approval_reasons,
    parse_reasons,
    reasons_text,
)
from bbp_common.core.domain.payments import PaymentState, new_reference_id
from bbp_common.core.domain.requests import RequestKind, RequestState
from bbp_common.core.domain.schedules import Hold, Schedule, ScheduleRefused
from bbp_common.core.stores import MakerDays, PaymentStore, RequestStore
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
from bbp_portal.payments.pending import Examined, examine

log = get_logger(__name__)

OnCreated = Callable[[Connection, int, bool], None]
"""Runs inside the creating transaction with ``(conn, request_id, awaiting_approval)``: the
caller's audit entry and notifications commit with the request or not at all."""

Vet = Callable[[Connection, Examined], dict[int, str]]
"""Runs inside the creating transaction after the usual checks: more reasons some bills
cannot be paid (a "pay again" refuses every bill its source request does not offer)."""


@dataclass(frozen=True)
class Origin:
    """Where a payment request comes from, when not from a person's choice of pending bills:
    a "pay again" of a finished request (``vet`` re-checks its bills in the transaction)."""

    origin: str
    source_request_id: int
    vet: Vet | None = None


class StepUpMissing(RequestError):
    """The request would be sent at once, but its maker made no fresh step-up (pages: they
    step up first, and nothing was written)."""

    code = "step_up_required"


class ScheduleInvalid(RequestError):
    """The schedule cannot be kept (its start passed, is too far, days out of range)."""

    def __init__(self, refused: ScheduleRefused) -> None:
        super().__init__(str(refused))
        self.code = refused.code


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


def _scheduled_order(schedule: Schedule) -> Callable[[Any], tuple[datetime, int, date, int]]:
    """A scheduled request's payments in the order they become due, then as above."""

    def key(row: Any) -> tuple[datetime, int, date, int]:
        return (schedule.due_at(row.due_date), *_order(row.due_date, row.id))

    return key


def create_payment_request(
    engine: Engine,
    created_by: str,
    bill_ids: Sequence[int],
    *,
    idempotency_key: str | None = None,
    max_bill_age: timedelta | None = None,
    limits: ApprovalLimits | None = None,
    step_up_missing: bool = False,
    refuse_without_step_up: bool = False,
    selection: str = "",
    relay: Relay | None = None,
    on_created: OnCreated | None = None,
    schedule: Schedule | None = None,
    origin: Origin | None = None,
) -> Created:
    """One payment request with one payment (and its own reference id) per bill.

    Refuses the whole request, naming each problem bill, when a bill is unknown, fetched
    longer ago than ``max_bill_age``, of an inactive biller, or already in a live payment —
    the unique index on ``live_bill_key`` settles any race with another request. The same
    ``idempotency_key`` returns the request it already created (a double-clicked confirm).

    Maker-checker (``bbp_common.core.domain.approvals``): the request waits in
    ``awaiting_approval`` when its total is above ``limits.per_request``, when it takes its
    maker's day above ``limits.per_maker_day``, or when ``step_up_missing`` (the API). With
    ``refuse_without_step_up`` (the pages) a missing step-up is no reason to wait: when it is
    all the request lacks, :class:`StepUpMissing` and nothing is written; when the request
    waits for a limit anyway, its maker was asked for none. With a daily limit, the maker's
    row of the day is locked first, so the maker's requests are judged one at a time.

    With a ``schedule`` (``bbp_common.core.domain.schedules``) the request is ``scheduled``
    (after its approval, when it needs one) and its payments wait as ``scheduled``, each with
    its due time: the scheduler starts it then, fetching each bill again first. A start that
    is not ahead of the database's clock is refused (:class:`ScheduleInvalid`). ``origin``: a
    "pay again" (its ``vet`` refuses, in this transaction, what its source does not offer).
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
            limits or ApprovalLimits(),
            (step_up_missing, refuse_without_step_up),
            selection,
            relay,
            on_created,
            schedule,
            origin,
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
                bulk_requests.c.approval_reason,
                bulk_requests.c.start_at,
            ).where(bulk_requests.c.idempotency_key == key)
        ).one()
    return Created(
        row.id,
        row.total_items,
        row.total_amount,
        existing=True,
        awaiting_approval=row.state == "awaiting_approval",
        approval_reasons=tuple(r.value for r in parse_reasons(row.approval_reason)),
        start_at=row.start_at,
    )


@retry_transaction
def _create_payment_request(
    engine: Engine,
    created_by: str,
    ids: list[int],
    idempotency_key: str | None,
    max_bill_age: timedelta | None,
    limits: ApprovalLimits,
    step_up: tuple[bool, bool],
    selection: str,
    relay: Relay | None,
    on_created: OnCreated | None,
    schedule: Schedule | None = None,
    origin: Origin | None = None,
) -> Created:
    step_up_missing, refuse_without_step_up = step_up
    with engine.begin() as conn:
        # First: the maker's day, locked — a second request of the same maker waits here
        # until this one commits, then counts it.
        days = MakerDays(conn)
        day = days.lock(created_by) if limits.per_maker_day is not None else None
        if idempotency_key:
            existing = conn.execute(
                select(bulk_requests.c.id).where(bulk_requests.c.idempotency_key == idempotency_key)
            ).scalar()
            if existing is not None:
                return _existing(engine, idempotency_key)
        if schedule is not None:
            try:
                schedule.check(day.now if day else _db_now(conn))
            except ScheduleRefused as exc:
                raise ScheduleInvalid(exc) from None
        found = examine(conn, ids, max_bill_age)
        if origin is not None and origin.vet is not None:
            for bill_id, problem in origin.vet(conn, found).items():
                found.problems.setdefault(bill_id, problem)
        if found.problems:
            raise BillsUnavailable(
                f"{len(found.problems)} of the selected bills cannot be paid now.", found.problems
            )
        rows, keys, totals = found.rows, found.keys, found.totals
        total_amount = sum(totals.values(), Decimal("0"))
        reasons = approval_reasons(
            total_amount,
            day.counted if day else Decimal("0"),
            limits,
            step_up_missing=step_up_missing,
        )
        if refuse_without_step_up and ApprovalReason.STEP_UP in reasons:
            if reasons == (ApprovalReason.STEP_UP,):
                raise StepUpMissing("Confirm it is you (password and OTP) before paying.")
            # It waits for a limit anyway: the page asked its maker for no step-up.
            reasons = tuple(r for r in reasons if r is not ApprovalReason.STEP_UP)
        needs_approval = bool(reasons)
        if needs_approval:
            state = RequestState.AWAITING_APPROVAL
        else:
            state = RequestState.SCHEDULED if schedule else RequestState.QUEUED
        due = {row.id: schedule.due_at(row.due_date) for row in rows} if schedule else {}
        requests = RequestStore(conn, actor=f"portal:{created_by}")
        request_id = requests.add(
            RequestKind.PAYMENT,
            state,
            "payment request created"
            + (f": waits for approval ({', '.join(reasons)})" if needs_approval else "")
            + (f"; scheduled from {min(due.values()):%Y-%m-%d %H:%M} UTC" if due else ""),
            created_by=created_by,
            approval_reason=reasons_text(reasons),
            selection=selection[:500],
            idempotency_key=idempotency_key,
            total_items=len(rows),
            total_amount=total_amount,
            correlation_id=get_correlation_id(),
            # The day it counts for is the day its maker's row was locked for.
            **({"created_at": day.now} if day else {}),
            **(
                {"start_at": min(due.values()), "days_before_due": schedule.days_before_due}
                if schedule and due
                else {}
            ),
            **(
                {"origin": origin.origin, "source_request_id": origin.source_request_id}
                if origin
                else {}
            ),
        )
        ordered = sorted(
            rows,
            key=_scheduled_order(schedule) if schedule else (lambda r: _order(r.due_date, r.id)),
        )
        PaymentStore(conn, actor=f"portal:{created_by}").add_queued(
            request_id,
            [
                {
                    **({"due_at": due[row.id], "hold": Hold.DUE.value} if schedule else {}),
                    "bill_id": row.id,
                    "reference_id": new_reference_id(),
                    "bill_account_id": row.bill_account_id,
                    "utility_code": row.utility_code,
                    "consumer_id": row.consumer_id,
                    "bill_number": row.bill_number,
                    "due_date": row.due_date,
                    "amount": row.amount,
                    "service_charge": totals[row.id] - row.amount,  # the one rule
                    "total": totals[row.id],
                    "dispatch_order": position,
                    "live_bill_key": keys[row.id],
                }
                for position, row in enumerate(ordered)
            ],
            "payment request created" + (": waits for its due time" if schedule else ""),
            state=PaymentState.SCHEDULED if schedule else PaymentState.QUEUED,
        )
        if day is not None:
            days.created(day)
        # A scheduled request needs no message: the scheduler looks for due ones itself.
        message_id = submit(conn, request_id, "payment") if state is RequestState.QUEUED else None
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
        approval_reasons=list(reasons),
        start_at=min(due.values()).isoformat() if due else None,
    )
    return Created(
        request_id,
        len(rows),
        total_amount,
        awaiting_approval=needs_approval,
        approval_reasons=tuple(reasons),
        start_at=min(due.values()) if due else None,
    )


def _db_now(conn: Connection) -> datetime:
    return conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar_one()  # type: ignore[no-any-return]


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
    "Origin",
    "ScheduleInvalid",
    "StepUpMissing",
    "Vet",
    "cancel_queued_payments",
    "cancel_request",
    "create_payment_request",
]
