"""The audit log: who did what, when, from which IP and device (append-only table).

Every sign-in, failure, sign-out, password change or reset and user change is written here.
``details`` is a small JSON object of non-secret facts; it passes through the platform's
secret masker anyway, so a mistake cannot put a password or token into the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Engine

from bbp_common.platform.db.tables import audit_log, payment_anomalies, payments
from bbp_common.platform.masking import mask
from bbp_portal.words.audit import ACTIONS as AUDIT_ACTIONS

#: Every action the portal and the scheduler write (the audit page's filter offers these,
#: in words: ``bbp_portal.words.audit``).
ACTIONS = tuple(AUDIT_ACTIONS)
OUTCOMES = ("ok", "otp_sent", "failed", "denied")


@dataclass(frozen=True)
class AuditEvent:
    action: str
    actor: str | None = None
    outcome: str = "ok"
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    device_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    occurred_at: datetime
    actor: str | None
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    device_id: str | None
    details: str | None


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: A payment's reference id: the entries about that payment (resolved, checked, its
    #: disagreeing answers acknowledged).
    reference: str | None = None


class AuditStore(Protocol):
    def write(self, event: AuditEvent) -> None: ...

    def search(
        self, filters: AuditFilter, *, before_id: int | None, limit: int
    ) -> tuple[list[AuditEntry], int | None]: ...


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


def _about_payment(conn: sa.Connection, reference_id: str) -> Any:
    """Entries about the payment ``reference_id``: the payment itself, or one of its
    disagreeing answers (an anomaly), by target; none when no payment has that id. (The ids
    are read first: ``target_id`` is text, and comparing it with a cast id mixes collations.)"""
    c = audit_log.c
    reference = reference_id.strip().upper()
    found = [
        str(i)
        for i in conn.execute(
            sa.select(payments.c.id).where(payments.c.reference_id == reference)
        ).scalars()
    ]
    anomalies = (
        [
            str(i)
            for i in conn.execute(
                sa.select(payment_anomalies.c.id).where(
                    payment_anomalies.c.payment_id.in_([int(i) for i in found])
                )
            ).scalars()
        ]
        if found
        else []
    )
    return sa.or_(
        sa.and_(c.target_type == "payment", c.target_id.in_(found)),
        sa.and_(c.target_type == "anomaly", c.target_id.in_(anomalies)),
    )


class SqlAuditStore:
    """``AuditStore`` on the ``audit_log`` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, event: AuditEvent) -> None:
        details = json.dumps(mask(event.details), default=str) if event.details else None
        with self._engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    actor=_cut(event.actor, 64),
                    action=event.action,
                    outcome=event.outcome,
                    target_type=_cut(event.target_type, 32),
                    target_id=_cut(event.target_id, 64),
                    ip=_cut(event.ip, 64),
                    device_id=_cut(event.device_id, 64),
                    details=details,
                )
            )

    def search(
        self, filters: AuditFilter, *, before_id: int | None, limit: int
    ) -> tuple[list[AuditEntry], int | None]:
        """Newest first, ``limit`` rows older than ``before_id``; and the next page's key.

        Keyset pagination (``id < before``) stays fast however deep one pages, unlike OFFSET.
        """
        c = audit_log.c
        query = sa.select(audit_log).order_by(c.id.desc()).limit(limit + 1)
        if before_id is not None:
            query = query.where(c.id < before_id)
        if filters.actor:
            query = query.where(c.actor == filters.actor)
        if filters.action:
            query = query.where(c.action == filters.action)
        if filters.outcome:
            query = query.where(c.outcome == filters.outcome)
        if filters.since:
            query = query.where(c.occurred_at >= filters.since)
        if filters.until:
            query = query.where(c.occurred_at < filters.until)
        with self._engine.connect() as conn:
            if filters.reference:
                query = query.where(_about_payment(conn, filters.reference))
            rows = conn.execute(query).all()
        entries = [
            AuditEntry(
                id=r.id,
                occurred_at=r.occurred_at,
                actor=r.actor,
                action=r.action,
                outcome=r.outcome,
                target_type=r.target_type,
                target_id=r.target_id,
                ip=r.ip,
                device_id=r.device_id,
                details=r.details,
            )
            for r in rows[:limit]
        ]
        next_before = entries[-1].id if len(rows) > limit and entries else None
        return entries, next_before
