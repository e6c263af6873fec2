"""What the writers of every kind of request share: the outbox rows that tell the scheduler,
relaying them after the commit, and cancelling a request.

A request, its items and its outbox row commit in one transaction; the row is published
right after the commit by the worker's relay (best effort: the scheduler's relay publishes
whatever is left). Each kind's own writes live with the kind: ``requests.service`` (fetch
requests) and ``payments.service`` (payment requests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from bbp_common.core.domain.requests import CANCELLABLE, RequestKind, RequestState
from bbp_common.core.messages import REQUEST_CHANGED, REQUEST_SUBMITTED, MessageKind
from bbp_common.core.stores import FetchItemStore, RequestStore
from bbp_common.core.stores.sql import NOW
from bbp_common.platform import outbox
from bbp_common.platform.db.retry import retry_transaction
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import EXCHANGE

log = get_logger(__name__)

CHUNK = 5000
T = TypeVar("T")

Relay = Callable[[Sequence[str]], object]
"""Publishes just-committed outbox rows (``OutboxRelay.relay_ids``); best effort."""

InTransaction = Callable[[Connection, int], None]
"""Runs inside a cancelling transaction with ``(conn, items_cancelled)`` (the caller's audit
entry commits with the change)."""

CancelItems = Callable[[Connection], int]
"""Cancels a request's undispatched items inside the cancelling transaction (the request's
row is locked); returns how many."""


class RequestError(Exception):
    """A request that cannot be created as asked; the message is for the admin."""

    code = "invalid_request"


class NothingSelected(RequestError):
    code = "nothing_selected"


@dataclass(frozen=True)
class Created:
    request_id: int
    items: int
    total_amount: Decimal | None = None
    existing: bool = False
    awaiting_approval: bool = False
    #: Why it waits for approval (``bbp_common.core.domain.approvals.ApprovalReason`` values).
    approval_reasons: tuple[str, ...] = ()
    #: A scheduled payment request: when its first payment is due (naive UTC).
    start_at: datetime | None = None


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def submit(conn: Connection, request_id: int, kind: str) -> str:
    """The ``request.submitted`` outbox row (a new request, or an approved payment request)."""
    return _outbox_row(conn, REQUEST_SUBMITTED, {"request_id": request_id, "kind": kind})


def add_fetch_request(
    conn: Connection,
    created_by: str,
    account_ids: Sequence[int],
    *,
    selection: str = "",
    cause: str = "fetch request created",
    **values: object,
) -> tuple[int, int]:
    """In the caller's transaction: a queued fetch request with one item per *active*
    account, its totals and its ``request.submitted`` outbox row. Returns ``(request id,
    items)``; the caller relays the outbox row after its commit (``relay_now``). Raises
    :class:`NothingSelected` when none of the accounts is active (the caller's transaction
    then writes nothing)."""
    requests = RequestStore(conn, actor=f"portal:{created_by}")
    request_id = requests.add(
        RequestKind.FETCH,
        RequestState.QUEUED,
        cause,
        created_by=created_by,
        selection=selection[:500],
        **values,
    )
    count = FetchItemStore(conn).add_for_accounts(request_id, sorted(set(account_ids)))
    if count == 0:
        raise NothingSelected("None of the selected bill accounts is active.")
    requests.set_totals(request_id, total_items=count)
    return request_id, count


def request_changed(conn: Connection, request_id: int, change: str) -> str:
    """The ``request.changed`` outbox row: the scheduler re-reads the request at once."""
    return _outbox_row(conn, REQUEST_CHANGED, {"request_id": request_id, "change": change})


def _outbox_row(conn: Connection, kind: MessageKind, body: dict[str, Any]) -> str:
    """An outbox row of this message kind on the exchange, in the caller's transaction."""
    return outbox.add(conn, EXCHANGE, kind.routing_key, kind.type, body, version=kind.version)


def relay_now(relay: Relay | None, message_ids: Sequence[str]) -> None:
    """Publish just-committed outbox rows, best effort (the scheduler's relay does the rest)."""
    if relay is None:
        return
    try:
        relay(message_ids)
    except Exception:  # the scheduler's relay publishes whatever is left
        log.warning("outbox_relay_after_commit_failed", exc_info=True)


@retry_transaction
def cancel(
    engine: Engine,
    request_id: int,
    by: str,
    kind: str,
    cancel_items: CancelItems,
    *,
    relay: Relay | None = None,
    in_transaction: InTransaction | None = None,
) -> int:
    """Cancel a request of ``kind``: its undispatched items (``cancel_items``), then the
    request, with ``request.changed``, in one transaction under the request's row lock.
    Returns the items cancelled.

    Works in every state where something may still be sent: awaiting approval, scheduled,
    queued, running and paused (``CANCELLABLE``). What is in flight finishes — or, if it
    comes back unsent, is cancelled then (the stores look at the request before queueing
    anything again). ``in_transaction`` runs before the commit (the caller's audit entry).
    """
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{by}")
        request = requests.lock(request_id)
        if request is None:
            raise RequestError("No such request.")
        if request.kind.value != kind:
            raise RequestError(
                f"Request {request_id} is a {request.kind.value} request, not {kind}."
            )
        if request.state not in CANCELLABLE:
            raise RequestError(
                f"A {request.state.value.replace('_', ' ')} request cannot be cancelled."
            )
        cancelled = cancel_items(conn)
        requests.move(
            request,
            RequestState.CANCELLED,
            f"cancelled by {by}",
            {"cancelled_by": by, "finished_at": NOW},
        )
        message_id = request_changed(conn, request_id, "cancelled")
        if in_transaction is not None:
            in_transaction(conn, cancelled)
    relay_now(relay, [message_id])
    log.info("request_cancelled", request_id=request_id, cancelled=cancelled, by=by)
    return cancelled


__all__ = [
    "CHUNK",
    "CancelItems",
    "Created",
    "InTransaction",
    "NothingSelected",
    "Relay",
    "RequestError",
    "add_fetch_request",
    "cancel",
    "chunks",
    "relay_now",
    "request_changed",
    "submit",
]
