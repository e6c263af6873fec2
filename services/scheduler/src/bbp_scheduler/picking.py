"""Choosing what to dispatch next: due enquiries first in line, then the active requests'
queued items, round-robin, with the wallet breaker's say over payments.

Reads only, except one thing: a queued payment whose bill was fetched too long ago is
cancelled here (through the payment store), at the last moment before a command would leave.
Buffers hold a few hundred rows per request so that most plans read nothing.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from bbp_common.core.domain.requests import DISPATCHING
from bbp_common.core.stores.breaker import CLOSED, OPEN, PROBING, WalletBreaker
from bbp_common.platform.logging import get_logger
from bbp_scheduler.pacing import round_robin
from bbp_scheduler.work import Work

log = get_logger(__name__)

ENQUIRIES = ("enquiry", 0)
Key = tuple[str, int]

_ACTIVE = (
    "SELECT id, kind, correlation_id FROM bulk_requests WHERE state IN ({}) ORDER BY id"
).format(", ".join(f"'{s.value}'" for s in sorted(DISPATCHING)))
#: Ambiguous payments whose next enquiry is due, and uncleared ones a person asked to check
#: (an uncleared payment has no due time otherwise): one range of ``(state, enquiry_due_at)``
#: per state.
_DUE_ENQUIRIES = (
    "SELECT id, request_id, reference_id, enquiry_count FROM payments"
    " WHERE state IN ('ambiguous', 'uncleared') AND enquiry_due_at <= %s"
    " AND enquiry_sent_at IS NULL"
    " ORDER BY enquiry_due_at LIMIT %s"
)
_QUEUED_FETCHES = (
    "SELECT id, request_id, utility_code, consumer_id, mobile, attempts FROM fetch_items"
    " WHERE request_id = %s AND state = 'queued'"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= %s) ORDER BY id LIMIT %s"
)
_QUEUED_PAYMENTS = (
    "SELECT p.id, p.request_id, p.reference_id, p.attempt, b.fetched_at"
    " FROM payments p JOIN bills b ON b.id = p.bill_id"
    " WHERE p.request_id = %s AND p.state = 'queued'"
    " ORDER BY p.dispatch_order, p.id LIMIT %s"
)
_PAYMENTS_OUT = "SELECT 1 FROM payments WHERE state IN ('dispatched', 'sending') LIMIT 1"


class Picker:
    def __init__(self, max_bill_age: float) -> None:
        self.max_bill_age = timedelta(seconds=max_bill_age)
        self.buffers: dict[Key, deque[Any]] = {}
        self.active: list[Key] = []
        self.active_checked = 0.0
        self.last_key: Key | None = None
        #: Correlation id of each active request (set by the portal request that made it).
        self.correlations: dict[int, str] = {}

    def reset(self) -> None:
        self.buffers.clear()
        self.active = []
        self.active_checked = 0.0

    def refresh_active(self, conn: Connection, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.active_checked < 0.5:
            return
        rows = conn.exec_driver_sql(_ACTIVE).all()
        self.active = [(kind, row_id) for row_id, kind, _ in rows]
        self.correlations = {row_id: corr for row_id, _, corr in rows if corr}
        live = set(self.active) | {ENQUIRIES}
        for key in list(self.buffers):
            if key not in live:
                del self.buffers[key]
        self.active_checked = time.monotonic()

    def pick(self, work: Work, now: datetime, limit: int, *, force: bool) -> list[tuple[Key, Any]]:
        """Up to ``limit`` rows to dispatch, fairly: ``[(key, row)]``."""
        self.refresh_active(work.conn, force=force)
        breaker = WalletBreaker(work.conn, actor="system").state()
        # Open: no payment leaves. Probing: one payment at a time, none while one is out.
        payments_blocked = breaker == OPEN or (
            breaker == PROBING and work.conn.exec_driver_sql(_PAYMENTS_OUT).first() is not None
        )
        queues: dict[Key, list[Any]] = {}
        enquiries = self._fill(work, ENQUIRIES, now, limit)
        if enquiries:
            queues[ENQUIRIES] = list(enquiries)
        for key in self.active:
            if key[0] == "payment" and payments_blocked:
                continue
            buffered = self._fill(work, key, now, limit)
            if buffered:
                queues[key] = list(buffered)
        picks = round_robin(queues, limit, start_after=self.last_key)
        if breaker != CLOSED:
            payment_picks = [p for p in picks if p[0][0] == "payment"][:1]
            picks = [p for p in picks if p[0][0] != "payment"] + payment_picks
        for key, _row in picks:
            self.buffers[key].popleft()
        if picks:
            self.last_key = picks[-1][0]
        return picks

    def _fill(self, work: Work, key: Key, now: datetime, limit: int) -> deque[Any]:
        buffer = self.buffers.setdefault(key, deque())
        if buffer and key != ENQUIRIES:
            return buffer
        size = max(limit * 4, 100)
        conn = work.conn
        if key == ENQUIRIES:
            buffer.clear()  # cheap, and due times move: always read afresh
            rows = conn.exec_driver_sql(_DUE_ENQUIRIES, (now, limit)).all()
        elif key[0] == "fetch":
            rows = conn.exec_driver_sql(_QUEUED_FETCHES, (key[1], now, size)).all()
        else:
            rows = self._drop_stale_bills(
                work, now, conn.exec_driver_sql(_QUEUED_PAYMENTS, (key[1], size)).all()
            )
        buffer.extend(rows)
        return buffer

    def _drop_stale_bills(self, work: Work, now: datetime, rows: list[Any]) -> list[Any]:
        """Cancel queued payments whose bill was fetched too long ago; return the others.

        Freshness is checked when a request is created and approved; a request paused for
        days, or held back by an open breaker, is checked again here, at the last moment
        before a command leaves: a stale bill may have been paid elsewhere meanwhile.
        """
        oldest = now - self.max_bill_age
        stale = [row for row in rows if row.fetched_at < oldest]
        if stale:
            locked = work.payments.lock([row.id for row in stale], where="state = 'queued'")
            cause = "bill fetched too long ago to pay now: fetch it again"
            for row in work.payments.cancel(locked.values(), cause):
                log.warning("payment_cancelled_stale_bill", reference_id=row.reference_id)
                work.settle.add(row.request_id)
        return [row for row in rows if row.fetched_at >= oldest]
