"""The scheduler's notifications: what it asks the communicator to send, and what it records.

Producers (each runs inside the transaction of the change it reports, through
:func:`bbp_common.core.notifications.enqueue`, so the notification commits — or not — with it):

* :func:`request_finished` — called when the request store finished a request: an e-mail
  to the starter (counts and amounts by outcome, link, results CSV attached by the
  communicator) and an SMS with a one-line summary (``BBP_NOTIFY_REQUEST_SMS``).
* :func:`request_auto_paused` — called where the failure streak pauses a request: an e-mail
  to the starter and the operations mailbox with the reason and the failed reference ids.
* :func:`uncleared_notices` — a sweeper step: payments that ended ``uncleared`` are reported
  once each, batched per request (one e-mail to the starter and one to operations listing
  every reference id that became uncleared within ``BBP_NOTIFY_ATTENTION_DELAY``). A sweep,
  not a hook, because payments become uncleared in several places (results, enquiry
  timeouts) and one at a time: the sweep sees them together and needs no marker on the
  payment itself (``notified_payments`` keeps who was told).
* :func:`payment_submitted` — called where a payment becomes ``posted`` or ``succeeded``:
  an SMS to the bill account's mobile (off by default, ``BBP_NOTIFY_PAYMENT_SMS``), once per
  payment, worded "submitted" for posted and "paid" for succeeded.

:func:`apply_result` records the communicator's ``notify.result`` on the row.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update

from bbp_common.core import tallies
from bbp_common.core.notifications import (
    NotifyProducerSettings,
    Queued,
    enqueue,
    enqueue_for_user,
    schedule_retry,
)
from bbp_common.core.notifications import payment_submitted as common_payment_submitted
from bbp_common.platform.db.tables import (
    bulk_requests,
    notifications,
    notified_payments,
    payments,
)
from bbp_common.platform.inbox import first_time
from bbp_common.platform.logging import get_logger

log = get_logger(__name__)

#: The order outcomes are listed in (fetch buckets, then payment buckets).
OUTCOME_ORDER = (
    "bills",
    "no_bills",
    "succeeded",
    "posted",
    "uncleared",
    "failed",
    "cancelled",
)
OPEN_BUCKETS = ("queued", "in_flight", "ambiguous")
ATTENTION_BATCH = 500
PAUSED_LISTED = 20
INBOX = "scheduler.notify"

_settings: NotifyProducerSettings | None = None


def configure(settings: NotifyProducerSettings) -> None:
    """Set the producers' settings (the scheduler's bootstrap does, once)."""
    global _settings
    _settings = settings


def settings() -> NotifyProducerSettings:
    global _settings
    if _settings is None:
        _settings = NotifyProducerSettings()
    return _settings


def _now_text(conn: Connection) -> str:
    now = conn.execute(text("SELECT UTC_TIMESTAMP()")).scalar_one()
    return f"{now:%Y-%m-%d %H:%M} UTC"


def _request(conn: Connection, request_id: int) -> Any:
    return conn.execute(
        select(
            bulk_requests.c.id,
            bulk_requests.c.kind,
            bulk_requests.c.created_by,
            bulk_requests.c.total_items,
            bulk_requests.c.total_amount,
            bulk_requests.c.origin,
        ).where(bulk_requests.c.id == request_id)
    ).first()


def _base_params(request: Any) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "request_kind": request.kind,
        "created_by": request.created_by,
        "total_items": request.total_items,
        "total_amount": str(request.total_amount) if request.total_amount is not None else None,
    }


def _to_starter_and_ops(
    conn: Connection, request: Any, kind: str, params: dict[str, Any]
) -> list[Queued]:
    queued = enqueue_for_user(conn, request.created_by, kind, params, request_id=request.id)
    ops = settings().notify_ops_email.strip()
    if ops:
        queued.append(
            enqueue(
                conn,
                kind=kind,
                channel="email",
                recipient=ops,
                language=settings().notify_ops_language,
                params={"login_id": "operations", **params},
                request_id=request.id,
            )
        )
    return queued


# --------------------------------------------------------------------------- producers


def request_finished(conn: Connection, request_id: int) -> list[Queued]:
    """E-mail (and SMS) the starter of a request that just finished — not for the fetch
    that fetched a scheduled request's bills again (its payment request's own tells)."""
    request = _request(conn, request_id)
    if request is None or request.origin == "refetch":
        return []
    counted = {b: t for b, t in tallies.read(conn, request_id).items() if b not in OPEN_BUCKETS}
    rank = {name: i for i, name in enumerate(OUTCOME_ORDER)}
    outcomes = [
        {"outcome": bucket, "count": count, "amount": f"{amount:.2f}"}
        for bucket, (count, amount) in sorted(
            counted.items(), key=lambda item: (rank.get(item[0], 99), item[0])
        )
    ]
    params = {**_base_params(request), "outcomes": outcomes, "finished_at": _now_text(conn)}
    channels = ("email", "sms") if settings().notify_request_sms else ("email",)
    return enqueue_for_user(
        conn,
        request.created_by,
        "request_finished",
        params,
        channels=channels,
        request_id=request_id,
    )


def request_auto_paused(
    conn: Connection, request_id: int, reason: str, failed_alike: int | None = None
) -> list[Queued]:
    """E-mail the starter and operations: the request was paused by a failure streak of
    ``failed_alike`` payments (the e-mail says it in words; ``reason`` goes in its details)."""
    request = _request(conn, request_id)
    if request is None:
        return []
    failed = conn.execute(
        select(
            payments.c.reference_id,
            payments.c.error_code,
            payments.c.error_message,
            payments.c.reason,
        )
        .where(
            payments.c.request_id == request_id,
            payments.c.state == "failed",
            payments.c.answered_at.is_not(None),
        )
        .order_by(payments.c.answered_at.desc(), payments.c.id.desc())
        .limit(PAUSED_LISTED)
    ).all()
    listed = [
        {
            "reference_id": p.reference_id,
            "error": " ".join(x for x in (p.error_code, p.error_message) if x) or None,
            "reason": p.reason,
        }
        for p in failed
    ]
    params = {**_base_params(request), "reason": reason, "payments": listed}
    if failed_alike is not None:
        params["failed_alike"] = failed_alike
    return _to_starter_and_ops(conn, request, "request_paused", params)


def uncleared_notices(conn: Connection, _token: int = 0) -> int:
    """Report payments that became uncleared (sweeper step); returns payments reported."""
    delay = settings().notify_attention_delay
    cutoff = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one() - timedelta(seconds=delay)
    told = notified_payments.alias("told")
    rows = conn.execute(
        select(
            payments.c.id,
            payments.c.request_id,
            payments.c.reference_id,
            payments.c.consumer_id,
            payments.c.bill_number,
            payments.c.total,
            payments.c.reason,
        )
        .select_from(
            payments.outerjoin(
                told, and_(told.c.payment_id == payments.c.id, told.c.purpose == "attention")
            )
        )
        .where(
            payments.c.state == "uncleared",
            told.c.payment_id.is_(None),
            payments.c.updated_at <= cutoff,
        )
        .order_by(payments.c.request_id, payments.c.id)
        .limit(ATTENTION_BATCH)
    ).all()
    by_request: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_request[row.request_id].append(row)
    for request_id, found in by_request.items():
        request = _request(conn, request_id)
        params = {
            **_base_params(request),
            "payments": [
                {
                    "reference_id": p.reference_id,
                    "consumer_id": p.consumer_id,
                    "bill_number": p.bill_number,
                    "amount": str(p.total),
                    "reason": p.reason,
                }
                for p in found
            ],
        }
        queued = _to_starter_and_ops(conn, request, "payments_attention", params)
        first = next((q.notification_id for q in queued), None)
        conn.execute(
            insert(notified_payments),
            [{"payment_id": p.id, "purpose": "attention", "notification_id": first} for p in found],
        )
        log.warning(
            "payments_uncleared_reported",
            request_id=request_id,
            references=[p.reference_id for p in found][:50],
            notifications=len(queued),
        )
    return len(rows)


def payment_submitted(conn: Connection, payment_id: int) -> Queued | None:
    """SMS the bill account's mobile that its payment was submitted (posted) or paid
    (:func:`bbp_common.core.notifications.payment_submitted`, with the scheduler's settings)."""
    return common_payment_submitted(conn, payment_id, settings())


# --------------------------------------------------------------------------- results


def retry_delay(retries: int) -> float | None:
    """The wait before retry number ``retries + 1`` (``BBP_NOTIFY_RETRY_SCHEDULE``, ±10 %
    jitter so a backlog after an outage does not come back all at once), or None when the
    schedule is used up."""
    schedule = settings().notify_retry_schedule
    if retries >= len(schedule):
        return None
    return schedule[retries] * random.uniform(0.9, 1.1)


def apply_result(conn: Connection, body: dict[str, Any]) -> None:
    """Record one delivery result of a notification (once per report, order-tolerant).

    ``sent`` always wins (a notification once sent stays sent; a late ``retrying``,
    ``retry_later`` or ``dead`` of an earlier delivery does not undo it); each report adds its
    tries. ``retry_later`` (a transient failure) schedules the next command through the outbox,
    due after the schedule's next wait — or, the schedule used up, makes the row ``dead`` —
    but only for the row's current command (``command_id``): a report of an older copy (a
    redelivery, a duplicate publish) never makes a second command.
    """
    notification_id = body["notification_id"]
    outcome = body["outcome"]
    if not first_time(conn, INBOX, body["report_id"]):
        return
    row = conn.execute(
        select(
            notifications.c.state,
            notifications.c.attempts,
            notifications.c.retries,
            notifications.c.command_id,
            notifications.c.channel,
            notifications.c.kind,
        )
        .where(notifications.c.notification_id == notification_id)
        .with_for_update()
    ).first()
    if row is None:
        log.warning("notify_result_unknown_notification", notification_id=notification_id)
        return
    attempts = int(row.attempts) + int(body["tries"])
    error = (body.get("error") or "")[:500] or None
    values: dict[str, Any]
    if outcome == "sent":
        values = {
            "state": "sent",
            "sent_at": func.utc_timestamp(6),
            "last_error": None,
            "next_attempt_at": None,
        }
    elif row.state == "sent":
        log.info("notify_result_after_sent", notification_id=notification_id, outcome=outcome)
        return
    elif outcome in ("failed", "dead"):
        values = {"state": outcome, "last_error": error, "next_attempt_at": None}
    elif outcome == "retry_later":
        values = {"last_error": error}
        command_id = body.get("command_id")
        current = row.state == "pending" and (
            command_id is None or row.command_id is None or command_id == row.command_id
        )
        if not current:
            values = {}
            log.info(
                "notify_retry_of_older_command",
                notification_id=notification_id,
                command_id=command_id,
                current=row.command_id,
                state=row.state,
            )
        else:
            retries = int(row.retries)
            delay = retry_delay(retries)
            if delay is None:
                outcome = "dead"
                values = {
                    "state": "dead",
                    "next_attempt_at": None,
                    "last_error": f"gave up after {retries + 1} deliveries: {error}"[:500],
                }
            else:
                message_id = schedule_retry(conn, notification_id, row.channel, row.kind, delay)
                values["retries"] = retries + 1
                log.warning(
                    "notification_retry_scheduled",
                    notification_id=notification_id,
                    retry=retries + 1,
                    retry_in=round(delay, 1),
                    command_id=message_id,
                    error=error,
                )
    else:
        values = {"last_error": error}
    conn.execute(
        update(notifications)
        .where(notifications.c.notification_id == notification_id)
        .values(attempts=attempts, **values)
    )
    if outcome in ("failed", "dead"):
        log.error(
            "notification_not_delivered",
            notification_id=notification_id,
            outcome=outcome,
            error=values.get("last_error"),
        )
