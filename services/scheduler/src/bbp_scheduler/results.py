"""Applying the communicators' results: the scheduler writes item progress.

Every result is applied in one lease-checked transaction and only if it still fits: a
fetch result must match the item's attempt, an enquiry result the enquiry number, and a
payment result goes through the state machine (``decide_pay_result``) — so a result that
arrives twice, late or from a stale dispatch changes nothing, and one that disagrees with
a payment's final state is kept for a person, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Connection, func, insert, select, text, update

from bbp_common import tallies
from bbp_common.db.tables import (
    audit_log,
    bills,
    bulk_requests,
    fetch_items,
    payments,
)
from bbp_common.domain.payments import (
    Decision,
    EnquiryOutcome,
    EnquiryPolicy,
    PaymentState,
    PayOutcome,
    decide_enquiry_result,
    decide_pay_result,
    is_wallet_auth_failure,
    same_failure_streak,
)
from bbp_common.logging import get_logger
from bbp_common.messages import ENQUIRY_NOT_SENT
from bbp_common.messaging import Envelope, Reject, Retry
from bbp_common.payment_store import (
    Deferred,
    PaymentRow,
    open_breaker,
    record_anomaly,
    transition,
)
from bbp_scheduler import notifications
from bbp_scheduler.batching import BatchApplier
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.lease import LostLease
from bbp_scheduler.settings import SchedulerSettings

log = get_logger(__name__)
S = PaymentState

_PAYMENT_COLUMNS = (
    payments.c.id,
    payments.c.request_id,
    payments.c.reference_id,
    payments.c.state,
    payments.c.total,
    payments.c.attempt,
    payments.c.dispatched_at,
    payments.c.enquiry_count,
    payments.c.enquiry_sent_at,
    payments.c.sending_at,
    payments.c.answered_at,
)


@dataclass
class Batch:
    """What one transaction of results shares: the time, deferred writes, requests to check."""

    now: datetime
    later: Deferred = field(default_factory=Deferred)
    finish: set[int] = field(default_factory=set)

    def done(self, conn: Connection) -> None:
        """Write the deferred events and tallies, then finish the requests that may be done."""
        self.later.flush(conn)
        for request_id in sorted(self.finish):
            finish_if_done(conn, request_id)


def _now(conn: Connection) -> datetime:
    return conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()


#: Enquiry answers that say where the payment stands (the others are "no answer").
DEFINITIVE_ENQUIRY = frozenset(
    {EnquiryOutcome.SUCCEEDED, EnquiryOutcome.FAILED, EnquiryOutcome.PENDING}
)


class Results:
    def __init__(
        self,
        db: LeaderDb,
        settings: SchedulerSettings,
        registry: Any,
        *,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.batcher = BatchApplier(db, self.apply_all, on_applied=on_applied)
        self.settings = settings
        self.policy = EnquiryPolicy(
            delays=settings.enquiry_schedule,
            believe_not_found=settings.enquiry_believe_not_found,
            not_found_grace=settings.enquiry_not_found_grace,
        )
        self.applied = Counter(
            "bbp_scheduler_results_total",
            "Results applied, by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self.result_lag = Histogram(
            "bbp_scheduler_result_lag_seconds",
            "From dispatch to the result being applied (queue lag + Mobiquity + our own work)",
            ["kind"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.lag = Counter(
            "bbp_scheduler_stale_results_total",
            "Results that changed nothing (stale or duplicate)",
            ["kind"],
            registry=registry,
        )

    @property
    def actor(self) -> str:
        return f"scheduler:{self.db.lease.holder}"

    # ------------------------------------------------------------------ consumer entry

    KINDS = ("fetch.result", "pay.result", "enquiry.result", "notify.result")

    def handle(self, message: Envelope, redelivered: bool) -> None:
        """The ``scheduler.results`` consumer: apply (in a batch), or hand back if we lost
        the lease. Returns once the result is committed — then the message is acknowledged."""
        if message.type not in self.KINDS:
            raise Reject(f"unexpected message type {message.type}")
        try:
            self.batcher.submit(message)
        except LostLease as exc:
            raise Retry("not the active scheduler") from exc

    def apply_all(self, conn: Connection, messages: list[Envelope]) -> None:
        """Apply results in one transaction: events and tallies written once at the end."""
        batch = Batch(now=_now(conn))
        for message in messages:
            self.apply(conn, message, batch)
        batch.done(conn)

    def apply(self, conn: Connection, message: Envelope, batch: Batch) -> None:
        if message.type == "fetch.result":
            self.apply_fetch(conn, message.body, batch)
        elif message.type == "pay.result":
            self.apply_pay(conn, message.body, batch)
        elif message.type == "enquiry.result":
            self.apply_enquiry(conn, message.body, batch)
        else:
            notifications.apply_result(conn, message.body)

    # ------------------------------------------------------------------ fetch

    def apply_fetch(self, conn: Connection, body: dict[str, Any], batch: Batch) -> None:
        item = conn.execute(
            select(fetch_items).where(fetch_items.c.id == body["item_id"]).with_for_update()
        ).first()
        if item is None or item.state != "dispatched" or item.attempts != body["attempt"]:
            self.lag.labels("fetch").inc()
            return
        now = batch.now
        if item.dispatched_at is not None:
            self.result_lag.labels("fetch").observe((now - item.dispatched_at).total_seconds())
        outcome = body["outcome"]
        values: dict[str, Any]
        if outcome in ("bills", "no_bills"):
            found = body.get("bills") or []
            if found:
                conn.execute(
                    insert(bills),
                    [
                        {
                            "fetch_item_id": item.id,
                            "bill_account_id": item.bill_account_id,
                            "utility_code": item.utility_code,
                            "consumer_id": item.consumer_id,
                            "bill_number": bill["bill_number"],
                            "due_date": bill.get("due_date"),
                            "amount": bill["amount"],
                            "service_charge": bill.get("service_charge") or Decimal("0"),
                            "detail": json.dumps(bill["detail"]) if bill.get("detail") else None,
                            "fetched_at": now,
                        }
                        for bill in found
                    ],
                )
            total = sum((Decimal(bill["amount"]) for bill in found), Decimal("0"))
            values = {
                "state": "done",
                "outcome": outcome,
                "completed_at": now,
                "bill_count": len(found),
                "bills_amount": total,
                "error_code": None,
                "error_message": None,
            }
            bucket, amount = outcome, total
        elif outcome == "expired":
            # Never sent: give the attempt back and dispatch again through the pace.
            values = {"state": "queued", "attempts": item.attempts - 1, "next_attempt_at": now}
            bucket, amount = "queued", Decimal("0")
        elif body.get("retryable") and item.attempts < self.settings.fetch_max_attempts:
            wait = self.settings.fetch_retry_backoff * 2 ** (item.attempts - 1)
            values = {
                "state": "queued",
                "next_attempt_at": now + timedelta(seconds=wait),
                "error_code": body.get("error_code"),
                "error_message": body.get("error_message"),
            }
            bucket, amount = "queued", Decimal("0")
        else:
            values = {
                "state": "done",
                "outcome": "failed",
                "completed_at": now,
                "error_code": (body.get("error_code") or "")[:64] or None,
                "error_message": (body.get("error_message") or "")[:500] or None,
            }
            bucket, amount = "failed", Decimal("0")
        conn.execute(update(fetch_items).where(fetch_items.c.id == item.id).values(**values))
        batch.later.bump(item.request_id, {"in_flight": (-1, Decimal("0")), bucket: (1, amount)})
        self.applied.labels("fetch", outcome).inc()
        if bucket != "queued":
            batch.finish.add(item.request_id)

    # ------------------------------------------------------------------ pay

    def _load_payment(self, conn: Connection, payment_id: int) -> Any:
        return conn.execute(
            select(*_PAYMENT_COLUMNS).where(payments.c.id == payment_id).with_for_update()
        ).first()

    def apply_pay(self, conn: Connection, body: dict[str, Any], batch: Batch) -> None:
        row = self._load_payment(conn, body["payment_id"])
        if row is None:
            raise Reject(f"payment {body['payment_id']} does not exist")
        payment = PaymentRow.of(row)
        outcome = PayOutcome(body["outcome"])
        decision = decide_pay_result(payment.state, outcome)
        if row.dispatched_at is not None and payment.state is S.SENDING:
            self.result_lag.labels("pay").observe((batch.now - row.dispatched_at).total_seconds())
        self._keep_if_anomalous(conn, payment, decision, f"pay.{outcome.value}", body)
        now = batch.now
        if decision.target is not None:
            values: dict[str, Any] = {
                "answered_at": now,
                "order_id": body.get("order_id"),
                "service_request_id": body.get("service_request_id"),
                "order_status": body.get("order_status"),
                "error_code": body.get("error_code"),
                "error_detail_code": body.get("error_detail_code"),
                "error_message": body.get("error_message"),
                "reason": (body.get("reason") or decision.cause)[:255],
            }
            if decision.target is S.AMBIGUOUS:
                values.update(
                    enquiry_count=0, enquiry_sent_at=None, enquiry_due_at=self.policy.due_at(now, 0)
                )
            transition(
                conn,
                payment,
                decision.target,
                cause=decision.cause,
                actor=self.actor,
                values=values,
                later=batch.later,
            )
            if decision.target is S.AMBIGUOUS and not self.policy.delays:
                # No enquiries configured: straight to a person.
                transition(
                    conn,
                    PaymentRow(
                        payment.id,
                        payment.request_id,
                        payment.reference_id,
                        S.AMBIGUOUS,
                        payment.total,
                        payment.attempt,
                    ),
                    S.UNCLEARED,
                    cause="no enquiries configured",
                    actor=self.actor,
                    later=batch.later,
                )
            if decision.target in (S.POSTED, S.SUCCEEDED):
                notifications.payment_submitted(conn, payment.id)
            self.applied.labels("pay", outcome.value).inc()
        else:
            self.lag.labels("pay").inc()
        if outcome is PayOutcome.REJECTED:
            if is_wallet_auth_failure(body.get("error_code"), body.get("error_detail_code")):
                if open_breaker(
                    conn,
                    reason=f"wallet authentication failed ({body.get('error_code')})",
                    reference_id=payment.reference_id,
                ):
                    log.error("wallet_breaker_opened", reference_id=payment.reference_id)
                _audit(
                    conn,
                    "wallet_breaker.opened",
                    "system",
                    "payment",
                    payment.reference_id,
                    {
                        "error_code": body.get("error_code"),
                        "detail_code": body.get("error_detail_code"),
                    },
                )
            if decision.target is not None:
                self._pause_on_failure_streak(conn, payment.request_id)
        if decision.target is not None and decision.target in (S.POSTED, S.FAILED, S.UNCLEARED):
            batch.finish.add(payment.request_id)

    def _pause_on_failure_streak(self, conn: Connection, request_id: int) -> None:
        n = self.settings.auto_pause_after
        if n <= 0:
            return
        rows = conn.execute(
            select(
                payments.c.state,
                payments.c.error_code,
                payments.c.error_detail_code,
                payments.c.reason,
            )
            .where(payments.c.request_id == request_id, payments.c.answered_at.is_not(None))
            .order_by(payments.c.answered_at.desc(), payments.c.id.desc())
            .limit(n)
        ).all()
        failures = [
            ((r.error_code, r.error_detail_code) if r.error_code else (None, r.reason))
            if r.state == S.FAILED.value
            else (None, None)
            for r in rows
        ]
        streak = same_failure_streak(failures, n)
        if streak is None:
            return
        reason = (
            f"auto-paused: the last {n} payments failed with {streak[0] or ''}/{streak[1] or ''}"
        )
        paused = conn.execute(
            update(bulk_requests)
            .where(
                bulk_requests.c.id == request_id, bulk_requests.c.state.in_(["queued", "running"])
            )
            .values(state="paused", paused_reason=reason[:255], paused_by="system")
        ).rowcount
        if paused:
            log.warning("request_auto_paused", request_id=request_id, reason=reason)
            _audit(
                conn,
                "request.auto_paused",
                "system",
                "request",
                str(request_id),
                {"reason": reason},
            )
            notifications.request_auto_paused(conn, request_id, reason)

    # ------------------------------------------------------------------ enquiry

    def apply_enquiry(self, conn: Connection, body: dict[str, Any], batch: Batch) -> None:
        row = self._load_payment(conn, body["payment_id"])
        if row is None:
            raise Reject(f"payment {body['payment_id']} does not exist")
        outcome = EnquiryOutcome(body["outcome"])
        payment = PaymentRow.of(row)
        now = batch.now
        if payment.state is not S.AMBIGUOUS:
            decision = decide_enquiry_result(
                payment.state,
                outcome,
                enquiries_done=row.enquiry_count,
                policy=self.policy,
                sent_at=row.sending_at,
                now=now,
            )
            self._keep_if_anomalous(conn, payment, decision, f"enquiry.{outcome.value}", body)
            self.lag.labels("enquiry").inc()
            return
        if row.enquiry_sent_at is None or body["enquiry_number"] != row.enquiry_count + 1:
            if outcome in DEFINITIVE_ENQUIRY:
                # A late answer to an earlier enquiry, but a definitive one: it settles the
                # payment as the current enquiry's would (whose answer, when it comes, is then
                # checked against the settled state like any other).
                self.count_enquiry(conn, row, outcome, body, batch)
                return
            self.lag.labels("enquiry").inc()  # a late "no answer" adds nothing
            return
        if body.get("reason") == ENQUIRY_NOT_SENT:
            # Mobiquity was never asked (the command waited too long in a backlog): not one of
            # the N enquiries. Ask again now, through the pace.
            conn.execute(
                update(payments)
                .where(*_still_enquiring(row))
                .values(enquiry_sent_at=None, enquiry_due_at=now)
            )
            log.info("enquiry_not_sent_asked_again", reference_id=row.reference_id)
            return
        self.count_enquiry(conn, row, outcome, body, batch)

    def count_enquiry(
        self,
        conn: Connection,
        row: Any,
        outcome: EnquiryOutcome,
        body: dict[str, Any],
        batch: Batch,
    ) -> None:
        """One enquiry answered (or timed out): settle, schedule the next, or leave uncleared."""
        done = row.enquiry_count + 1
        now = batch.now
        decision = decide_enquiry_result(
            S.AMBIGUOUS,
            outcome,
            enquiries_done=done,
            policy=self.policy,
            sent_at=row.sending_at,
            now=now,
        )
        if decision.target is not None:
            values: dict[str, Any] = {
                "enquiry_count": done,
                "enquiry_sent_at": None,
                "enquiry_due_at": None,
                "reason": decision.cause[:255],
            }
            if body.get("order_id"):
                values["order_id"] = body["order_id"]
            if body.get("order_status"):
                values["order_status"] = body["order_status"]
            if body.get("error_code"):
                values["error_code"] = body["error_code"]
            if body.get("error_message"):
                values["error_message"] = body["error_message"]
            transition(
                conn,
                PaymentRow.of(row),
                decision.target,
                cause=decision.cause,
                actor=self.actor,
                values=values,
                extra_where=payments.c.enquiry_count == row.enquiry_count,
                later=batch.later,
            )
            if decision.target in (S.POSTED, S.SUCCEEDED):
                notifications.payment_submitted(conn, row.id)
            self.applied.labels("enquiry", outcome.value).inc()
            batch.finish.add(row.request_id)
        else:
            base = row.answered_at or now
            conn.execute(
                update(payments)
                .where(*_still_enquiring(row))
                .values(
                    enquiry_count=done,
                    enquiry_sent_at=None,
                    enquiry_due_at=self.policy.due_at(base, done),
                )
            )
            self.applied.labels("enquiry", outcome.value).inc()
            log.info(
                "enquiry_no_answer",
                reference_id=row.reference_id,
                enquiry=done,
                outcome=outcome.value,
            )

    # ------------------------------------------------------------------ anomalies

    def _keep_if_anomalous(
        self,
        conn: Connection,
        payment: PaymentRow,
        decision: Decision,
        kind: str,
        body: dict[str, Any],
    ) -> None:
        if decision.anomaly:
            record_anomaly(conn, payment, kind, json.dumps(body, default=str))
            log.error(
                "payment_result_disagrees",
                reference_id=payment.reference_id,
                state=payment.state.value,
                result=kind,
                cause=decision.cause,
            )


def _still_enquiring(row: Any) -> tuple[Any, ...]:
    """The payment is where this result found it: ambiguous, after the same enquiries."""
    return (
        payments.c.id == row.id,
        payments.c.state == S.AMBIGUOUS.value,
        payments.c.enquiry_count == row.enquiry_count,
    )


def finish_if_done(conn: Connection, request_id: int) -> bool:
    """Finish the request when nothing of it is queued, in flight or ambiguous any more."""
    if tallies.open_items(conn, request_id, ["queued", "in_flight", "ambiguous"]):
        return False
    finished = conn.execute(
        update(bulk_requests)
        .where(
            bulk_requests.c.id == request_id,
            bulk_requests.c.state.in_(["queued", "running", "paused"]),
        )
        .values(state="finished", finished_at=func.utc_timestamp(6))
    ).rowcount
    if finished:
        log.info("request_finished", request_id=request_id)
        notifications.request_finished(conn, request_id)
    return bool(finished)


def _audit(
    conn: Connection,
    action: str,
    actor: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
) -> None:
    conn.execute(
        insert(audit_log).values(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=json.dumps(details, default=str),
            occurred_at=func.utc_timestamp(6),
        )
    )
