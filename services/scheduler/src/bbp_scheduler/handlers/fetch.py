"""``fetch.result``: an account's pending bills, none, or a failure to retry or to keep."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bbp_common.core.domain.requests import FetchItemState, FetchOutcome
from bbp_scheduler.work import Work

F = FetchItemState

_BILL = (
    "INSERT INTO bills (fetch_item_id, bill_account_id, utility_code, consumer_id,"
    " bill_number, due_date, amount, service_charge, detail, fetched_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def preload(work: Work, bodies: Sequence[dict[str, Any]]) -> None:
    work.fetches.lock([body["item_id"] for body in bodies])


def apply_fetch_result(work: Work, body: dict[str, Any]) -> None:
    """Apply one result if it answers the item's current dispatch (attempt); a result that
    arrives twice or late changes nothing."""
    store, settings, metrics = work.fetches, work.settings, work.metrics
    item = store.lock([body["item_id"]]).get(body["item_id"])
    if item is None or item.state is not F.DISPATCHED or item.attempts != body["attempt"]:
        if metrics:
            metrics.stale.labels("fetch").inc()
        return
    now = work.now
    if metrics and item.dispatched_at is not None:
        metrics.result_lag.labels("fetch").observe((now - item.dispatched_at).total_seconds())
    outcome = body["outcome"]
    if outcome in ("bills", "no_bills"):
        found = body.get("bills") or []
        if found:
            work.conn.exec_driver_sql(
                _BILL,
                [
                    (
                        item.id,
                        item.bill_account_id,
                        item.utility_code,
                        item.consumer_id,
                        bill["bill_number"],
                        bill.get("due_date"),
                        bill["amount"],
                        bill.get("service_charge") or Decimal("0"),
                        json.dumps(bill["detail"]) if bill.get("detail") else None,
                        now,
                    )
                    for bill in found
                ],
            )
        total = sum((Decimal(bill["amount"]) for bill in found), Decimal("0"))
        store.move(
            item,
            F.DONE,
            {
                "completed_at": now,
                "bill_count": len(found),
                "bills_amount": total,
                "error_code": None,
                "error_message": None,
            },
            outcome=FetchOutcome(outcome),
            amount=total,
        )
        work.settle.add(item.request_id)
    elif outcome == "expired":
        # Never sent (its command waited too long): the attempt is given back and the item
        # goes out again through the pace.
        store.back_to_queue(item, {"attempts": item.attempts - 1, "next_attempt_at": now})
        work.settle.add(item.request_id)
    elif body.get("retryable") and item.attempts < settings.fetch_max_attempts:
        wait = settings.fetch_retry_backoff * 2 ** (item.attempts - 1)
        store.back_to_queue(
            item,
            {
                "next_attempt_at": now + timedelta(seconds=wait),
                "error_code": (body.get("error_code") or "")[:64] or None,
                "error_message": (body.get("error_message") or "")[:500] or None,
            },
        )
        work.settle.add(item.request_id)
    else:
        store.move(
            item,
            F.DONE,
            {
                "completed_at": now,
                "error_code": (body.get("error_code") or "")[:64] or None,
                "error_message": (body.get("error_message") or "")[:500] or None,
            },
            outcome=FetchOutcome.FAILED,
        )
        work.settle.add(item.request_id)
    if metrics:
        metrics.applied.labels("fetch", outcome).inc()
