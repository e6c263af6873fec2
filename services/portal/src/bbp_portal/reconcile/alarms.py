"""Double-payment alarms for people: the standing ones (and those cleared lately), and a
superadmin clearing one with a comment — audited in the same transaction. The writes go
through ``bbp_common.core.stores.alarms`` (the one door of the table)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, select

from bbp_common.core.stores.alarms import AlarmAlreadyCleared, AlarmNotFound, AlarmStore
from bbp_common.platform.db.tables import double_payment_alarms, payments
from bbp_portal.audit_trail import Actor, record
from bbp_portal.service_errors import Conflict, NotFound, ValidationFailed

A = double_payment_alarms.c
P = payments.c


def _query() -> Any:
    return select(
        A.id,
        A.payment_id,
        A.reconciliation_id,
        A.raised_at,
        A.cleared_at,
        A.cleared_by,
        A.comment,
        P.reference_id,
        P.request_id,
        P.state,
        P.total,
        P.utility_code,
        P.consumer_id,
        P.bill_number,
    ).select_from(double_payment_alarms.join(payments, P.id == A.payment_id))


def get_alarm(conn: Connection, alarm_id: int) -> dict[str, Any]:
    row = conn.execute(_query().where(A.id == alarm_id)).first()
    if row is None:
        raise NotFound(f"There is no alarm {alarm_id}.")
    return dict(row._mapping)


def list_alarms(
    conn: Connection, *, cleared: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    query = _query().order_by(A.id.desc()).limit(limit)
    query = query.where(A.cleared_at.is_not(None) if cleared else A.cleared_at.is_(None))
    return [dict(r._mapping) for r in conn.execute(query)]


def count_alarms(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(double_payment_alarms).where(A.cleared_at.is_(None))
        ).scalar_one()
    )


def clear_alarm(engine: Engine, who: Actor, alarm_id: int, comment: str) -> dict[str, Any]:
    """A superadmin clears an alarm: the comment says why the bill may be paid again."""
    comment = comment.strip()
    if len(comment) < 3:
        raise ValidationFailed(
            "comment_required", "Say why the alarm can be cleared (a comment).", "comment"
        )
    try:
        with engine.begin() as conn:
            alarm = AlarmStore(conn).clear(alarm_id, person=who.login_id, comment=comment)
            record(
                conn,
                who,
                "reconciliation.alarm_clear",
                target_type="payment",
                target_id=alarm.payment_id,
                alarm_id=alarm_id,
                reconciliation_id=alarm.reconciliation_id,
                comment=comment[:500],
            )
    except AlarmNotFound:
        raise NotFound(f"There is no alarm {alarm_id}.") from None
    except AlarmAlreadyCleared as exc:
        raise Conflict(
            "already_cleared", f"Alarm {alarm_id} was cleared by {exc.alarm.cleared_by}."
        ) from None
    return {
        "id": alarm.id,
        "payment_id": alarm.payment_id,
        "cleared_at": alarm.cleared_at,
        "cleared_by": alarm.cleared_by,
        "comment": alarm.comment,
    }


__all__ = ["clear_alarm", "count_alarms", "get_alarm", "list_alarms"]
