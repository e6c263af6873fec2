"""``pay.result``: what became of one pay command, applied through the payment store.

Attempts fence results: a result moves a payment only if it is of the payment's current
attempt (``decide_pay_result``). A payment that provably never left goes back through
``PaymentStore.never_left`` (queued with the same reference id, cancelled if its request
was, unsent when its tries are used up) — only on a ``not sent`` of the current attempt, or
an ``unclaimed`` whose claim deadline passed on the database's clock. A result that
disagrees with where the payment stands is kept for a person, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bbp_common.core.domain.payments import (
    PaymentState,
    PayOutcome,
    decide_pay_result,
    is_wallet_auth_failure,
    same_failure_streak,
)
from bbp_common.core.domain.requests import RequestState
from bbp_common.platform.logging import get_logger
from bbp_scheduler import notifications
from bbp_scheduler.work import Work

log = get_logger(__name__)
S = PaymentState

#: Where a request's finishing is looked for after a payment moved there.
SETTLING = frozenset(
    {S.POSTED, S.SUCCEEDED, S.FAILED, S.AMBIGUOUS, S.UNCLEARED, S.CANCELLED, S.UNSENT, S.QUEUED}
)


def preload(work: Work, bodies: Sequence[dict[str, Any]]) -> None:
    work.payments.lock([body["payment_id"] for body in bodies])


def apply_pay_result(work: Work, body: dict[str, Any]) -> None:
    store = work.payments
    row = work.result_payment(body)
    outcome = PayOutcome(body["outcome"])
    decision = decide_pay_result(row.state, outcome, same_attempt=body["attempt"] == row.attempt)
    if decision.anomaly:
        work.keep_disagreement(
            row, f"pay.{outcome.value}", body, result=outcome.value, cause=decision.cause
        )
    metrics = work.metrics
    target = decision.target
    unclaimable = row.deadline_at is not None and row.deadline_at <= work.now
    if decision.never_left and row.state is S.DISPATCHED and not unclaimable:
        target = None  # "unclaimed": safe only once no copy of the command can be claimed
    moved = None
    if target is None:
        if metrics:
            metrics.stale.labels("pay").inc()
    else:
        if metrics and row.dispatched_at is not None and row.state is S.SENDING:
            metrics.result_lag.labels("pay").observe((work.now - row.dispatched_at).total_seconds())
        reason = body.get("reason") or decision.cause
        if decision.never_left:
            moved = store.never_left(
                [row], f"{decision.cause} ({reason})", counted=body.get("counted", True)
            )
            moved_row = moved[0] if moved else None
            if moved_row is not None and moved_row.state is S.QUEUED:
                _dispatch_again(work, moved_row.request_id)
        else:
            values: dict[str, Any] = {
                "answered_at": work.now,
                "order_id": body.get("order_id"),
                "service_request_id": body.get("service_request_id"),
                "order_status": body.get("order_status"),
                "error_code": body.get("error_code"),
                "error_detail_code": body.get("error_detail_code"),
                "error_message": body.get("error_message"),
                "reason": reason[:255],
            }
            if decision.failure is not None:
                values["failure"] = decision.failure.value
            if target is S.AMBIGUOUS:
                moved_row = store.to_ambiguous(row, decision.cause, values)
            else:
                moved_row = store.move(row, target, decision.cause, values)
        if moved_row is not None:
            if moved_row.state in (S.POSTED, S.SUCCEEDED):
                work.submitted.append(row.id)
            if moved_row.state in SETTLING:
                work.settle.add(row.request_id)
        if metrics:
            metrics.applied.labels("pay", outcome.value).inc()
    wallet = is_wallet_auth_failure(body.get("error_code"), body.get("error_detail_code"))
    if outcome is PayOutcome.REJECTED:
        if wallet and work.breaker.open(
            cause=f"wallet authentication failed ({body.get('error_code')})",
            reference_id=row.reference_id,
            details={
                "error_code": body.get("error_code"),
                "detail_code": body.get("error_detail_code"),
            },
        ):
            log.error("wallet_breaker_opened", reference_id=row.reference_id)
        if target is not None:
            pause_on_failure_streak(work, row.request_id)


def _dispatch_again(work: Work, request_id: int) -> None:
    """A payment back in the queue of a request that only waited for enquiries: the
    request runs again, or the dispatcher (which serves queued and running requests) would
    never send it."""
    request = work.requests.lock(request_id)
    if request is not None and request.state is RequestState.ENQUIRING:
        work.requests.move(request, RequestState.RUNNING, "a payment is to be sent again")


def pause_on_failure_streak(work: Work, request_id: int) -> None:
    """A request whose last N answered payments failed the same way pauses itself."""
    n = work.settings.auto_pause_after
    if n <= 0:
        return
    work.payments.flush()  # the streak is read from the table: include this batch's answers
    rows = work.conn.exec_driver_sql(
        "SELECT state, error_code, error_detail_code, reason FROM payments"
        " WHERE request_id = %s AND answered_at IS NOT NULL"
        " ORDER BY answered_at DESC, id DESC LIMIT %s",
        (request_id, n),
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
    reason = f"auto-paused: the last {n} payments failed with {streak[0] or ''}/{streak[1] or ''}"
    request = work.requests.lock(request_id)
    if request is None or request.state not in (RequestState.QUEUED, RequestState.RUNNING):
        return
    work.requests.move(
        request,
        RequestState.PAUSED,
        reason,
        {"paused_reason": reason[:255], "paused_by": "system"},
    )
    log.warning("request_auto_paused", request_id=request_id, reason=reason)
    work.conn.exec_driver_sql(
        "INSERT INTO audit_log (occurred_at, actor, action, outcome, target_type, target_id,"
        " details) VALUES (UTC_TIMESTAMP(6), 'system', 'request.auto_paused', 'ok', 'request',"
        " %s, %s)",
        (str(request_id), json.dumps({"reason": reason})),
    )
    notifications.request_auto_paused(work.conn, request_id, reason, failed_alike=n)
