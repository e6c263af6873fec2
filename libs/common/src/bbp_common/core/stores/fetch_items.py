"""The fetch-item store: the one door through which a fetch item's state changes.

Items are created by the portal (one per active account), dispatched by the scheduler,
finished by results or sent back by the sweeper; a person cancels what is still queued.
Every move is checked against ``FETCH_TRANSITIONS`` and moves the request's tallies in the
caller's transaction. Fetch items move no money and are many (tens of thousands per
request): they get no per-item events; the request's events and tallies tell their story.

Buckets: ``queued``, ``in_flight`` (dispatched), the outcome of a done item (``bills``,
``no_bills``, ``failed``) and ``cancelled``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from bbp_common.core.domain.requests import (
    STOPPED,
    FetchItemState,
    FetchOutcome,
    RequestState,
    check_fetch_transition,
)
from bbp_common.core.stores.sql import NOW, chunks, marks, update_by_id
from bbp_common.core.tallies import TallyMoves

F = FetchItemState

COLUMNS = (
    "id",
    "request_id",
    "bill_account_id",
    "utility_code",
    "consumer_id",
    "mobile",
    "state",
    "attempts",
    "dispatched_at",
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM fetch_items"


@dataclass(frozen=True, slots=True)
class FetchRow:
    id: int
    request_id: int
    bill_account_id: int
    utility_code: str
    consumer_id: str
    mobile: str
    state: FetchItemState
    attempts: int
    dispatched_at: datetime | None
    outcome: FetchOutcome | None = None

    @classmethod
    def of(cls, row: Sequence[Any]) -> FetchRow:
        values = list(row)
        values[6] = F(values[6])
        return cls(*values)


def bucket(state: FetchItemState, outcome: FetchOutcome | None = None) -> str:
    if state is F.DONE:
        assert outcome is not None
        return outcome.value
    return {F.QUEUED: "queued", F.DISPATCHED: "in_flight", F.CANCELLED: "cancelled"}[state]


class FetchItemStore:
    def __init__(self, conn: Connection, *, autoflush: bool = True) -> None:
        self.conn = conn
        self.autoflush = autoflush
        self._rows: dict[int, FetchRow] = {}
        self._pending: dict[int, dict[str, Any]] = {}
        self._tallies = TallyMoves()
        self._request_states: dict[int, RequestState] = {}

    # ------------------------------------------------------------------ reading

    def lock(
        self, ids: Iterable[int], *, where: str = "", params: Sequence[Any] = ()
    ) -> dict[int, FetchRow]:
        wanted = sorted(set(ids) - set(self._rows))
        for chunk in chunks(wanted):
            sql = f"{SELECT} WHERE id IN ({marks(len(chunk))})"
            if where:
                sql += f" AND {where}"
            for r in self.conn.exec_driver_sql(sql + " FOR UPDATE", (*chunk, *params)):
                row = FetchRow.of(r)
                self._rows[row.id] = row
        return {i: self._rows[i] for i in ids if i in self._rows}

    def lock_where(
        self, where: str, params: Sequence[Any] = (), *, limit: int = 200, skip_locked: bool = False
    ) -> list[FetchRow]:
        sql = f"{SELECT} WHERE {where} ORDER BY id LIMIT {int(limit)} FOR UPDATE"
        if skip_locked:
            sql += " SKIP LOCKED"
        found = []
        for r in self.conn.exec_driver_sql(sql, tuple(params)):
            row = FetchRow.of(r)
            self._rows.setdefault(row.id, row)
            found.append(self._rows[row.id])
        return found

    def request_stopped(self, request_id: int) -> bool:
        """Was the request cancelled? (shared lock: a cancel committing now is seen)."""
        if request_id not in self._request_states:
            state = self.conn.exec_driver_sql(
                "SELECT state FROM bulk_requests WHERE id = %s LOCK IN SHARE MODE", (request_id,)
            ).scalar_one()
            self._request_states[request_id] = RequestState(state)
        return self._request_states[request_id] in STOPPED

    # ------------------------------------------------------------------ moving

    def move(
        self,
        item: FetchRow | int,
        target: FetchItemState,
        values: Mapping[str, Any] | None = None,
        *,
        outcome: FetchOutcome | None = None,
        amount: Any = 0,
    ) -> FetchRow:
        row = self._rows[item if isinstance(item, int) else item.id]
        check_fetch_transition(row.state, target)
        new_values = {**(values or {}), "state": target.value}
        if outcome is not None:
            new_values["outcome"] = outcome.value
        self._pending.setdefault(row.id, {}).update(new_values)
        self._tallies.move(
            row.request_id, bucket(row.state, row.outcome), bucket(target, outcome), amount
        )
        moved = replace(
            row,
            state=target,
            outcome=outcome,
            attempts=new_values.get("attempts", row.attempts),
        )
        self._rows[row.id] = moved
        return moved

    def back_to_queue(self, row: FetchRow, values: Mapping[str, Any] | None = None) -> FetchRow:
        """A dispatched item goes back to the queue — or is cancelled if its request was."""
        if self.request_stopped(row.request_id):
            return self.move(row, F.CANCELLED, {"completed_at": NOW})
        return self.move(row, F.QUEUED, values)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, {}
            ids = list(pending)
            for chunk in chunks(ids, 500):
                update_by_id(self.conn, "fetch_items", {i: pending[i] for i in chunk})
        self._tallies.flush(self.conn)

    def _done(self) -> None:
        if self.autoflush:
            self.flush()

    # ------------------------------------------------------------------ verbs

    def add_for_accounts(self, request_id: int, account_ids: Sequence[int]) -> int:
        """One queued item per *active* account (copied from ``bill_accounts``)."""
        count = 0
        for chunk in chunks(list(account_ids)):
            count += self.conn.exec_driver_sql(
                "INSERT INTO fetch_items (request_id, bill_account_id, utility_code,"
                " consumer_id, mobile) SELECT %s, id, utility_code, consumer_id, mobile"
                f" FROM bill_accounts WHERE id IN ({marks(len(chunk))}) AND active = 1",
                (request_id, *chunk),
            ).rowcount
        if count:
            self._tallies.add(request_id, "queued", count, 0)
        self._done()
        return count

    def dispatch(self, slots: Mapping[int, datetime], ttl_seconds: float) -> list[FetchRow]:
        """``queued → dispatched`` at each item's slot (the attempt counts); returns what moved
        (with the new attempt number)."""
        rows = self.lock(slots, where="state = %s", params=(F.QUEUED.value,))
        moved = []
        for item_id, row in sorted(rows.items()):
            if row.state is not F.QUEUED:
                continue
            moved.append(
                self.move(
                    row,
                    F.DISPATCHED,
                    {"attempts": row.attempts + 1, "dispatched_at": slots[item_id]},
                )
            )
        self._done()
        return moved

    def undo_dispatch(self, item_id: int, attempt: int) -> bool:
        """A command that never left (publish failed): back to the queue, attempt given back."""
        row = self.lock(
            [item_id], where="state = %s AND attempts = %s", params=(F.DISPATCHED.value, attempt)
        ).get(item_id)
        if row is None or row.state is not F.DISPATCHED or row.attempts != attempt:
            return False
        self.back_to_queue(row, {"attempts": row.attempts - 1})
        self._done()
        return True

    def cancel_queued(self, request_id: int) -> int:
        rows = self.lock_where(
            "request_id = %s AND state = %s", (request_id, F.QUEUED.value), limit=10**9
        )
        for row in rows:
            self.move(row, F.CANCELLED, {"completed_at": NOW})
        self._done()
        return len(rows)

    @staticmethod
    def retry_at(now: datetime, wait_seconds: float) -> datetime:
        return now + timedelta(seconds=wait_seconds)
