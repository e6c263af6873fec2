"""The request row and its progress: what every request's page, list and API answer shows.

Progress comes from ``request_tallies`` (a handful of rows kept by the writers), never from
counting a request's items, so it stays instant with a million items in a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from bbp_common.core import tallies as request_tallies
from bbp_common.core.domain import requests as domain_requests
from bbp_common.core.domain.requests import RequestState
from bbp_common.platform.db.tables import bulk_requests
from bbp_portal.service_errors import NotFound

R = bulk_requests.c

KINDS = ("fetch", "payment")
STATES = tuple(state.value for state in RequestState)
#: States a request can still be cancelled in (``bulk.service.cancel`` decides; for buttons).
CANCELLABLE = tuple(state.value for state in sorted(domain_requests.CANCELLABLE))
#: Tally buckets that are settled: an item there will not change again.
FETCH_DONE_BUCKETS = ("bills", "no_bills", "failed", "cancelled")
FETCH_BUCKETS = ("queued", "in_flight", *FETCH_DONE_BUCKETS)
#: Where a payment stops by itself: posted (Mobiquity has it; its fate is in Mobiquity's
#: reports), succeeded, failed, uncleared (a person decides next), cancelled and unsent
#: (never left after every try: pay it again).
PAYMENT_DONE_BUCKETS = ("posted", "succeeded", "failed", "uncleared", "cancelled", "unsent")

# --------------------------------------------------------------------------- one request


@dataclass(frozen=True)
class Progress:
    """Where a request stands, from its tallies: ``done`` items of ``total``, by bucket."""

    request_id: int
    kind: str
    state: str
    total: int
    buckets: dict[str, int]
    amounts: dict[str, Decimal]
    finished_at: datetime | None = None

    @property
    def done(self) -> int:
        settled = FETCH_DONE_BUCKETS if self.kind == "fetch" else PAYMENT_DONE_BUCKETS
        return sum(self.buckets.get(b, 0) for b in settled)

    @property
    def percent(self) -> float:
        """Share of items settled; a finished or cancelled-and-settled request shows 100."""
        if self.total <= 0:
            return 100.0
        return round(min(100.0, 100.0 * self.done / self.total), 1)

    @property
    def settled(self) -> bool:
        """Nothing will change any more: a final state and no item queued or in flight."""
        final = self.state in ("finished", "cancelled", "rejected")
        # A payment stops by itself at posted and uncleared (a person may still resolve an
        # uncleared one, which the request page shows when it is loaded).
        return final and not any(
            self.buckets.get(b, 0) for b in ("scheduled", "queued", "in_flight", "ambiguous")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "kind": self.kind,
            "state": self.state,
            "total": self.total,
            "done": self.done,
            "percent": self.percent,
            "settled": self.settled,
            "counts": dict(self.buckets),
            "amounts": {k: str(v) for k, v in self.amounts.items()},
            "finished_at": self.finished_at.isoformat() + "Z" if self.finished_at else None,
        }


@dataclass(frozen=True)
class RequestRow:
    id: int
    kind: str
    state: str
    created_by: str
    selection: str
    total_items: int
    total_amount: Decimal | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_by: str | None
    paused_reason: str | None = None
    paused_by: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    approval_comment: str | None = None
    #: A scheduled payment request: when it starts (UTC), and how many days before each
    #: bill's due date its payment goes (None: all at the start).
    start_at: datetime | None = None
    days_before_due: int | None = None
    #: Made from another request: ``refetch`` (a scheduled request's bills fetched again),
    #: ``pay_again`` (a "pay again" of a finished request: its fetch, its payment request).
    source_request_id: int | None = None
    origin: str | None = None
    progress: Progress | None = None


REQUEST_COLUMNS = (
    R.id,
    R.kind,
    R.state,
    R.created_by,
    R.selection,
    R.total_items,
    R.total_amount,
    R.created_at,
    R.started_at,
    R.finished_at,
    R.cancelled_by,
    R.paused_reason,
    R.paused_by,
    R.approved_by,
    R.approved_at,
    R.approval_comment,
    R.start_at,
    R.days_before_due,
    R.source_request_id,
    R.origin,
)


def request_row(row: Any, progress: Progress | None = None) -> RequestRow:
    return RequestRow(*(getattr(row, c.name) for c in REQUEST_COLUMNS), progress=progress)


def tallies(
    conn: Connection, request_ids: Sequence[int]
) -> dict[int, tuple[dict[str, int], dict[str, Decimal]]]:
    """Counts and amounts per bucket of each request (a few primary-key rows each)."""
    return {
        request_id: (
            {bucket: count for bucket, (count, _) in buckets.items()},
            {bucket: amount for bucket, (_, amount) in buckets.items()},
        )
        for request_id, buckets in request_tallies.read_many(conn, request_ids).items()
    }


def progress_of(row: Any, counts: dict[str, int], amounts: dict[str, Decimal]) -> Progress:
    return Progress(row.id, row.kind, row.state, row.total_items, counts, amounts, row.finished_at)


def get_request(conn: Connection, request_id: int) -> RequestRow:
    """One request with its progress; :class:`NotFound` if there is none."""
    row = conn.execute(select(*REQUEST_COLUMNS).where(R.id == request_id)).first()
    if row is None:
        raise NotFound(f"There is no request {request_id}.")
    counts, amounts = tallies(conn, [request_id])[request_id]
    return request_row(row, progress_of(row, counts, amounts))


def get_progress(conn: Connection, request_id: int) -> Progress:
    """What the request page polls: one primary-key row and the request's tally rows."""
    row = conn.execute(
        select(R.id, R.kind, R.state, R.total_items, R.finished_at).where(R.id == request_id)
    ).first()
    if row is None:
        raise NotFound(f"There is no request {request_id}.")
    counts, amounts = tallies(conn, [request_id])[request_id]
    return progress_of(row, counts, amounts)


__all__ = [
    "CANCELLABLE",
    "FETCH_BUCKETS",
    "FETCH_DONE_BUCKETS",
    "KINDS",
    "PAYMENT_DONE_BUCKETS",
    "REQUEST_COLUMNS",
    "STATES",
    "Progress",
    "RequestRow",
    "get_progress",
    "get_request",
    "progress_of",
    "request_row",
    "tallies",
]
