"""The uncleared payments a bulk resolution chooses from, and what resolving a choice of
them would do (reads only; the writes are ``resolutions``').

A chosen payment can be resolved when it is ``uncleared``, waits in no other bulk
resolution, and — for "not paid" — has no "succeeded" answer waiting unacknowledged (the
payment store's own guard). Any other is refused *by name* with why (``REFUSALS``): the
pages list them, never skip them silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from bbp_common.core.domain.payments import PaymentState
from bbp_common.platform.db.tables import (
    billers,
    bulk_resolution_payments,
    bulk_resolutions,
    payment_anomalies,
    payments,
)
from bbp_portal.localtime import DHAKA
from bbp_portal.service_errors import ValidationFailed

S = PaymentState

OUTCOMES = ("paid", "not_paid")
#: The person's comment: the rest of the 500 characters a payment keeps is the note saying
#: which bulk resolution (and reconciliation) it came from.
COMMENT_MAX = 400
#: Most payments one bulk resolution may hold ("select all matching" beyond: narrow it). One
#: transaction resolves them all within a page's request: 1 000 take about 1 s, but with the
#: payment SMS on each "paid" writes its notification and outbox row one by one — about 26 s
#: for 1 000 on a loaded 2-core machine, within gunicorn's 60 s (docs/decisions.md).
MAX_PAYMENTS = 1_000
PAGE_SIZE = 50
#: Why a chosen payment was not resolved (``bulk_resolution_payments.result``).
REFUSALS = ("not_uncleared", "success_unacknowledged", "in_pending", "not_found")
RESOLVED = "resolved"
STATES = ("awaiting_approval", "applied", "rejected")


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class UnclearedFilter:
    """Which uncleared payments the page lists: of one payment request, of one biller, sent
    (created) between two days (Asia/Dhaka, both included)."""

    request_id: int | None = None
    utility: str = ""
    since: date | None = None
    until: date | None = None

    def as_args(self) -> dict[str, Any]:
        found = {
            "request": str(self.request_id or ""),
            "utility": self.utility,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in found.items() if v}


@dataclass(frozen=True)
class UnclearedRow:
    id: int
    reference_id: str
    request_id: int
    utility_code: str
    biller: str | None
    consumer_id: str
    bill_number: str
    total: Decimal
    created_at: datetime
    check_outcome: str | None
    #: Mobiquity answered "succeeded" for it and nobody acknowledged that: "not paid" refused.
    success_unacknowledged: bool
    #: The bulk resolution it waits in (for its second approval), if any.
    pending_resolution: int | None


@dataclass(frozen=True)
class UnclearedPage:
    rows: list[UnclearedRow]
    matching: int
    matching_total: Decimal
    #: ``before`` of the next (older) page; None on the last one.
    next_before: int | None


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=DHAKA).astimezone(UTC).replace(tzinfo=None)


def _where(flt: UnclearedFilter) -> list[Any]:
    conditions: list[Any] = [payments.c.state == S.UNCLEARED.value]
    if flt.request_id is not None:
        conditions.append(payments.c.request_id == flt.request_id)
    if flt.utility:
        conditions.append(payments.c.utility_code == flt.utility)
    if flt.since is not None:
        conditions.append(payments.c.created_at >= _utc_start(flt.since))
    if flt.until is not None:
        conditions.append(payments.c.created_at < _utc_start(flt.until + timedelta(days=1)))
    return conditions


def unacknowledged(conn: Connection, ids: Sequence[int]) -> set[int]:
    """The payments among ``ids`` whose "succeeded" answer waits unacknowledged (the same
    kinds as ``PaymentStore.unacknowledged_success``)."""
    if not ids:
        return set()
    found = conn.execute(
        select(payment_anomalies.c.payment_id).where(
            payment_anomalies.c.payment_id.in_(ids),
            payment_anomalies.c.acknowledged_by.is_(None),
            payment_anomalies.c.result_kind.in_(
                ("enquiry.succeeded", "enquiry.pending", "pay.accepted")
            ),
        )
    )
    return {row[0] for row in found}


def pending_in(conn: Connection, ids: Sequence[int]) -> dict[int, int]:
    """Payment id → the waiting bulk resolution it is in."""
    if not ids:
        return {}
    found = conn.execute(
        select(bulk_resolution_payments.c.payment_id, bulk_resolutions.c.id)
        .join(bulk_resolutions, bulk_resolutions.c.id == bulk_resolution_payments.c.resolution_id)
        .where(
            bulk_resolution_payments.c.payment_id.in_(ids),
            bulk_resolutions.c.state == "awaiting_approval",
        )
    )
    return {payment_id: resolution_id for payment_id, resolution_id in found}


def list_uncleared(
    conn: Connection, flt: UnclearedFilter, *, before: int | None = None, limit: int = PAGE_SIZE
) -> UnclearedPage:
    """One page of the uncleared payments matching ``flt``, newest first (keyset on id: the
    ``(state, …)`` indexes keep it cheap however many there are)."""
    conditions = _where(flt)
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(payments.c.total), 0)).where(*conditions)
    ).one()
    if before is not None:
        conditions.append(payments.c.id < before)
    found = conn.execute(
        select(
            payments.c.id,
            payments.c.reference_id,
            payments.c.request_id,
            payments.c.utility_code,
            billers.c.name,
            payments.c.consumer_id,
            payments.c.bill_number,
            payments.c.total,
            payments.c.created_at,
            payments.c.check_outcome,
        )
        .select_from(payments.outerjoin(billers, billers.c.utility_code == payments.c.utility_code))
        .where(*conditions)
        .order_by(payments.c.id.desc())
        .limit(limit + 1)
    ).all()
    more = len(found) > limit
    found = found[:limit]
    ids = [row.id for row in found]
    alarms = unacknowledged(conn, ids)
    waiting = pending_in(conn, ids)
    rows = [
        UnclearedRow(*row, row.id in alarms, waiting.get(row.id))  # type: ignore[call-arg]
        for row in found
    ]
    return UnclearedPage(rows, int(count), Decimal(total), rows[-1].id if more else None)


def uncleared_ids(conn: Connection, flt: UnclearedFilter, cap: int = MAX_PAYMENTS) -> list[int]:
    """Every uncleared payment matching ``flt`` ("select all matching"), at most ``cap`` + 1
    (the caller refuses more than ``cap``)."""
    found = conn.execute(
        select(payments.c.id).where(*_where(flt)).order_by(payments.c.id).limit(cap + 1)
    )
    return [row[0] for row in found]


# --------------------------------------------------------------------------- the preview


@dataclass(frozen=True)
class Chosen:
    """One chosen payment and, if it cannot be resolved now, why (a ``REFUSALS`` code)."""

    id: int
    reference_id: str
    request_id: int | None
    state: str
    total: Decimal
    refusal: str | None = None
    pending_resolution: int | None = None


@dataclass(frozen=True)
class Preview:
    outcome: str
    chosen: list[Chosen]
    threshold: Decimal | None

    @property
    def eligible(self) -> list[Chosen]:
        return [c for c in self.chosen if c.refusal is None]

    @property
    def refused(self) -> list[Chosen]:
        return [c for c in self.chosen if c.refusal is not None]

    @property
    def total(self) -> Decimal:
        return sum((c.total for c in self.eligible), Decimal(0))

    @property
    def needs_second_approval(self) -> bool:
        return needs_second_approval(self.total, self.threshold)


def needs_second_approval(total: Decimal, threshold: Decimal | None) -> bool:
    """Above the setting (``None``: off), a second superadmin approves first."""
    return threshold is not None and total > threshold


def check_outcome(outcome: str) -> bool:
    if outcome not in OUTCOMES:
        raise ValidationFailed(
            "invalid_resolution", "The resolution is 'paid' or 'not_paid'.", "outcome"
        )
    return outcome == "paid"


def judge(
    found: dict[int, tuple[str, int, str, Decimal]],
    ids: Sequence[int],
    paid: bool,
    alarms: set[int],
    waiting: dict[int, int],
    *,
    own: int | None = None,
) -> list[Chosen]:
    """Each chosen payment, with why it cannot be resolved (``own``: the waiting resolution
    being applied, which does not count against its own payments)."""
    chosen: list[Chosen] = []
    for payment_id in ids:
        row = found.get(payment_id)
        if row is None:
            chosen.append(Chosen(payment_id, f"#{payment_id}", None, "", Decimal(0), "not_found"))
            continue
        reference_id, request_id, state, total = row
        refusal = None
        in_pending = waiting.get(payment_id)
        if state != S.UNCLEARED.value:
            refusal = "not_uncleared"
        elif in_pending is not None and in_pending != own:
            refusal = "in_pending"
        elif not paid and payment_id in alarms:
            refusal = "success_unacknowledged"
        chosen.append(
            Chosen(payment_id, reference_id, request_id, state, total, refusal, in_pending)
        )
    return chosen


def read_payments(conn: Connection, ids: Sequence[int], *, lock: bool) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for start in range(0, len(ids), 1000):
        query = select(
            payments.c.id,
            payments.c.reference_id,
            payments.c.request_id,
            payments.c.state,
            payments.c.total,
        ).where(payments.c.id.in_(ids[start : start + 1000]))
        for row in conn.execute(query.with_for_update() if lock else query):
            found[row.id] = (row.reference_id, row.request_id, row.state, row.total)
    return found


def preview(
    conn: Connection, ids: Sequence[int], outcome: str, threshold: Decimal | None
) -> Preview:
    """What confirming would do: which payments it resolves, which it refuses and why, the
    total, and whether it waits for a second superadmin (reads only; the confirming
    transaction judges again under the payments' locks)."""
    paid = check_outcome(outcome)
    wanted = sorted(set(ids))
    found = read_payments(conn, wanted, lock=False)
    chosen = judge(
        found, wanted, paid, unacknowledged(conn, list(found)), pending_in(conn, list(found))
    )
    return Preview(outcome, chosen, threshold)


__all__ = [
    "COMMENT_MAX",
    "MAX_PAYMENTS",
    "OUTCOMES",
    "PAGE_SIZE",
    "REFUSALS",
    "RESOLVED",
    "STATES",
    "Chosen",
    "Preview",
    "UnclearedFilter",
    "UnclearedPage",
    "UnclearedRow",
    "check_outcome",
    "judge",
    "list_uncleared",
    "needs_second_approval",
    "pending_in",
    "preview",
    "read_payments",
    "unacknowledged",
    "uncleared_ids",
]
