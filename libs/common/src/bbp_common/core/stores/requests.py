"""The request store: the one door through which a bulk request's state changes.

The portal (create, approve, reject, pause, resume, cancel), the dispatcher (start), the
scheduler's starter (a scheduled request's start) and the scheduler (auto-pause, enquiring,
finish) all go through :class:`RequestStore`: each move is
made on a row the store locked, checked against ``REQUEST_TRANSITIONS``, and recorded in
``request_events`` (from, to, cause, actor, time) in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from bbp_common.core import tallies
from bbp_common.core.domain.requests import (
    DISPATCHING,
    OPEN,
    RequestKind,
    RequestState,
    check_request_transition,
)
from bbp_common.core.stores.sql import NOW, marks, update_by_id

R = RequestState

COLUMNS = (
    "id",
    "kind",
    "state",
    "created_by",
    "total_items",
    "total_amount",
    "started_at",
    "paused_reason",
    "paused_by",
    "correlation_id",
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM bulk_requests"

#: Tally buckets of items still to be sent or in flight (a scheduled payment waits for its
#: due time); with ``ambiguous``, still open.
SENDING_BUCKETS = ("scheduled", "queued", "in_flight")


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: int
    kind: RequestKind
    state: RequestState
    created_by: str
    total_items: int
    total_amount: Decimal | None
    started_at: datetime | None
    paused_reason: str | None
    paused_by: str | None
    correlation_id: str | None

    @classmethod
    def of(cls, row: Any) -> RequestRow:
        values = list(row)
        values[1] = RequestKind(values[1])
        values[2] = R(values[2])
        return cls(*values)


class RequestStore:
    def __init__(self, conn: Connection, *, actor: str) -> None:
        self.conn = conn
        self.actor = actor[:128]
        self._rows: dict[int, RequestRow] = {}

    def add(self, kind: RequestKind, state: RequestState, cause: str, **values: Any) -> int:
        """Insert a new request in ``state`` (and its first event); returns its id."""
        columns = ["kind", "state", *values]
        result = self.conn.exec_driver_sql(
            f"INSERT INTO bulk_requests ({', '.join(columns)}) VALUES ({marks(len(columns))})",
            (kind.value, state.value, *values.values()),
        )
        request_id = int(result.lastrowid)
        self._event(request_id, None, state, cause)
        return request_id

    def lock(self, request_id: int) -> RequestRow | None:
        """The request, locked (``FOR UPDATE``) until the caller's transaction ends."""
        row = self.conn.exec_driver_sql(f"{SELECT} WHERE id = %s FOR UPDATE", (request_id,)).first()
        if row is None:
            return None
        found = self._rows[request_id] = RequestRow.of(row)
        return found

    def lock_many(self, ids: Iterable[int], states: Iterable[RequestState]) -> list[RequestRow]:
        wanted = sorted(set(ids))
        names = [s.value for s in states]
        if not wanted or not names:
            return []
        rows = self.conn.exec_driver_sql(
            f"{SELECT} WHERE id IN ({marks(len(wanted))}) AND state IN ({marks(len(names))})"
            " ORDER BY id FOR UPDATE",
            (*wanted, *names),
        ).all()
        found = [RequestRow.of(r) for r in rows]
        for row in found:
            self._rows[row.id] = row
        return found

    def dispatching(self, ids: Iterable[int]) -> set[int]:
        """Which of these requests may be dispatched now, under a shared lock: a pause or a
        cancel committed now stops their dispatch now (they wait for our commit otherwise)."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        names = [s.value for s in DISPATCHING]
        rows = self.conn.exec_driver_sql(
            f"SELECT id FROM bulk_requests WHERE id IN ({marks(len(wanted))})"
            f" AND state IN ({marks(len(names))}) LOCK IN SHARE MODE",
            (*wanted, *names),
        )
        return {row_id for (row_id,) in rows}

    def move(
        self,
        request: RequestRow | int,
        target: RequestState,
        cause: str,
        values: Mapping[str, Any] | None = None,
    ) -> RequestRow:
        """Move a locked request to ``target`` (checked), with its event."""
        row = self._rows[request if isinstance(request, int) else request.id]
        check_request_transition(row.state, target)
        new_values = {**(values or {}), "state": target.value}
        update_by_id(self.conn, "bulk_requests", {row.id: new_values})
        self._event(row.id, row.state, target, cause)
        moved = replace(row, state=target)
        self._rows[row.id] = moved
        return moved

    def start(self, ids: Iterable[int]) -> list[int]:
        """``queued → running`` for requests whose first item was just dispatched."""
        started = []
        for row in self.lock_many(ids, [R.QUEUED]):
            self.move(row, R.RUNNING, "first item dispatched", {"started_at": NOW})
            started.append(row.id)
        return started

    def start_scheduled(self, ids: Iterable[int]) -> list[int]:
        """``scheduled → queued`` for scheduled requests whose start time came (the caller
        read ``start_at <= now``). Locked and checked: a request moves once, whoever runs
        this twice (a scheduler that lost its lease, a standby that took over)."""
        started = []
        for row in self.lock_many(ids, [R.SCHEDULED]):
            self.move(row, R.QUEUED, "its start time came")
            started.append(row.id)
        return started

    def add_to_total(self, request_id: int, delta: Decimal) -> None:
        """A payment's amount changed before it was paid (a scheduled payment's bill, fetched
        again): the request's total follows."""
        if delta:
            self.conn.exec_driver_sql(
                "UPDATE bulk_requests SET total_amount = total_amount + %s WHERE id = %s",
                (delta, request_id),
            )

    def settle(self, request_id: int) -> RequestState | None:
        """Finish a request with nothing left to send, answer or enquire; a request whose only
        open work is enquiries waits as ``enquiring``. Returns the new state, if it moved.

        Looks without a lock first (most requests are busy, or already enquiring), and locks
        only to move, checking again under the lock.
        """
        if tallies.open_items(self.conn, request_id, SENDING_BUCKETS):
            return None
        state = self.conn.exec_driver_sql(
            "SELECT state FROM bulk_requests WHERE id = %s", (request_id,)
        ).scalar()
        if state is None or R(state) not in OPEN:
            return None
        waiting = tallies.open_items(self.conn, request_id, ["ambiguous"])
        if waiting and R(state) in (R.ENQUIRING, R.QUEUED):
            return None
        rows = self.lock_many([request_id], OPEN)
        if not rows or tallies.open_items(self.conn, request_id, SENDING_BUCKETS):
            return None
        row = rows[0]
        if tallies.open_items(self.conn, request_id, ["ambiguous"]):
            if row.state in (R.ENQUIRING, R.QUEUED):
                return None
            self.move(row, R.ENQUIRING, "only enquiries are left")
            return R.ENQUIRING
        self.move(row, R.FINISHED, "nothing left to do", {"finished_at": NOW})
        return R.FINISHED

    def _event(
        self, request_id: int, old: RequestState | None, new: RequestState, cause: str
    ) -> None:
        self.conn.exec_driver_sql(
            "INSERT INTO request_events (request_id, from_state, to_state, cause, actor,"
            " occurred_at) VALUES (%s, %s, %s, %s, %s, UTC_TIMESTAMP(6))",
            (request_id, old.value if old else None, new.value, cause[:255], self.actor),
        )

    def set_totals(self, request_id: int, **values: Any) -> None:
        """Columns that are not the state (totals counted after the items were inserted)."""
        update_by_id(self.conn, "bulk_requests", {request_id: values})
