"""The scheduler's notifications: what it asks the communicator to send, and what it records.

Producers (each runs inside the transaction of the change it reports, through
:func:`bbp_common.notifications.enqueue`, so the notification commits — or not — with it):

* :func:`request_finished` — called by ``finish_if_done`` when a request finished: an e-mail
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

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update

from bbp_common import tallies
from bbp_common.db.tables import (
    bill_accounts,
    billers,
    bulk_requests,
    notifications,
    notified_payments,
    payments,
)
from bbp_common.inbox import first_time
from bbp_common.logging import get_logger
from bbp_common.notifications import (
    NotifyProducerSettings,
    Queued,
    enqueue,
    enqueue_for_user,
)

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
SUBMITTED_STATES = ("posted", "succeeded")
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
    """E-mail (and SMS) the starter of a request that just finished."""
    request = _request(conn, request_id)
    if request is None:
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


def request_auto_paused(conn: Connection, request_id: int, reason: str) -> list[Queued]:
    """E-mail the starter and operations: the request was paused by a failure streak."""
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
    """SMS the bill account's mobile that its payment was submitted (posted) or paid.

    Once per payment (``notified_payments``), whichever of posted/succeeded comes first; only
    when ``BBP_NOTIFY_PAYMENT_SMS`` is on. An invalid mobile number gets no SMS: the
    notification is recorded failed with the reason.
    """
    if not settings().notify_payment_sms:
        return None
    row = conn.execute(
        select(
            payments.c.id,
            payments.c.request_id,
            payments.c.state,
            payments.c.reference_id,
            payments.c.consumer_id,
            payments.c.bill_number,
            payments.c.total,
            billers.c.name.label("biller"),
            bill_accounts.c.mobile,
        )
        .select_from(
            payments.join(billers, billers.c.utility_code == payments.c.utility_code).join(
                bill_accounts, bill_accounts.c.id == payments.c.bill_account_id
            )
        )
        .where(payments.c.id == payment_id)
    ).first()
    if row is None or row.state not in SUBMITTED_STATES:
        return None
    first = conn.execute(
        insert(notified_payments)
        .prefix_with("IGNORE")
        .values(payment_id=payment_id, purpose="submitted")
    ).rowcount
    if not first:
        return None
    queued = enqueue(
        conn,
        kind="payment_submitted",
        channel="sms",
        recipient=row.mobile,
        language=settings().notify_payment_sms_language,
        params={
            "state": row.state,
            "biller": row.biller,
            "bill_number": row.bill_number,
            "consumer_id": row.consumer_id,
            "total": str(row.total),
            "reference_id": row.reference_id,
        },
        request_id=row.request_id,
    )
    conn.execute(
        update(notified_payments)
        .where(
            notified_payments.c.payment_id == payment_id,
            notified_payments.c.purpose == "submitted",
        )
        .values(notification_id=queued.notification_id)
    )
    return queued


# --------------------------------------------------------------------------- results


def apply_result(conn: Connection, body: dict[str, Any]) -> None:
    """Record one delivery result of a notification (once per report, order-tolerant).

    ``sent`` always wins (a notification once sent stays sent; a late ``retrying`` or
    ``dead`` of an earlier delivery does not undo it); each report adds its tries.
    """
    notification_id = body["notification_id"]
    outcome = body["outcome"]
    if not first_time(conn, INBOX, body["report_id"]):
        return
    row = conn.execute(
        select(notifications.c.state, notifications.c.attempts)
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
        values = {"state": "sent", "sent_at": func.utc_timestamp(6), "last_error": None}
    elif row.state == "sent":
        log.info("notify_result_after_sent", notification_id=notification_id, outcome=outcome)
        return
    elif outcome in ("failed", "dead"):
        values = {"state": outcome, "last_error": error}
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
            error=error,
        )
