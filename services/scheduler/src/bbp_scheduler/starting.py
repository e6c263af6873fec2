"""Scheduled payment requests: started at their time, once, and each payment's bill fetched
again before it goes (``bbp_common.core.domain.schedules``).

Three steps, each a lease-checked unit of work the sweeper runs every few seconds:

1. **start** — scheduled requests whose ``start_at`` came move ``scheduled → queued``
   through the request store, on rows it locked: a request starts once, whichever replica
   runs this (a leader that lost its lease rolls back at its last lease check; a standby that
   took over finds the request queued already);
2. **fetch again** — scheduled payments whose due time came (``hold`` due, ``due_at`` passed)
   of requests that run (queued or running; a paused one waits): per request, one fetch
   request of their accounts (``origin`` refetch, made by the payment request's maker, with its
   correlation id), which the dispatcher paces like any other; the payments wait as
   ``refetching``;
3. **compare** — a refetching payment whose account's fetch item answered (or whose fetch
   request ended without one): the same amount → ``queued`` with the new bill (its freshness
   renewed); another amount → held ``changed`` for a person; not listed, or not fetched →
   ``cancelled``, its bill free again. Only then may the dispatcher take it.

None of this touches the dispatcher: a ``scheduled`` payment is simply not ``queued``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bbp_common.core.domain.charges import bill_total
from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.domain.requests import RequestKind, RequestState
from bbp_common.core.domain.schedules import Hold, Refetched, Verdict, compare
from bbp_common.core.stores import PaymentRow
from bbp_common.platform.db.tables import bills
from bbp_common.platform.logging import get_logger
from bbp_scheduler.work import Work

log = get_logger(__name__)
S = PaymentState
R = RequestState
BATCH = 500

_DUE_REQUESTS = (
    "SELECT id FROM bulk_requests WHERE state = 'scheduled' AND start_at <= %s"
    " ORDER BY start_at, id LIMIT %s"
)
#: Through ``(hold, due_at)``: only scheduled payments carry a hold.
_DUE_PAYMENTS = (
    "SELECT p.id, p.request_id, p.bill_account_id FROM payments p"
    " JOIN bulk_requests r ON r.id = p.request_id"
    " WHERE p.hold = 'due' AND p.due_at <= %s AND r.state IN ('queued', 'running')"
    " ORDER BY p.due_at, p.id LIMIT %s"
)
#: Refetching payments whose account's fetch answered, or whose fetch ended without it:
#: through ``(hold, due_at)``, reading every refetching payment (no ORDER BY: in id order the
#: plan walks the whole table). Measured: 20 000 refetching among 200 000 payments, 300 of
#: them answered, 190 ms per sweep (330 ms ordered by id) — while a 20 000-bill start is
#: fetched again; O(answered) would need the fetch result's handler to compare, which is the
#: hot result path (docs/decisions.md, "Scheduled payments").
_ANSWERED = (
    "SELECT p.id, p.utility_code, p.bill_number, p.amount, p.total, fi.id AS item_id,"
    " fi.state AS item_state, fi.outcome"
    " FROM payments p JOIN bulk_requests f ON f.id = p.refetch_request_id"
    " LEFT JOIN fetch_items fi ON fi.request_id = p.refetch_request_id"
    "  AND fi.bill_account_id = p.bill_account_id"
    " WHERE p.hold = 'refetching'"
    "  AND (fi.state IN ('done', 'cancelled')"
    "   OR (fi.id IS NULL AND f.state IN ('finished', 'cancelled')))"
    " LIMIT %s"
)


def _lock_still_held(work: Work, found: Sequence[Any], hold: Hold) -> dict[int, PaymentRow]:
    """Locks the ``found`` payments that are still scheduled in ``hold`` (read unlocked
    before; a person may have cancelled or the other step moved them since)."""
    return work.payments.lock(
        [row.id for row in found],
        where="state = %s AND hold = %s",
        params=(S.SCHEDULED.value, hold.value),
    )


class Starter:
    """The three steps, as functions of a unit of work (returning how many moved)."""

    def start_requests(self, work: Work) -> int:
        ids = [row_id for (row_id,) in work.conn.exec_driver_sql(_DUE_REQUESTS, (work.now, BATCH))]
        started = work.requests.start_scheduled(ids)
        for request_id in started:
            log.info("scheduled_request_started", request_id=request_id)
        return len(started)

    def refetch_due(self, work: Work) -> int:
        found = work.conn.exec_driver_sql(_DUE_PAYMENTS, (work.now, BATCH)).all()
        if not found:
            return 0
        locked = _lock_still_held(work, found, Hold.DUE)
        # Under a shared lock: a cancel or a pause committing now is seen, or sees us.
        states = work.payments.request_states({row.request_id for row in found})
        by_request: dict[int, list[Any]] = defaultdict(list)
        for row in found:
            if row.id in locked and states.get(row.request_id) in (R.QUEUED, R.RUNNING):
                by_request[row.request_id].append(row)
        moved = 0
        for request_id, rows in sorted(by_request.items()):
            maker, correlation = work.conn.exec_driver_sql(
                "SELECT created_by, correlation_id FROM bulk_requests WHERE id = %s",
                (request_id,),
            ).one()
            fetch_id = work.requests.add(
                RequestKind.FETCH,
                R.QUEUED,
                f"fetches again the bills of scheduled payment request #{request_id}",
                created_by=maker,
                selection=f"bills of payment request #{request_id}, fetched again before paying",
                correlation_id=correlation,
                source_request_id=request_id,
                origin="refetch",
            )
            accounts = sorted({row.bill_account_id for row in rows})
            items = work.fetches.add_for_accounts(fetch_id, accounts)
            work.requests.set_totals(fetch_id, total_items=items)
            marked = work.payments.refetching([locked[row.id] for row in rows], fetch_id)
            moved += len(marked)
            log.info(
                "scheduled_payments_fetched_again",
                request_id=request_id,
                fetch_request_id=fetch_id,
                payments=len(marked),
                accounts=items,
            )
        return moved

    def compare_refetched(self, work: Work) -> int:
        found = work.conn.exec_driver_sql(_ANSWERED, (BATCH,)).all()
        if not found:
            return 0
        locked = _lock_still_held(work, found, Hold.REFETCHING)
        items = sorted({row.item_id for row in found if row.item_id is not None})
        found_bills: dict[tuple[int, str], Any] = {}
        if items:
            for listed in work.conn.execute(
                select(
                    bills.c.id,
                    bills.c.fetch_item_id,
                    bills.c.bill_number,
                    bills.c.amount,
                    bills.c.service_charge,
                ).where(bills.c.fetch_item_id.in_(items))
            ):
                found_bills[(listed.fetch_item_id, listed.bill_number)] = listed
        charges = {
            code: bool(pays)
            for code, pays in work.conn.exec_driver_sql(
                "SELECT utility_code, pays_service_charge FROM billers"
            )
        }
        moved = 0
        for row in found:
            payment = locked.get(row.id)
            if payment is None:
                continue
            answered = row.item_state == "done" and row.outcome in ("bills", "no_bills")
            bill = found_bills.get((row.item_id, row.bill_number)) if answered else None
            refetched = None
            if bill is not None:
                refetched = Refetched(
                    Decimal(bill.amount),
                    bill_total(
                        Decimal(bill.amount),
                        Decimal(bill.service_charge),
                        charges.get(row.utility_code, False),
                    ),
                )
            verdict = compare(
                Decimal(row.amount), Decimal(row.total), answered=answered, found=refetched
            )
            values = None
            if bill is not None and refetched is not None:
                values = {
                    "id": bill.id,
                    "amount": bill.amount,
                    "service_charge": refetched.total - refetched.amount,
                    "total": refetched.total,
                }
            work.payments.refetched(payment, verdict, bill=values)
            if verdict is Verdict.CHANGED and refetched is not None:
                work.requests.add_to_total(payment.request_id, refetched.total - payment.total)
            work.settle.add(payment.request_id)
            moved += 1
            log.info(
                "scheduled_payment_compared",
                reference_id=payment.reference_id,
                verdict=verdict.value,
            )
        return moved


__all__ = ["Starter"]
