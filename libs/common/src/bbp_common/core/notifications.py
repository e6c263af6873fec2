"""Asking for an e-mail or SMS: one ``notifications`` row and its ``command.notify`` outbox
message, written in the caller's open transaction.

Why in the caller's transaction: the notification belongs to the business change (a request
finished, a password changed). Commit and both the row and the command exist — the outbox
relay publishes the command however often a service restarts; roll back and neither does.
The communicator renders and sends, and reports each delivery; the scheduler records it on
the row (:mod:`bbp_scheduler.notifications`).

Producers call :func:`enqueue` (any recipient) or :func:`enqueue_for_user` (a portal user:
their e-mail/mobile and preferred language come from ``users``). Each service keeps its own
producers (``bbp_portal.notifications``, ``bbp_scheduler.notifications``); what both need
is here: :func:`payment_submitted` — the SMS to a bill account's mobile when its payment is
posted or succeeded (the scheduler from results, the portal when a superadmin resolves an
uncleared payment as paid) —, :func:`wallet_breaker_opened` — the e-mail and SMS to every
superadmin when the paying wallet's breaker opens (the communicator and the scheduler both
open it) — and :func:`command`, which writes one ``command.notify``.

Rules every producer gets from :func:`enqueue`: ``params`` pass through the secret masker
(nothing secret can reach a template); a recipient that cannot work (an invalid mobile
number or e-mail address) gets no command — the row is written ``failed`` with the reason,
and the reason is logged, so the page shows it.

Why one module of more than 400 lines: the one place that writes notification rows and their
commands — the rules every producer gets — with the settings they read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, func, insert, select, text, update

from bbp_common.core.contacts import InvalidRecipient, mask_mobile, normalise
from bbp_common.core.messages import NOTIFY_COMMAND
from bbp_common.platform import outbox
from bbp_common.platform.db.tables import (
    bill_accounts,
    billers,
    notifications,
    notified_payments,
    payments,
    users,
    wallet_breaker,
)
from bbp_common.platform.envelope import EXCHANGE
from bbp_common.platform.logging import get_logger
from bbp_common.platform.masking import mask
from bbp_common.platform.settings import Schedule, Seconds, _Base

log = get_logger(__name__)

CHANNELS = ("email", "sms")
LANGUAGES = ("en", "bn")
#: Every kind of notification; each is a template of the same name (per channel and language).
KINDS = (
    "request_finished",
    "payments_attention",
    "request_paused",
    "approval_needed",
    "request_approved",
    "request_rejected",
    "payment_submitted",
    "password_changed",
    "wallet_breaker_opened",
)
#: Who may approve a payment request (maker-checker): everyone who may operate.
APPROVER_ROLES = ("admin", "superadmin")
RESENDABLE = ("failed", "dead")
LAST_ERROR_MAX = 500


#: States a payment-submitted SMS is sent for (worded "submitted" for posted, "paid" for
#: succeeded).
SUBMITTED_STATES = ("posted", "succeeded")


class PaymentSmsSettings(_Base):
    """The payment-submitted SMS: read by the scheduler and the portal (a superadmin resolving
    an uncleared payment as paid), so both services decide alike."""

    notify_payment_sms: bool = Field(
        False,
        description="SMS the bill account's mobile when its payment is posted or succeeded",
    )
    notify_payment_sms_language: str = Field(
        "en", pattern="^(en|bn)$", description="Language of SMS to bill accounts' mobiles"
    )


class NotifyProducerSettings(PaymentSmsSettings):
    """What the scheduler's producers need (the communicator has its own sender settings)."""

    notify_ops_email: str = Field(
        "",
        description="Operations mailbox that also gets 'payments need attention' e-mails "
        "('' = only the request's starter)",
    )
    notify_ops_language: str = Field(
        "en", pattern="^(en|bn)$", description="Language of the operations mailbox's e-mails"
    )
    notify_request_sms: bool = Field(
        True, description="SMS the starter a one-line summary when their request finishes"
    )
    notify_attention_delay: Seconds = Field(
        30,
        description="Uncleared payments are reported this long after they became uncleared, "
        "in one e-mail per request (the ones that came meanwhile are batched)",
    )
    notify_retry_schedule: Schedule = Field(
        "30s,1m,2m,5m,10m,20m,30m,30m",  # type: ignore[arg-type]  # parsed by Schedule's validator
        description="Waits before each new try of an e-mail or SMS that failed for now "
        "(server down, timeout, 4xx of SMTP, 5xx); its length is how many retries before it "
        "is given up (dead)",
    )


class NotResendable(Exception):
    """Only a failed or dead notification can be sent again."""


@dataclass(frozen=True)
class Queued:
    """What :func:`enqueue` wrote: the notification's id and its outbox message (None if the
    recipient was invalid and the row was recorded failed)."""

    notification_id: str
    message_id: str | None

    @property
    def accepted(self) -> bool:
        return self.message_id is not None


def _params_json(params: Mapping[str, Any]) -> str:
    return json.dumps(mask(dict(params)), default=str, ensure_ascii=False, sort_keys=True)


def _describe(channel: str, recipient: str) -> str:
    return mask_mobile(recipient) if channel == "sms" else recipient


def enqueue(
    conn: Connection,
    *,
    kind: str,
    channel: str,
    recipient: str | None,
    language: str,
    params: Mapping[str, Any],
    request_id: int | None = None,
    template: str | None = None,
) -> Queued:
    """Write one notification and its ``command.notify`` in ``conn``'s transaction.

    The recipient is normalised (``01XXXXXXXXX`` for SMS); an invalid one is recorded
    ``failed`` with the reason and gets no command. Unknown kinds, channels or languages are a
    bug in the caller and raise ``ValueError`` (its transaction should fail).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    notification_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "notification_id": notification_id,
        "kind": kind,
        "channel": channel,
        "language": language,
        "template": template or kind,
        "params": _params_json(params),
        "request_id": request_id,
    }
    try:
        address = normalise(channel, recipient)
    except InvalidRecipient as exc:
        reason = str(exc)[:LAST_ERROR_MAX]
        conn.execute(
            insert(notifications).values(
                **values, recipient=(recipient or "")[:254], state="failed", last_error=reason
            )
        )
        log.warning(
            "notification_not_sent_invalid_recipient",
            notification_id=notification_id,
            kind=kind,
            channel=channel,
            request_id=request_id,
            reason=reason,
        )
        return Queued(notification_id, None)
    message_id = str(uuid.uuid4())
    conn.execute(insert(notifications).values(**values, recipient=address, command_id=message_id))
    command(conn, notification_id, channel, kind, message_id=message_id)
    log.info(
        "notification_queued",
        notification_id=notification_id,
        kind=kind,
        channel=channel,
        recipient=_describe(channel, address),
        request_id=request_id,
    )
    return Queued(notification_id, message_id)


def command(
    conn: Connection,
    notification_id: str,
    channel: str,
    kind: str,
    *,
    message_id: str | None = None,
    delay: float = 0.0,
) -> str:
    return outbox.add(
        conn,
        EXCHANGE,
        NOTIFY_COMMAND.routing_key,
        NOTIFY_COMMAND.type,
        {"notification_id": notification_id, "channel": channel, "kind": kind},
        version=NOTIFY_COMMAND.version,
        message_id=message_id,
        delay=delay,
    )


def schedule_retry(
    conn: Connection, notification_id: str, channel: str, kind: str, delay: float
) -> str:
    """Write the next ``command.notify`` of a pending notification, due in ``delay`` seconds
    (the outbox's ``available_at``), and make it the row's current command; returns its id.

    The caller (the scheduler, applying a ``retry_later`` report) holds the row's lock and
    counts the retry. Nothing waits in memory: a restart of any service meanwhile changes
    nothing, the relay publishes the command when it is due.
    """
    message_id = str(uuid.uuid4())
    conn.execute(
        update(notifications)
        .where(notifications.c.notification_id == notification_id)
        .values(
            command_id=message_id,
            next_attempt_at=func.date_add(
                func.utc_timestamp(6),
                text("INTERVAL :micros MICROSECOND").bindparams(micros=int(delay * 1e6)),
            ),
        )
    )
    return command(conn, notification_id, channel, kind, message_id=message_id, delay=delay)


@dataclass(frozen=True)
class Contact:
    """A portal user as a recipient."""

    login_id: str
    email: str
    mobile: str | None
    language: str


def user_contact(conn: Connection, login_id: str) -> Contact | None:
    """The active user ``login_id`` (case-insensitive), or None."""
    row = conn.execute(
        select(users.c.login_id, users.c.email, users.c.mobile, users.c.language).where(
            users.c.login_id == login_id, users.c.active.is_(True)
        )
    ).first()
    if row is None:
        return None
    return Contact(row.login_id, row.email, row.mobile, row.language or "en")


def enqueue_for_user(
    conn: Connection,
    login_id: str,
    kind: str,
    params: Mapping[str, Any],
    *,
    channels: Iterable[str] = ("email",),
    request_id: int | None = None,
) -> list[Queued]:
    """Notify a portal user on ``channels`` in their language.

    Nothing for an unknown or disabled user, and no SMS for a user without a mobile number
    (both logged): the user chose not to have one, which is not a failure.
    """
    contact = user_contact(conn, login_id)
    if contact is None:
        log.info("notification_skipped_no_user", kind=kind, login_id=login_id)
        return []
    queued = []
    for channel in channels:
        address = contact.email if channel == "email" else contact.mobile
        if channel == "sms" and not address:
            log.info("notification_skipped_no_mobile", kind=kind, login_id=contact.login_id)
            continue
        queued.append(
            enqueue(
                conn,
                kind=kind,
                channel=channel,
                recipient=address,
                language=contact.language,
                params={"login_id": contact.login_id, **params},
                request_id=request_id,
            )
        )
    return queued


# --------------------------------------------------------------------------- portal producers


# --------------------------------------------------------------------------- payment submitted


def payment_submitted(
    conn: Connection, payment_id: int, settings: PaymentSmsSettings
) -> Queued | None:
    """SMS the bill account's mobile that its payment was submitted (posted) or paid
    (succeeded), in ``conn``'s transaction.

    Once per payment (``notified_payments``), whichever of posted/succeeded comes first; only
    when ``BBP_NOTIFY_PAYMENT_SMS`` is on. Called by the scheduler where results make a
    payment posted or succeeded, and by the portal where a superadmin resolves an uncleared
    payment as paid. An invalid mobile number gets no SMS: the notification is recorded failed
    with the reason.
    """
    if not settings.notify_payment_sms:
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
        language=settings.notify_payment_sms_language,
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


# --------------------------------------------------------------------------- wallet breaker


def wallet_breaker_opened(conn: Connection, cause: str, reference_id: str | None) -> list[Queued]:
    """E-mail and SMS every active superadmin (each in their language): the paying wallet's
    breaker opened, so no payment is sent until one of them closes it.

    The :class:`~bbp_common.core.stores.breaker.WalletBreaker`'s ``on_opened`` hook: it runs
    in the opening transaction, and only the call that moved the breaker to ``open`` runs
    it — so one opening is told once, however many payments failed alike and whether the
    communicator (which got the answer) or the scheduler (applying the result) opened it.
    """
    opened_at = conn.execute(
        select(wallet_breaker.c.opened_at).where(wallet_breaker.c.name == "payer")
    ).scalar()
    if opened_at is None:
        opened_at = conn.execute(text("SELECT UTC_TIMESTAMP()")).scalar_one()
    params = {
        "cause": cause,
        "reference_id": reference_id or "",
        "opened_at": f"{opened_at:%Y-%m-%d %H:%M} UTC",
    }
    people = conn.execute(
        select(users.c.login_id)
        .where(users.c.role == "superadmin", users.c.active.is_(True))
        .order_by(users.c.login_id)
    ).scalars()
    queued: list[Queued] = []
    for login_id in list(people):
        queued += enqueue_for_user(
            conn, login_id, "wallet_breaker_opened", params, channels=("email", "sms")
        )
    log.warning("wallet_breaker_opened_told", notifications=len(queued), reference_id=reference_id)
    return queued


__all__ = [
    "APPROVER_ROLES",
    "CHANNELS",
    "KINDS",
    "LANGUAGES",
    "Contact",
    "NotResendable",
    "NotifyProducerSettings",
    "PaymentSmsSettings",
    "Queued",
    "command",
    "enqueue",
    "enqueue_for_user",
    "payment_submitted",
    "schedule_retry",
    "user_contact",
    "wallet_breaker_opened",
]
