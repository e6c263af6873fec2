"""The paying wallet's breaker: one module that opens, probes, closes and audits it.

A wrong MPIN must not lock the paying wallet, so the first wallet-authentication failure
opens the breaker at once — from the communicator that got the answer (it stops its own
claims in the same second) and again, harmlessly, from the scheduler applying the result.
Opening is idempotent: only the call that moves it ``closed|probing → open`` writes the
audit entry and asks for the superadmins' notice, so one opening is reported once, however
many payments failed the same way. While ``open`` no payment is claimed; a superadmin
closes it to ``probing`` (one payment at a time) and the first answer from the order
service that is not a wallet failure proves the wallet: ``probing → closed``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

NAME = "payer"
OPEN, PROBING, CLOSED = "open", "probing", "closed"

#: Called in the opening transaction, once per opening: ``(conn, cause, reference_id)``
#: (``bbp_common.core.notifications.wallet_breaker_opened`` tells the superadmins).
OnOpened = Callable[[Connection, str, str | None], object]


class WalletBreaker:
    def __init__(self, conn: Connection, *, actor: str, on_opened: OnOpened | None = None) -> None:
        self.conn = conn
        self.actor = actor[:64]
        self.on_opened = on_opened

    def state(self, *, lock: bool = False) -> str:
        """``closed``, ``probing`` or ``open``; a missing row reads as ``probing``."""
        sql = "SELECT state FROM wallet_breaker WHERE name = %s"
        if lock:
            sql += " FOR UPDATE"
        value = self.conn.exec_driver_sql(sql, (NAME,)).scalar()
        return str(value or PROBING)

    def gate(self) -> str:
        """What a claim may do now: ``closed`` (any number), ``probing`` (one, and only while
        no other payment is being sent — the breaker row stays locked until commit, so two
        claimers cannot both probe), or ``open`` (none)."""
        state = self.state()
        if state != PROBING:
            return state
        state = self.state(lock=True)
        if state == PROBING and self._anything_sending():
            return OPEN
        return state

    def _anything_sending(self) -> bool:
        row = self.conn.exec_driver_sql(
            "SELECT 1 FROM payments WHERE state = 'sending' LIMIT 1"
        ).first()
        return row is not None

    def open(self, *, cause: str, reference_id: str | None, details: dict[str, Any]) -> bool:
        """Open it (idempotent). True, with an audit entry, only for the call that opened it.

        A refusal of a billpay claimed before a person last closed the breaker does not open
        it again: that billpay went out with the credentials the person has since fixed, and
        it already opened the breaker once (the communicator that got the answer opens at
        once; the scheduler's result, applied late or again, comes after the close). A claim
        stamped in the close's own microsecond counts as before it: at worst that delays a
        reopening to the next refusal, where the other way reopens for a cause already fixed.
        """
        opened = self.conn.exec_driver_sql(
            "UPDATE wallet_breaker SET state = 'open', opened_at = UTC_TIMESTAMP(6),"
            " opened_reason = %s, opened_by_reference = %s, closed_by = NULL, closed_at = NULL"
            " WHERE name = %s AND state <> 'open' AND (closed_at IS NULL OR NOT EXISTS"
            " (SELECT 1 FROM payments WHERE reference_id = %s"
            " AND sending_at <= wallet_breaker.closed_at))",
            (cause[:255], reference_id, NAME, reference_id),
        ).rowcount
        if opened != 1:
            return False
        self._audit(
            "wallet_breaker.opened", {"cause": cause, "reference_id": reference_id, **details}
        )
        if self.on_opened is not None:
            self.on_opened(self.conn, cause, reference_id)
        return True

    def close(self, *, person: str, comment: str) -> dict[str, Any] | None:
        """A person closes an open breaker: ``open → probing``. Returns what it was opened for
        (None when it was not open)."""
        before = self.conn.exec_driver_sql(
            "SELECT state, opened_reason, opened_by_reference FROM wallet_breaker"
            " WHERE name = %s FOR UPDATE",
            (NAME,),
        ).first()
        if before is None or before.state != OPEN:
            return None
        self.conn.exec_driver_sql(
            "UPDATE wallet_breaker SET state = 'probing', closed_by = %s,"
            " closed_at = UTC_TIMESTAMP(6) WHERE name = %s AND state = 'open'",
            (person[:64], NAME),
        )
        opened = {
            "opened_reason": before.opened_reason,
            "opened_by_reference": before.opened_by_reference,
        }
        self._audit("wallet_breaker.closed", {**opened, "comment": comment}, actor=person)
        return opened

    def confirm(self, *, reference_id: str) -> bool:
        """An answer proved the wallet authenticates: ``probing → closed`` (full speed)."""
        confirmed = self.conn.exec_driver_sql(
            "UPDATE wallet_breaker SET state = 'closed' WHERE name = %s AND state = 'probing'",
            (NAME,),
        ).rowcount
        if confirmed == 1:
            self._audit("wallet_breaker.confirmed", {"reference_id": reference_id})
        return confirmed == 1

    def _audit(self, action: str, details: dict[str, Any], *, actor: str | None = None) -> None:
        self.conn.exec_driver_sql(
            "INSERT INTO audit_log (occurred_at, actor, action, outcome, target_type, target_id,"
            " details) VALUES (UTC_TIMESTAMP(6), %s, %s, 'ok', 'wallet_breaker', %s, %s)",
            (
                (actor or self.actor)[:64],
                action,
                NAME,
                json.dumps(details, default=str, ensure_ascii=False),
            ),
        )
