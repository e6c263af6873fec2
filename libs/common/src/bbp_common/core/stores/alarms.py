"""The double-payment alarms: the one door of ``double_payment_alarms``.

A reconciliation raises an alarm for each payment of ours that failed or was never sent
(``failed``, ``unsent``, ``cancelled``) while Mobiquity's report shows its reference paid or
pending: the bill may be paid already, so "pay again" (``bbp_portal.payments.again``) refuses
it while the alarm stands. Only a person clears one (a superadmin, with a comment; the portal
audits it) — an alarm never clears itself, and raising never touches the payment.

At most one alarm per payment, ever: raising again for a payment that has one — standing, or
cleared by a person who checked it — adds nothing, so the same report uploaded again (or the
next month's, still listing the line) does not undo a person's decision; the reconciliation
still lists the payment in its ``double_payment_alarm`` class. (The check runs in the
caller's transaction; two reconciliations racing may each raise one, which a person then
clears twice — harmless, never a missed alarm.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

_RAISE_FROM = (
    "INSERT INTO double_payment_alarms (payment_id, reconciliation_id, raised_at)"
    " SELECT DISTINCT i.payment_id, i.reconciliation_id, UTC_TIMESTAMP(6)"
    " FROM reconciliation_items i WHERE i.reconciliation_id = %s"
    " AND i.class = 'double_payment_alarm' AND i.payment_id IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM double_payment_alarms a WHERE a.payment_id = i.payment_id)"
)
_RAISE_ON = (
    "INSERT INTO double_payment_alarms (payment_id, reconciliation_id, raised_at)"
    " SELECT %s, %s, UTC_TIMESTAMP(6) FROM DUAL WHERE NOT EXISTS (SELECT 1"
    " FROM double_payment_alarms a WHERE a.payment_id = %s)"
)
_LOCK = (
    "SELECT id, payment_id, reconciliation_id, raised_at, cleared_at, cleared_by, comment"
    " FROM double_payment_alarms WHERE id = %s FOR UPDATE"
)
_CLEAR = (
    "UPDATE double_payment_alarms SET cleared_at = UTC_TIMESTAMP(6), cleared_by = %s,"
    " comment = %s WHERE id = %s AND cleared_at IS NULL"
)


@dataclass(frozen=True)
class Alarm:
    id: int
    payment_id: int
    reconciliation_id: int | None
    raised_at: datetime
    cleared_at: datetime | None
    cleared_by: str | None
    comment: str | None


class AlarmNotFound(LookupError):
    """No alarm of that id."""


class AlarmAlreadyCleared(Exception):
    """The alarm was cleared already (by whom and when: ``alarm``)."""

    def __init__(self, alarm: Alarm) -> None:
        super().__init__(f"alarm {alarm.id} was cleared by {alarm.cleared_by}")
        self.alarm = alarm


class AlarmStore:
    """Raises and clears double-payment alarms in the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def raise_from(self, reconciliation_id: int) -> int:
        """One alarm for each ``double_payment_alarm`` item of the reconciliation whose
        payment never had one (one statement); returns how many were raised."""
        return int(self.conn.exec_driver_sql(_RAISE_FROM, (reconciliation_id,)).rowcount)

    def raise_on(self, payment_id: int, reconciliation_id: int | None = None) -> bool:
        """An alarm on one payment (unless it ever had one); whether one was raised."""
        done = self.conn.exec_driver_sql(_RAISE_ON, (payment_id, reconciliation_id, payment_id))
        return bool(done.rowcount)

    def lock(self, alarm_id: int) -> Alarm:
        row = self.conn.exec_driver_sql(_LOCK, (alarm_id,)).first()
        if row is None:
            raise AlarmNotFound(alarm_id)
        return Alarm(*row)

    def clear(self, alarm_id: int, *, person: str, comment: str) -> Alarm:
        """A person clears the alarm (their comment says why the bill may be paid again).
        :class:`AlarmAlreadyCleared` when someone did already."""
        alarm = self.lock(alarm_id)
        if alarm.cleared_at is not None:
            raise AlarmAlreadyCleared(alarm)
        self.conn.exec_driver_sql(_CLEAR, (person[:64], comment[:500], alarm_id))
        return self.lock(alarm_id)

    def clear_payment(self, payment_id: int, *, person: str, comment: str) -> int:
        """Clear every standing alarm of one payment; how many were cleared."""
        ids = [
            r[0]
            for r in self.conn.exec_driver_sql(
                "SELECT id FROM double_payment_alarms WHERE payment_id = %s"
                " AND cleared_at IS NULL FOR UPDATE",
                (payment_id,),
            )
        ]
        for alarm_id in ids:
            self.clear(alarm_id, person=person, comment=comment)
        return len(ids)


__all__ = ["Alarm", "AlarmAlreadyCleared", "AlarmNotFound", "AlarmStore"]
