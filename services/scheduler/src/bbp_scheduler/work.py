"""One scheduler transaction as a unit of work: the connection, the database's "now" and the
stores, made by ``LeaderDb.write`` for handlers, the dispatcher and the sweeper alike.

Why one object: a handler needs the same few things every time — the stores (the only
writers of state), the enquiry policy and the return rule from the settings, the time on
the database's clock — and the batch needs to flush the stores once and then settle the
requests whose items finished. Handlers stay plain functions of ``(work, body)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bbp_common.core.domain.payments import EnquiryPolicy, ReturnRule
from bbp_common.core.domain.requests import RequestState
from bbp_common.core.notifications import wallet_breaker_opened
from bbp_common.core.stores import FetchItemStore, PaymentStore, RequestStore, WalletBreaker
from bbp_common.core.stores.payments import PaymentRow
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import Reject
from bbp_scheduler import notifications
from bbp_scheduler.settings import SchedulerSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class Rules:
    """What the settings say about payments, made once per process."""

    policy: EnquiryPolicy
    returns: ReturnRule

    @classmethod
    def of(cls, settings: SchedulerSettings) -> Rules:
        return cls(
            policy=EnquiryPolicy(
                delays=settings.enquiry_schedule,
                believe_not_found=settings.enquiry_believe_not_found,
                not_found_grace=settings.enquiry_not_found_grace,
            ),
            returns=ReturnRule(max_returns=settings.pay_max_returns),
        )


@dataclass
class Work:
    conn: Connection
    token: int
    actor: str
    rules: Rules
    settings: SchedulerSettings
    metrics: Any = None
    payments: PaymentStore = field(init=False)
    fetches: FetchItemStore = field(init=False)
    requests: RequestStore = field(init=False)
    breaker: WalletBreaker = field(init=False)
    #: Requests whose items reached a final (or ambiguous) state: look whether they are done.
    settle: set[int] = field(default_factory=set)
    #: Payments posted or succeeded in this unit: their SMS is asked for once the stores
    #: flushed (the producer reads the payment's new state from the table).
    submitted: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.payments = PaymentStore(
            self.conn,
            actor=self.actor,
            policy=self.rules.policy,
            rule=self.rules.returns,
            autoflush=False,
        )
        self.fetches = FetchItemStore(self.conn, autoflush=False)
        self.requests = RequestStore(self.conn, actor=self.actor)
        # Whoever opens it first (here or the communicator) tells the superadmins, once.
        self.breaker = WalletBreaker(self.conn, actor="system", on_opened=wallet_breaker_opened)

    @property
    def now(self) -> datetime:
        return self.payments.now()

    def result_payment(self, body: Mapping[str, Any]) -> PaymentRow:
        """The payment a result names, locked. A result about a payment that does not exist
        can never be applied: rejected (dead-lettered) at once."""
        row = self.payments.lock([body["payment_id"]]).get(body["payment_id"])
        if row is None:
            raise Reject(f"payment {body['payment_id']} does not exist")
        return row

    def keep_disagreement(
        self, row: PaymentRow, kind: str, body: Mapping[str, Any], *, result: str, **context: Any
    ) -> None:
        """A result that disagrees with where the payment stands: kept for a person
        (``PaymentStore.keep_anomaly``), never dropped, and logged as an error."""
        self.payments.keep_anomaly(row, kind, json.dumps(body, default=str))
        log.error(
            "payment_result_disagrees",
            reference_id=row.reference_id,
            state=row.state.value,
            result=result,
            **context,
        )

    def finish(self) -> set[int]:
        """Flush the stores and ask for the SMS of payments posted or succeeded. Returns the
        requests to settle — in a transaction of their own, after this one commits: settling
        locks the request's row, and a person cancelling holds that lock while locking the
        request's queued items; taking it here, after moving items back to the queue, could
        deadlock with them."""
        self.payments.flush()
        self.fetches.flush()
        for payment_id in self.submitted:
            notifications.payment_submitted(self.conn, payment_id)
        self.submitted.clear()
        settle, self.settle = set(self.settle), set()
        return settle

    def settle_requests(self, request_ids: set[int] | list[int]) -> int:
        """Settle each request (``RequestStore.settle``); a finished one tells its starter.
        Returns how many moved."""
        moved = 0
        for request_id in sorted(request_ids):
            state = self.requests.settle(request_id)
            if state is RequestState.FINISHED:
                notifications.request_finished(self.conn, request_id)
            moved += state is not None
        return moved
