"""The portal's notifications: who is told what when a person acts in the portal.

Each producer runs in the caller's transaction through :func:`bbp_common.core.notifications.
enqueue_for_user` (the notification row and its ``command.notify`` outbox row commit with the
change, or not at all):

* :func:`password_changed` — after a password change or reset succeeded;
* :func:`approval_needed` — a payment request waits for approval (maker-checker): an e-mail
  to every active admin and superadmin except the maker;
* :func:`request_approved` / :func:`request_rejected` — an e-mail to the maker;
* :func:`resend` — the superadmin page's "send again" on a failed or dead notification.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, func, select, update

from bbp_common.core.notifications import (
    APPROVER_ROLES,
    RESENDABLE,
    NotResendable,
    Queued,
    command,
    enqueue_for_user,
)
from bbp_common.platform.db.tables import bulk_requests, notifications, users
from bbp_common.platform.logging import get_logger

log = get_logger(__name__)


def password_changed(conn: Connection, login_id: str, *, how: str = "changed") -> list[Queued]:
    """E-mail the user that their password was changed (``how``: ``changed`` or ``reset``).

    Call it where the change succeeded. The message says when and tells the user to contact
    an administrator if it was not them; it never holds a password.
    """
    now = conn.execute(select(func.utc_timestamp())).scalar_one()
    return enqueue_for_user(
        conn, login_id, "password_changed", {"how": how, "changed_at": f"{now:%Y-%m-%d %H:%M} UTC"}
    )


def _request(conn: Connection, request_id: int) -> Any:
    row = conn.execute(
        select(
            bulk_requests.c.id,
            bulk_requests.c.kind,
            bulk_requests.c.state,
            bulk_requests.c.created_by,
            bulk_requests.c.total_items,
            bulk_requests.c.total_amount,
            bulk_requests.c.approved_by,
            bulk_requests.c.approval_comment,
        ).where(bulk_requests.c.id == request_id)
    ).first()
    if row is None:
        raise ValueError(f"no request {request_id}")
    return row


def _request_params(row: Any) -> dict[str, Any]:
    return {
        "request_id": row.id,
        "request_kind": row.kind,
        "created_by": row.created_by,
        "total_items": row.total_items,
        "total_amount": str(row.total_amount) if row.total_amount is not None else None,
    }


def approval_needed(conn: Connection, request_id: int) -> list[Queued]:
    """E-mail every active admin and superadmin but the maker: a request waits for approval."""
    request = _request(conn, request_id)
    approvers = (
        conn.execute(
            select(users.c.login_id).where(
                users.c.active.is_(True),
                users.c.role.in_(APPROVER_ROLES),
                users.c.login_id != request.created_by,
            )
        )
        .scalars()
        .all()
    )
    queued: list[Queued] = []
    for login_id in approvers:
        queued += enqueue_for_user(
            conn, login_id, "approval_needed", _request_params(request), request_id=request_id
        )
    return queued


def request_approved(conn: Connection, request_id: int) -> list[Queued]:
    """E-mail the maker that their request was approved (by ``bulk_requests.approved_by``)."""
    request = _request(conn, request_id)
    params = {**_request_params(request), "decided_by": request.approved_by}
    return enqueue_for_user(
        conn, request.created_by, "request_approved", params, request_id=request_id
    )


def request_rejected(conn: Connection, request_id: int) -> list[Queued]:
    """E-mail the maker that their request was rejected, with the checker's comment."""
    request = _request(conn, request_id)
    params = {
        **_request_params(request),
        "decided_by": request.approved_by,
        "comment": request.approval_comment,
    }
    return enqueue_for_user(
        conn, request.created_by, "request_rejected", params, request_id=request_id
    )


# --------------------------------------------------------------------------- sending again


def resend(conn: Connection, notification_id: str, by: str) -> str:
    """Send a failed or dead notification again: back to ``pending``, a new command.

    The row keeps its recipient, template and params (what was asked is what is sent) and its
    attempt count; ``resent_by``/``resent_at`` say who asked. Returns the outbox message id.
    Raises :class:`NotResendable` when the row is missing, pending or already sent.
    """
    changed = conn.execute(
        update(notifications)
        .where(
            notifications.c.notification_id == notification_id,
            notifications.c.state.in_(RESENDABLE),
        )
        .values(
            state="pending",
            resent_by=by[:64],
            resent_at=func.utc_timestamp(6),
            retries=0,
            next_attempt_at=None,
        )
    ).rowcount
    if changed != 1:
        raise NotResendable(notification_id)
    row = conn.execute(
        select(notifications.c.channel, notifications.c.kind).where(
            notifications.c.notification_id == notification_id
        )
    ).one()
    message_id = str(uuid.uuid4())
    conn.execute(
        update(notifications)
        .where(notifications.c.notification_id == notification_id)
        .values(command_id=message_id)
    )
    command(conn, notification_id, row.channel, row.kind, message_id=message_id)
    log.info("notification_resend", notification_id=notification_id, by=by)
    return message_id
