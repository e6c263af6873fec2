"""Pay again what failed: which bills of a finished payment request may be paid again, the
bills a "pay again" fetch found for them, and the check the new request passes in its own
transaction. Reads only (``operations.pay_again`` writes; the rule is
``bbp_common.core.domain.schedules.why_not_again``).

A bill is offered when its payment failed on Mobiquity's definitive answer (billpay rejected,
an enquiry's FAILED) or ended ``unsent`` — and only while nothing else holds it: not in
another live payment (paid again meanwhile), not under a double-payment alarm. The new
request is made through the usual confirmation page (step-up, approvals) from the bills of
a fresh fetch, with new reference ids; creating it checks all of this again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select, text

from bbp_common.core.domain.payments import PaymentState, live_bill_key
from bbp_common.core.domain.schedules import why_not_again
from bbp_common.platform.db.tables import bills, bulk_requests, fetch_items, payments
from bbp_portal.bulk.service import chunks
from bbp_portal.payments.pending import Examined
from bbp_portal.service_errors import Conflict, NotFound

P = payments.c

#: Why a bill is not offered, beyond its payment's state (for people and tests).
IN_LIVE_PAYMENT = "in another live payment (paid again meanwhile?)"
UNDER_ALARM = "under a double-payment alarm: Mobiquity's report shows it paid"


@dataclass(frozen=True)
class Offer:
    """What "pay again" of ``request_id`` offers: its payments whose bills may be paid again,
    and how many others are left out, by reason."""

    request_id: int
    payments: list[Any]
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.payments)

    @property
    def keys(self) -> set[str]:
        return {_key(p) for p in self.payments}

    @property
    def accounts(self) -> list[int]:
        return sorted({p.bill_account_id for p in self.payments})


def _key(row: Any) -> str:
    return live_bill_key(row.utility_code, row.consumer_id, row.bill_number)


def alarmed_bills(conn: Connection, rows: list[Any]) -> set[str]:
    """The bills (live-bill keys) among ``rows`` under a double-payment alarm nobody cleared.

    The reconciliation (``bbp_portal.reconcile``) keeps its alarms in
    ``double_payment_alarms`` (``bbp_common.core.stores.alarms``), one per payment of ours
    that Mobiquity's report shows paid although we freed its bill; a bill is under alarm
    whichever of its payments raised it.
    """
    if not rows:
        return set()
    wanted = {_key(r) for r in rows}
    found: set[str] = set()
    query = text(
        "SELECT p.utility_code, p.consumer_id, p.bill_number FROM double_payment_alarms a"
        " JOIN payments p ON p.id = a.payment_id WHERE a.cleared_at IS NULL"
        " AND p.bill_number IN :numbers"
    ).bindparams(bindparam("numbers", expanding=True))
    for chunk in chunks(sorted({r.bill_number for r in rows}), 1000):
        for hit in conn.execute(query, {"numbers": list(chunk)}):
            if _key(hit) in wanted:
                found.add(_key(hit))
    return found


def offer(conn: Connection, request_id: int) -> Offer:
    """What "pay again" of a finished payment request offers now. :class:`NotFound` for no
    such payment request, :class:`Conflict` (``not_finished``) for one not finished."""
    request = conn.execute(
        select(bulk_requests.c.kind, bulk_requests.c.state).where(bulk_requests.c.id == request_id)
    ).first()
    if request is None or request.kind != "payment":
        raise NotFound(f"There is no payment request {request_id}.")
    if request.state != "finished":
        raise Conflict(
            "not_finished", f"Request {request_id} is {request.state}: pay again a finished one."
        )
    rows = conn.execute(
        select(
            P.id,
            P.reference_id,
            P.bill_account_id,
            P.utility_code,
            P.consumer_id,
            P.bill_number,
            P.state,
            P.failure,
        ).where(P.request_id == request_id)
    ).all()
    left_out: Counter[str] = Counter()
    candidates = []
    for row in rows:
        why = why_not_again(PaymentState(row.state), row.failure)
        if why is None:
            candidates.append(row)
        else:
            left_out[why] += 1
    live: set[str] = set()
    keys = [_key(r) for r in candidates]
    for chunk in chunks(keys, 1000):
        live.update(
            conn.execute(select(P.live_bill_key).where(P.live_bill_key.in_(chunk))).scalars()
        )
    alarmed = alarmed_bills(conn, candidates)
    offered = []
    for row in candidates:
        if _key(row) in alarmed:
            left_out[UNDER_ALARM] += 1
        elif _key(row) in live:
            left_out[IN_LIVE_PAYMENT] += 1
        else:
            offered.append(row)
    return Offer(request_id, offered, dict(left_out))


def fetched_bills(conn: Connection, source_id: int, fetch_id: int) -> tuple[list[int], int]:
    """The bills a "pay again" fetch (``fetch_id``, of ``source_id``) found for the bills its
    source offers now: ``(bill ids, offered bills the fetch no longer lists)``.
    :class:`NotFound` when ``fetch_id`` is no "pay again" fetch of ``source_id``."""
    made = conn.execute(
        select(bulk_requests.c.id).where(
            bulk_requests.c.id == fetch_id,
            bulk_requests.c.kind == "fetch",
            bulk_requests.c.origin == "pay_again",
            bulk_requests.c.source_request_id == source_id,
        )
    ).first()
    if made is None:
        raise NotFound(f"Fetch request {fetch_id} does not fetch the bills of #{source_id}.")
    found = offer(conn, source_id)
    wanted = {(p.bill_account_id, p.bill_number) for p in found.payments}
    ids = []
    seen = set()
    for bill in conn.execute(
        select(bills.c.id, bills.c.bill_account_id, bills.c.bill_number)
        .select_from(bills.join(fetch_items, fetch_items.c.id == bills.c.fetch_item_id))
        .where(fetch_items.c.request_id == fetch_id)
        .order_by(bills.c.id)
    ):
        key = (bill.bill_account_id, bill.bill_number)
        if key in wanted and key not in seen:
            seen.add(key)
            ids.append(bill.id)
    return ids, len(wanted - seen)


def vet(source_id: int) -> Any:
    """The creating transaction's check of a "pay again" of ``source_id``: every bill must be
    one its source offers now (re-read in that transaction: an alarm raised, or the bill paid
    meanwhile, is seen)."""

    def check(conn: Connection, found: Examined) -> dict[int, str]:
        try:
            keys = offer(conn, source_id).keys
        except (NotFound, Conflict) as exc:
            return {row.id: exc.message for row in found.rows}
        return {
            row.id: f"not a bill that failed in payment request #{source_id}, or no longer"
            " offered to pay again"
            for row in found.rows
            if live_bill_key(row.utility_code, row.consumer_id, row.bill_number) not in keys
        }

    return check


__all__ = [
    "IN_LIVE_PAYMENT",
    "UNDER_ALARM",
    "Offer",
    "alarmed_bills",
    "fetched_bills",
    "offer",
    "vet",
]
