"""Creating and cancelling bulk requests: the portal's whole part in the pipeline.

The portal never calls Mobiquity's bill endpoints. It writes a request, its items (fetch
items or payments) and their tallies in one transaction together with an outbox row, and
relays that row right after the commit; the scheduler takes it from there. What a payment
pays comes from our database — the bill's amount (plus its service charge where the
biller says so) — never from the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from bbp_common import outbox
from bbp_common.db.tables import (
    billers,
    bills,
    bulk_requests,
    fetch_items,
    payments,
)
from bbp_common.domain.payments import (
    RELEASING_STATES,
    PaymentState,
    live_bill_key,
    new_reference_id,
)
from bbp_common.domain.requests import CANCELLABLE, RequestKind, RequestState
from bbp_common.logging import get_correlation_id, get_logger
from bbp_common.messages import REQUEST_CHANGED, REQUEST_SUBMITTED
from bbp_common.messaging import EXCHANGE
from bbp_common.stores import FetchItemStore, PaymentStore, RequestStore
from bbp_common.stores.sql import NOW

log = get_logger(__name__)

CHUNK = 5000
T = TypeVar("T")
LIVE = [s.value for s in PaymentState if s not in RELEASING_STATES]

Relay = Callable[[Sequence[str]], object]
"""Publishes just-committed outbox rows (``OutboxRelay.relay_ids``); best effort."""

OnCreated = Callable[[Connection, int, bool], None]
"""Runs inside the creating transaction with ``(conn, request_id, awaiting_approval)``: the
caller's audit entry and notifications commit with the request or not at all."""

InTransaction = Callable[[Connection, int], None]
"""Runs inside a cancelling transaction with ``(conn, items_cancelled)`` (the caller's audit
entry commits with the change)."""


class RequestError(Exception):
    """A request that cannot be created as asked; the message is for the admin."""

    code = "invalid_request"


class NothingSelected(RequestError):
    code = "nothing_selected"


class BillsUnavailable(RequestError):
    """Some bills cannot be paid now: unknown, stale, already in a live payment, biller off."""

    code = "bills_unavailable"

    def __init__(self, message: str, problems: dict[int, str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Created:
    request_id: int
    items: int
    total_amount: Decimal | None = None
    existing: bool = False
    awaiting_approval: bool = False


def _chunks(values: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _submit(conn: Connection, request_id: int, kind: str) -> str:
    return outbox.add(
        conn,
        EXCHANGE,
        REQUEST_SUBMITTED.routing_key,
        REQUEST_SUBMITTED.type,
        {"request_id": request_id, "kind": kind},
        version=REQUEST_SUBMITTED.version,
    )


def _relay(relay: Relay | None, message_ids: Sequence[str]) -> None:
    if relay is None:
        return
    try:
        relay(message_ids)
    except Exception:  # the scheduler's relay publishes whatever is left
        log.warning("outbox_relay_after_commit_failed", exc_info=True)


# --------------------------------------------------------------------------- fetch


def create_fetch_request(
    engine: Engine,
    created_by: str,
    account_ids: Sequence[int],
    *,
    selection: str = "",
    relay: Relay | None = None,
) -> Created:
    """One fetch request with one item per active account, in one transaction."""
    ids = sorted(set(account_ids))
    if not ids:
        raise NothingSelected("Select at least one bill account.")
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{created_by}")
        request_id = requests.add(
            RequestKind.FETCH,
            RequestState.QUEUED,
            "fetch request created",
            created_by=created_by,
            selection=selection[:500],
            correlation_id=get_correlation_id(),
        )
        count = FetchItemStore(conn).add_for_accounts(request_id, ids)
        if count == 0:
            raise NothingSelected("None of the selected bill accounts is active.")
        requests.set_totals(request_id, total_items=count)
        message_id = _submit(conn, request_id, "fetch")
    _relay(relay, [message_id])
    log.info("fetch_request_created", request_id=request_id, items=count, created_by=created_by)
    return Created(request_id, count)


# --------------------------------------------------------------------------- payments


def _order(due: date | None, bill_id: int) -> tuple[int, date, int]:
    """Oldest due date first, bills without a due date last."""
    return (1, date.max, bill_id) if due is None else (0, due, bill_id)


@dataclass(frozen=True)
class Examined:
    """What paying a set of bills would do: the bills found, each one's live-bill key and total
    (from our database), and the reason each bill that cannot be paid now cannot."""

    rows: list[Any]
    keys: dict[int, str]
    totals: dict[int, Decimal]
    problems: dict[int, str]

    @property
    def total_amount(self) -> Decimal:
        return sum(self.totals.values(), Decimal("0"))


def latest_successful_fetch(account_id: Any) -> Any:
    """The account's latest fetch item that got an answer (bills or "no bills"), as a
    correlated scalar subquery (served by ``fetch_items (bill_account_id, completed_at)``).
    Only its bills are payable: an older fetch's bill may have been paid since."""
    return (
        select(fetch_items.c.id)
        .where(
            fetch_items.c.bill_account_id == account_id,
            fetch_items.c.outcome.in_(["bills", "no_bills"]),
        )
        .order_by(fetch_items.c.completed_at.desc(), fetch_items.c.id.desc())
        .limit(1)
        .correlate(bills)
        .scalar_subquery()
    )


def examine(conn: Connection, ids: Sequence[int], max_bill_age: timedelta | None) -> Examined:
    """The checks of :func:`create_payment_request`, without writing: the confirmation page
    shows exactly what the confirm button will create, or why it will refuse."""
    now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(ids))):
        rows.extend(
            conn.execute(
                select(
                    bills.c.id,
                    bills.c.bill_account_id,
                    bills.c.utility_code,
                    bills.c.consumer_id,
                    bills.c.bill_number,
                    bills.c.due_date,
                    bills.c.amount,
                    bills.c.service_charge,
                    bills.c.fetched_at,
                    bills.c.fetch_item_id,
                    latest_successful_fetch(bills.c.bill_account_id).label("latest_fetch_item"),
                    billers.c.pays_service_charge,
                    billers.c.active.label("biller_active"),
                )
                .select_from(bills.join(billers, billers.c.utility_code == bills.c.utility_code))
                .where(bills.c.id.in_(chunk))
            ).all()
        )
    problems: dict[int, str] = {}
    found_ids = {row.id for row in rows}
    for bill_id in ids:
        if bill_id not in found_ids:
            problems[bill_id] = "unknown bill"
    for row in rows:
        if not row.biller_active:
            problems[row.id] = f"biller {row.utility_code} is inactive"
        elif max_bill_age is not None and row.fetched_at < now - max_bill_age:
            problems[row.id] = "fetched too long ago: fetch it again"
        elif row.fetch_item_id != row.latest_fetch_item:
            problems[row.id] = "a newer fetch of this account no longer lists it: fetch it again"
    keys = {
        row.id: live_bill_key(row.utility_code, row.consumer_id, row.bill_number) for row in rows
    }
    by_key: dict[str, list[int]] = {}
    for bill_id, key in keys.items():
        by_key.setdefault(key, []).append(bill_id)
    for key_chunk in _chunks(list(by_key)):
        for taken in conn.execute(
            select(payments.c.live_bill_key, payments.c.reference_id).where(
                payments.c.live_bill_key.in_(key_chunk)
            )
        ):
            for bill_id in by_key.get(taken.live_bill_key, ()):
                problems[bill_id] = f"already in live payment {taken.reference_id}"
    for same in by_key.values():
        for bill_id in sorted(same)[1:]:
            problems[bill_id] = "the same bill is selected twice"
    totals = {
        row.id: row.amount + (row.service_charge if row.pays_service_charge else Decimal("0"))
        for row in rows
    }
    return Examined(rows, keys, totals, problems)


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
        message_id = None if needs_approval else _submit(conn, request_id, "payment")
        if on_created is not None:
            on_created(conn, request_id, needs_approval)
    if message_id:
        _relay(relay, [message_id])
    log.info(
        "payment_request_created",
        request_id=request_id,
        payments=len(rows),
        total=str(total_amount),
        created_by=created_by,
        awaiting_approval=needs_approval,
    )
    return Created(request_id, len(rows), total_amount, awaiting_approval=needs_approval)


# --------------------------------------------------------------------------- cancel


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
    """Cancel what is not yet dispatched; what is in flight finishes. Returns items cancelled.

    Works in every state where something may still be sent: awaiting approval, scheduled,
    queued, running and paused. ``in_transaction`` runs before the commit (the caller's
    audit entry).
    """
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{by}")
        request = requests.lock(request_id)
        if request is None:
            raise RequestError("No such request.")
        if request.state not in CANCELLABLE:
            raise RequestError(
                f"A {request.state.value.replace('_', ' ')} request cannot be cancelled."
            )
        if request.kind is RequestKind.FETCH:
            cancelled = FetchItemStore(conn).cancel_queued(request_id)
        else:
            cancelled, _amount = cancel_queued_payments(conn, request_id, by)
        requests.move(
            request,
            RequestState.CANCELLED,
            f"cancelled by {by}",
            {"cancelled_by": by, "finished_at": NOW},
        )
        message_id = request_changed(conn, request_id, "cancelled")
        if in_transaction is not None:
            in_transaction(conn, cancelled)
    _relay(relay, [message_id])
    log.info("request_cancelled", request_id=request_id, cancelled=cancelled, by=by)
    return cancelled


def request_changed(conn: Connection, request_id: int, change: str) -> str:
    """The ``request.changed`` outbox row: the scheduler re-reads the request at once."""
    return outbox.add(
        conn,
        EXCHANGE,
        REQUEST_CHANGED.routing_key,
        REQUEST_CHANGED.type,
        {"request_id": request_id, "change": change},
        version=REQUEST_CHANGED.version,
    )


def submit(conn: Connection, request_id: int, kind: str) -> str:
    """The ``request.submitted`` outbox row (an approved payment request starts)."""
    return _submit(conn, request_id, kind)


def relay_now(relay: Relay | None, message_ids: Sequence[str]) -> None:
    """Publish just-committed outbox rows, best effort (the scheduler's relay does the rest)."""
    _relay(relay, message_ids)
