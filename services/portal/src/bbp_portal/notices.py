"""The portal's side of notifications: ask for the password-changed e-mail, list the ones
that could not be delivered, and send one again.

Everything goes through :mod:`bbp_portal.notifications` in one transaction each: the
notification row and its outbox command commit together, and the scheduler's relay
publishes the command (the portal needs no broker connection for it). The views depend on
the :class:`NoticeStore` protocol so unit tests can run without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import Engine

from bbp_common.core.contacts import mask_mobile
from bbp_common.core.notifications import NotResendable as NotResendableRow
from bbp_common.platform.db.tables import notifications
from bbp_portal import notifications as common

#: States the superadmin page lists: given up on, and waiting for a person.
UNDELIVERED = ("failed", "dead")


@dataclass(frozen=True)
class Notice:
    """One row of the superadmin page."""

    id: int
    notification_id: str
    kind: str
    channel: str
    recipient: str
    language: str
    request_id: int | None
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    resent_by: str | None
    resent_at: datetime | None

    @property
    def shown_recipient(self) -> str:
        """Mobile numbers half-hidden: the page needs to recognise one, not to dial it."""
        return mask_mobile(self.recipient) if self.channel == "sms" else self.recipient


class NotResendable(Exception):
    """The notification is not failed or dead (any more): nothing to send again."""


class NoticeStore(Protocol):
    def password_changed(self, login_id: str, how: str) -> None: ...

    def undelivered(self, *, before_id: int | None, limit: int) -> tuple[list[Notice], int | None]:
        """Failed and dead notifications, newest first, and the next page's key."""
        ...

    def resend(self, notification_id: str, by: str) -> None: ...


class SqlNotices:
    """``NoticeStore`` on MySQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def password_changed(self, login_id: str, how: str) -> None:
        with self._engine.begin() as conn:
            common.password_changed(conn, login_id, how=how)

    def undelivered(self, *, before_id: int | None, limit: int) -> tuple[list[Notice], int | None]:
        c = notifications.c
        # One index range per state (ix_notifications_state_id), newest first, merged.
        rows = []
        with self._engine.connect() as conn:
            for state in UNDELIVERED:
                q = (
                    sa.select(notifications)
                    .where(c.state == state)
                    .order_by(c.id.desc())
                    .limit(limit + 1)
                )
                if before_id is not None:
                    q = q.where(c.id < before_id)
                rows.extend(conn.execute(q).all())
        rows.sort(key=lambda r: r.id, reverse=True)
        notices = [
            Notice(
                r.id,
                r.notification_id,
                r.kind,
                r.channel,
                r.recipient,
                r.language,
                r.request_id,
                r.state,
                r.attempts,
                r.last_error,
                r.created_at,
                r.resent_by,
                r.resent_at,
            )
            for r in rows[:limit]
        ]
        next_before = notices[-1].id if len(rows) > limit and notices else None
        return notices, next_before

    def resend(self, notification_id: str, by: str) -> None:
        try:
            with self._engine.begin() as conn:
                common.resend(conn, notification_id, by)
        except NotResendableRow:
            raise NotResendable(notification_id) from None
