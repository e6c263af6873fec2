"""Request and fetch-item states and their transition tables, free of I/O.

A bulk request (fetch or payment) moves::

    awaiting_approval → queued | scheduled | rejected | cancelled
    scheduled         → queued | cancelled   (its start time came: its payments' bills are
                                              fetched again first; a changed amount holds
                                              that payment for a person, not the request)
    queued            → running | paused | cancelled | finished
    running           → paused | enquiring | cancelled | finished
    paused            → queued | running | enquiring | cancelled | finished
    enquiring         → finished | running   (only enquiries are left: they go on, nothing to
                                              cancel; running again when a payment provably
                                              never left and is queued again)

``finished``, ``cancelled`` and ``rejected`` are final. A cancelled request's payments in
flight still finish (or become ``cancelled`` if they come back unsent); its ambiguous ones
are still enquired. The stores in ``bbp_common.core.stores`` are the only writers.

A fetch item moves ``queued → dispatched → done`` and may go back ``dispatched → queued``
(a retry, an expired command); ``cancelled`` ends what was not yet dispatched, or what
comes back once its request was cancelled.
"""

from __future__ import annotations

from enum import StrEnum


class RequestKind(StrEnum):
    FETCH = "fetch"
    PAYMENT = "payment"


class RequestState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    ENQUIRING = "enquiring"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


R = RequestState

REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    R.AWAITING_APPROVAL: frozenset({R.QUEUED, R.SCHEDULED, R.REJECTED, R.CANCELLED}),
    R.SCHEDULED: frozenset({R.QUEUED, R.CANCELLED}),
    R.QUEUED: frozenset({R.RUNNING, R.PAUSED, R.CANCELLED, R.FINISHED}),
    R.RUNNING: frozenset({R.PAUSED, R.ENQUIRING, R.CANCELLED, R.FINISHED}),
    R.PAUSED: frozenset({R.QUEUED, R.RUNNING, R.ENQUIRING, R.CANCELLED, R.FINISHED}),
    # A payment whose sender's late "not sent" proves it never left goes back to the queue.
    R.ENQUIRING: frozenset({R.FINISHED, R.RUNNING}),
    R.FINISHED: frozenset(),
    R.CANCELLED: frozenset(),
    R.REJECTED: frozenset(),
}

#: The dispatcher takes new work only from these.
DISPATCHING = frozenset({R.QUEUED, R.RUNNING})
#: Something of the request may still be sent or answered: finishing is looked for.
OPEN = frozenset({R.QUEUED, R.RUNNING, R.PAUSED, R.ENQUIRING})
#: A person may cancel it: something of it may still be sent.
CANCELLABLE = frozenset({R.AWAITING_APPROVAL, R.SCHEDULED, R.QUEUED, R.RUNNING, R.PAUSED})
#: A person may pause it.
PAUSABLE = frozenset({R.QUEUED, R.RUNNING})
#: Final: nothing of the request moves any more, but what was in flight when it was
#: cancelled (payments finish, ambiguous ones are enquired).
FINAL = frozenset({R.FINISHED, R.CANCELLED, R.REJECTED})
#: Its payments, if they come back unsent, are cancelled instead of queued again.
STOPPED = frozenset({R.CANCELLED, R.REJECTED})


class IllegalRequestTransition(ValueError):
    """A change the request table forbids."""


def check_request_transition(current: RequestState, target: RequestState) -> None:
    if target not in REQUEST_TRANSITIONS[current]:
        raise IllegalRequestTransition(f"request {current} → {target} is not allowed")


def request_sources_of(target: RequestState) -> frozenset[RequestState]:
    return frozenset(s for s, targets in REQUEST_TRANSITIONS.items() if target in targets)


class FetchItemState(StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    DONE = "done"
    CANCELLED = "cancelled"


F = FetchItemState

FETCH_TRANSITIONS: dict[FetchItemState, frozenset[FetchItemState]] = {
    F.QUEUED: frozenset({F.DISPATCHED, F.CANCELLED}),
    F.DISPATCHED: frozenset({F.QUEUED, F.DONE, F.CANCELLED}),
    F.DONE: frozenset(),
    F.CANCELLED: frozenset(),
}


class FetchOutcome(StrEnum):
    """How a done fetch item ended (``fetch_items.outcome``)."""

    BILLS = "bills"
    NO_BILLS = "no_bills"
    FAILED = "failed"


class IllegalFetchTransition(ValueError):
    """A change the fetch-item table forbids."""


def check_fetch_transition(current: FetchItemState, target: FetchItemState) -> None:
    if target not in FETCH_TRANSITIONS[current]:
        raise IllegalFetchTransition(f"fetch item {current} → {target} is not allowed")
