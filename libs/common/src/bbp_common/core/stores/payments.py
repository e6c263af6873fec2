"""The payment store: the one door through which a payment's state changes.

Every writer — the portal creating, cancelling and resolving, the dispatcher, the
communicator's claim, the result applier, the sweeper — goes through :class:`PaymentStore`.
It works in the caller's transaction and keeps one rule for all of them:

* a row moves only after the store locked it (``SELECT … FOR UPDATE``) in this transaction,
  and only along ``TRANSITIONS`` (a bulk move is checked row by row, like a single one);
* every move writes a ``payment_events`` row (reference id, from, to, cause, actor, time),
  moves the request's tallies, and clears the live-bill key on ``failed``, ``cancelled``
  and ``unsent`` — all in the caller's transaction, written by :meth:`flush`;
* a payment that provably never left goes back through :meth:`never_left`, which looks at
  its request (shared lock, so a cancel committing now is seen) and at the
  :class:`~bbp_common.core.domain.payments.ReturnRule`: queued, cancelled or unsent — never
  queued again for a cancelled request;
* enquiry bookkeeping (count, next due time, sent time) follows the ``EnquiryPolicy`` here
  and nowhere else — and so does a person's "check now" (:meth:`PaymentStore.ask_check`):
  one extra enquiry through the normal pace, never a resend and never one of the N; its
  answer settles an ambiguous payment like any enquiry's, and is only recorded on an
  uncleared one (the person who resolves it reads it; nothing is applied by itself).

Writes are collected per row and flushed as one UPDATE (by id), one multi-row INSERT of
events and one tally upsert, whatever the number of rows (``autoflush`` flushes after each
public operation; the result applier turns it off and flushes once per batch).

Why one module of more than 400 lines: it is the one door to the payments table: every write
of a payment's state and bookkeeping is here on purpose (a test fails for any writer
elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from bbp_common.core.domain.payments import (
    CHECK_ENQUIRY,
    RELEASING_STATES,
    Decision,
    EnquiryOutcome,
    EnquiryPolicy,
    Failure,
    PaymentState,
    ReturnRule,
    check_transition,
    decide_enquiry_result,
    never_left_target,
)
from bbp_common.core.domain.requests import STOPPED, RequestState
from bbp_common.core.domain.schedules import VERDICT_REASONS, Hold, Verdict
from bbp_common.core.stores.sql import NOW, NULL, Sql, chunks, marks, update_by_id
from bbp_common.core.tallies import TallyMoves

S = PaymentState

#: Tally bucket of each state: dispatched and sending count as one ("in flight"), so the
#: claim — the hottest change — never touches the tallies.
BUCKET = {
    S.SCHEDULED: "scheduled",
    S.QUEUED: "queued",
    S.DISPATCHED: "in_flight",
    S.SENDING: "in_flight",
    S.POSTED: "posted",
    S.SUCCEEDED: "succeeded",
    S.FAILED: "failed",
    S.AMBIGUOUS: "ambiguous",
    S.UNCLEARED: "uncleared",
    S.CANCELLED: "cancelled",
    S.UNSENT: "unsent",
}

#: The one list of payment columns every store read returns (in this order).
COLUMNS = (
    "id",
    "request_id",
    "reference_id",
    "state",
    "total",
    "attempt",
    "returns",
    "dispatched_at",
    "deadline_at",
    "sending_at",
    "send_by_at",
    "answer_by_at",
    "answered_at",
    "enquiry_count",
    "enquiry_due_at",
    "enquiry_sent_at",
    "enquiry_total",
    "check_requested_at",
    "check_resume_at",
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM payments"


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """A payment as the store read it (and as it stands after this transaction's moves)."""

    id: int
    request_id: int
    reference_id: str
    state: PaymentState
    total: Decimal
    attempt: int
    returns: int = 0
    dispatched_at: datetime | None = None
    deadline_at: datetime | None = None
    sending_at: datetime | None = None
    send_by_at: datetime | None = None
    answer_by_at: datetime | None = None
    answered_at: datetime | None = None
    enquiry_count: int = 0
    enquiry_due_at: datetime | None = None
    enquiry_sent_at: datetime | None = None
    enquiry_total: int | None = None
    check_requested_at: datetime | None = None
    check_resume_at: datetime | None = None

    @property
    def enquiry_number(self) -> int:
        """The number the next (or the current) enquiry command carries: a person's check is
        :data:`~bbp_common.core.domain.payments.CHECK_ENQUIRY` (not one of the N), a regular
        enquiry its place in the schedule."""
        return CHECK_ENQUIRY if self.check_requested_at is not None else self.enquiry_count + 1

    @classmethod
    def of(cls, row: Sequence[Any]) -> PaymentRow:
        values = list(row)
        values[3] = S(values[3])
        return cls(*values)


@dataclass
class _Pending:
    """What this transaction does to one row, until flushed."""

    seen: PaymentRow
    values: dict[str, Any] = field(default_factory=dict)


class PaymentStore:
    """The payments of one transaction. Cheap to make: make one per unit of work."""

    def __init__(
        self,
        conn: Connection,
        *,
        actor: str,
        policy: EnquiryPolicy | None = None,
        rule: ReturnRule | None = None,
        autoflush: bool = True,
    ) -> None:
        self.conn = conn
        self.actor = actor[:128]
        self.policy = policy or EnquiryPolicy()
        self.rule = rule or ReturnRule()
        self.autoflush = autoflush
        self._rows: dict[int, PaymentRow] = {}
        self._pending: dict[int, _Pending] = {}
        self._events: list[tuple[Any, ...]] = []
        self._tallies = TallyMoves()
        self._now: datetime | None = None
        self._request_states: dict[int, RequestState] = {}

    # ------------------------------------------------------------------ reading

    def now(self) -> datetime:
        """The database's clock, read once per store (one transaction: one "now")."""
        if self._now is None:
            self._now = self.conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar_one()
        return self._now

    def lock(
        self, ids: Iterable[int], *, where: str = "", params: Sequence[Any] = ()
    ) -> dict[int, PaymentRow]:
        """Lock the payments ``ids`` (those still matching ``where``) and return them."""
        wanted = sorted(set(ids) - set(self._rows))
        for chunk in chunks(wanted):
            sql = f"{SELECT} WHERE id IN ({marks(len(chunk))})"
            if where:
                sql += f" AND {where}"
            self._keep(self.conn.exec_driver_sql(sql + " FOR UPDATE", (*chunk, *params)))
        return {i: self._rows[i] for i in ids if i in self._rows}

    def lock_where(
        self, where: str, params: Sequence[Any] = (), *, limit: int = 200, skip_locked: bool = False
    ) -> list[PaymentRow]:
        """Lock up to ``limit`` payments matching ``where`` (the sweeper's scans)."""
        sql = f"{SELECT} WHERE {where} ORDER BY id LIMIT {int(limit)} FOR UPDATE"
        if skip_locked:
            sql += " SKIP LOCKED"
        return self._keep(self.conn.exec_driver_sql(sql, tuple(params)))

    def _keep(self, result: Any) -> list[PaymentRow]:
        rows = [PaymentRow.of(r) for r in result]
        for row in rows:
            self._rows.setdefault(row.id, row)
        return [self._rows[row.id] for row in rows]

    def current(self, payment_id: int) -> PaymentRow:
        return self._rows[payment_id]

    def request_states(self, request_ids: Iterable[int]) -> dict[int, RequestState]:
        """The requests' states under a shared lock: a cancel (which holds the request's row
        lock while it cancels queued payments) is either seen here or sees our change."""
        wanted = sorted(set(request_ids) - set(self._request_states))
        if wanted:
            rows = self.conn.exec_driver_sql(
                f"SELECT id, state FROM bulk_requests WHERE id IN ({marks(len(wanted))})"
                " LOCK IN SHARE MODE",
                tuple(wanted),
            )
            for row_id, state in rows:
                self._request_states[row_id] = RequestState(state)
        return {i: self._request_states[i] for i in request_ids if i in self._request_states}

    # ------------------------------------------------------------------ the one move

    def move(
        self,
        payment: PaymentRow | int,
        target: PaymentState,
        cause: str,
        values: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> PaymentRow:
        """Move one locked payment to ``target`` (checked against ``TRANSITIONS``)."""
        row = self._rows[payment if isinstance(payment, int) else payment.id]
        check_transition(row.state, target)
        new_values = dict(values or {})
        new_values["state"] = target.value
        if row.check_requested_at is not None and target not in ENQUIRABLE:
            new_values.setdefault("check_requested_at", None)  # nothing left to check
        if target in RELEASING_STATES:
            new_values["live_bill_key"] = NULL
        if row.state is S.SCHEDULED:
            new_values.setdefault("hold", NULL)  # a hold is a scheduled payment's only
        self._record(row, new_values)
        self._events.append(
            (row.id, row.reference_id, row.state.value, target.value, cause[:255], self.actor, at)
        )
        self._tallies.move(row.request_id, BUCKET[row.state], BUCKET[target], row.total)
        moved = replace(row, state=target, **_row_fields(new_values))
        self._rows[row.id] = moved
        return moved

    def note(self, payment: PaymentRow | int, values: Mapping[str, Any], cause: str = "") -> None:
        """Change bookkeeping columns of a locked payment without moving it (an enquiry's
        count and due time); with ``cause``, an event ``state → same state`` records it."""
        row = self._rows[payment if isinstance(payment, int) else payment.id]
        self._record(row, dict(values))
        self._rows[row.id] = replace(row, **_row_fields(values))
        if cause:
            self._events.append(
                (
                    row.id,
                    row.reference_id,
                    row.state.value,
                    row.state.value,
                    cause[:255],
                    self.actor,
                    None,
                )
            )

    def _record(self, row: PaymentRow, values: dict[str, Any]) -> None:
        pending = self._pending.get(row.id)
        if pending is None:
            pending = self._pending[row.id] = _Pending(row)
        pending.values.update(values)

    def flush(self) -> None:
        """Write what this store changed: one UPDATE, one INSERT of events, one tally upsert."""
        if self._pending:
            pending, self._pending = self._pending, {}
            now = self.now()
            per_row = {row_id: p.values for row_id, p in pending.items()}
            for chunk in chunks(list(per_row), 500):
                part = {row_id: per_row[row_id] for row_id in chunk}
                matched = update_by_id(self.conn, "payments", part)
                if matched != len(part):  # pragma: no cover - rows are locked by us
                    raise RuntimeError(f"payments changed under a lock: {matched}/{len(part)}")
            events = [(*event[:6], event[6] or now) for event in self._events]
            self._events = []
            if events:
                self.conn.exec_driver_sql(_EVENT, events)
        elif self._events:
            now = self.now()
            events, self._events = [(*e[:6], e[6] or now) for e in self._events], []
            self.conn.exec_driver_sql(_EVENT, events)
        self._tallies.flush(self.conn)

    def _done(self) -> None:
        if self.autoflush:
            self.flush()

    # ------------------------------------------------------------------ creating

    def add_queued(
        self,
        request_id: int,
        rows: Sequence[Mapping[str, Any]],
        cause: str,
        *,
        state: PaymentState = S.QUEUED,
    ) -> int:
        """Insert a request's payments (``queued``, or ``scheduled`` with their due time and
        hold; each with its reference id and live-bill key), their creation events and
        tallies. Returns how many."""
        if not rows:
            return 0
        if state not in (S.QUEUED, S.SCHEDULED):
            raise ValueError(f"a payment starts queued or scheduled, not {state}")
        columns = list(rows[0])
        self.conn.exec_driver_sql(
            f"INSERT INTO payments (request_id, state, {', '.join(columns)})"
            f" VALUES (%s, %s, {marks(len(columns))})",
            [(request_id, state.value, *(row[c] for c in columns)) for row in rows],
        )
        created = self.conn.exec_driver_sql(
            "SELECT id, reference_id, total FROM payments WHERE request_id = %s", (request_id,)
        ).all()
        now = self.now()
        self.conn.exec_driver_sql(
            _EVENT,
            [
                (r.id, r.reference_id, None, state.value, cause[:255], self.actor, now)
                for r in created
            ],
        )
        total = sum((Decimal(r.total) for r in created), Decimal("0"))
        self._tallies.add(request_id, BUCKET[state], len(created), total)
        self._done()
        return len(created)

    # ------------------------------------------------------------------ dispatching

    def dispatch(self, slots: Mapping[int, datetime], ttl_seconds: float) -> list[PaymentRow]:
        """``queued → dispatched`` at each payment's slot, with the next attempt number and a
        claim deadline ``slot + ttl``. Payments no longer queued are left out."""
        from datetime import timedelta

        ttl = timedelta(seconds=ttl_seconds)
        rows = self.lock(slots, where="state = %s", params=(S.QUEUED.value,))
        moved = []
        for payment_id, row in sorted(rows.items()):
            if row.state is not S.QUEUED:
                continue
            slot = slots[payment_id]
            moved.append(
                self.move(
                    row,
                    S.DISPATCHED,
                    f"dispatched (attempt {row.attempt + 1})",
                    {"attempt": row.attempt + 1, "dispatched_at": slot, "deadline_at": slot + ttl},
                    at=slot,
                )
            )
        self._done()
        return moved

    def void_dispatch(self, payment_id: int, attempt: int, why: str) -> PaymentRow | None:
        """Cut a dispatch's claim deadline to now, so no copy of its command can be claimed
        any more (the communicator could not act on it: no token). It is then reported
        unclaimed and goes back through :meth:`never_left` in the scheduler."""
        rows = self.lock(
            [payment_id], where="state = %s AND attempt = %s", params=(S.DISPATCHED.value, attempt)
        )
        row = rows.get(payment_id)
        if row is None or row.state is not S.DISPATCHED or row.attempt != attempt:
            return None
        self.note(row, {"deadline_at": NOW}, why)
        self._done()
        return row

    def never_left(
        self, rows: Iterable[PaymentRow], cause: str, *, counted: bool = True
    ) -> list[PaymentRow]:
        """Payments that provably never reached Mobiquity go back: ``queued`` (the next
        dispatch gives a new attempt, the reference id stays), ``cancelled`` when their
        request was cancelled, ``unsent`` when the tries are used up (``counted`` returns
        only; a refused claim or a failed publish is not the payment's fault)."""
        rows = list(rows)
        states = self.request_states({r.request_id for r in rows})
        moved = []
        for row in rows:
            current = self._rows[row.id]
            if current.state not in (S.DISPATCHED, S.SENDING, S.AMBIGUOUS):
                continue
            target = never_left_target(
                self.rule,
                request_cancelled=states.get(current.request_id) in STOPPED,
                returns_so_far=current.returns,
                counted=counted,
            )
            values: dict[str, Any] = {
                "dispatched_at": None,
                "deadline_at": None,
                "sending_at": None,
                "send_by_at": None,
                "answer_by_at": None,
                "sent_by": None,
            }
            if current.state is S.AMBIGUOUS:
                # Its enquiries end: it is queued again (or out), not waiting for an answer.
                values.update(enquiry_count=0, enquiry_sent_at=None, enquiry_due_at=None)
                values.update(check_requested_at=None, check_resume_at=None)
            if counted:
                values["returns"] = current.returns + 1
            suffix = {
                S.QUEUED: "; queued again with the same reference id",
                S.CANCELLED: "; its request was cancelled",
                S.UNSENT: f"; not sent after {current.returns + 1} tries",
            }[target]
            if target is not S.QUEUED:
                values["reason"] = (cause + suffix)[:255]
            moved.append(self.move(current, target, cause + suffix, values))
        self._done()
        return moved

    def cancel(self, rows: Iterable[PaymentRow], cause: str) -> list[PaymentRow]:
        """``queued | scheduled → cancelled`` (a stale bill, a cancelled request, a bill gone
        at the fetch before paying): the bill is free again."""
        moved = [
            self.move(row, S.CANCELLED, cause, {"reason": cause[:255]})
            for row in (self._rows[r.id] for r in rows)
            if row.state in (S.QUEUED, S.SCHEDULED)
        ]
        self._done()
        return moved

    def cancel_queued(self, request_id: int, cause: str) -> tuple[int, Decimal]:
        """Every queued (or scheduled) payment of a request → ``cancelled``. The caller holds
        the request's row lock, so the dispatcher (shared lock) cannot take more of them
        meanwhile; what is in flight finishes, or comes back ``cancelled`` through
        :meth:`never_left`."""
        rows = self.lock_where(
            "request_id = %s AND state IN (%s, %s)",
            (request_id, S.QUEUED.value, S.SCHEDULED.value),
            limit=10**9,
        )
        moved = self.cancel(rows, cause)
        return len(moved), sum((r.total for r in moved), Decimal("0"))

    # ------------------------------------------------------------------ scheduled payments

    def refetching(self, rows: Iterable[PaymentRow], fetch_request_id: int) -> list[PaymentRow]:
        """Scheduled payments whose due time came: their bills are being fetched again by
        ``fetch_request_id`` (``hold`` due → refetching). Only rows still scheduled."""
        marked = []
        for row in (self._rows[r.id] for r in rows):
            if row.state is not S.SCHEDULED:
                continue
            self.note(
                row,
                {"hold": Hold.REFETCHING.value, "refetch_request_id": fetch_request_id},
                f"its time came: its bill is fetched again first (fetch request"
                f" #{fetch_request_id})",
            )
            marked.append(self._rows[row.id])
        self._done()
        return marked

    def refetched(
        self,
        row: PaymentRow,
        verdict: Verdict,
        *,
        bill: Mapping[str, Any] | None = None,
    ) -> PaymentRow:
        """Apply what the fetch at the due time said (``schedules.compare``): the same amount
        → ``queued`` with the new ``bill`` (``id``, and for a change ``amount``,
        ``service_charge``, ``total``); another amount → it stays scheduled, ``changed``, with
        the new amounts (and tallies) and the old total kept; gone or not fetched →
        ``cancelled``, its bill free again."""
        row = self._rows[row.id]
        if row.state is not S.SCHEDULED:
            return row
        if verdict is Verdict.SAME:
            assert bill is not None
            moved = self.move(
                row,
                S.QUEUED,
                "fetched again before paying: the same amount",
                {"bill_id": bill["id"], "hold": NULL},
            )
        elif verdict is Verdict.CHANGED:
            assert bill is not None
            new_total = Decimal(bill["total"])
            cause = (
                f"amount changed when fetched again before paying: {row.total} → {new_total}"
                " BDT; waits for a person"
            )
            self.note(
                row,
                {
                    "hold": Hold.CHANGED.value,
                    "bill_id": bill["id"],
                    "amount": bill["amount"],
                    "service_charge": bill["service_charge"],
                    "total": new_total,
                    "previous_total": row.total,
                    "reason": cause[:255],
                },
                cause,
            )
            self._tallies.add(row.request_id, BUCKET[S.SCHEDULED], 0, new_total - row.total)
            moved = self._rows[row.id]
        else:
            cause = VERDICT_REASONS[verdict]
            moved = self.move(row, S.CANCELLED, cause, {"reason": cause})
        self._done()
        return moved

    def approve_changed(self, rows: Iterable[PaymentRow], *, person: str) -> list[PaymentRow]:
        """A person approved the new amounts of payments held ``changed``: each becomes due
        now and is fetched again first (and goes only if the amount is still the approved
        one). Only rows still scheduled."""
        now = self.now()
        approved = []
        for row in (self._rows[r.id] for r in rows):
            if row.state is not S.SCHEDULED:
                continue
            self.note(
                row,
                {
                    "hold": Hold.DUE.value,
                    "due_at": now,
                    "refetch_request_id": None,
                    "previous_total": None,
                    "reason": None,
                },
                f"new amount {row.total} BDT approved by {person}: fetched again before paying",
            )
            approved.append(self._rows[row.id])
        self._done()
        return approved

    # ------------------------------------------------------------------ enquiries

    def to_ambiguous(
        self, row: PaymentRow, cause: str, values: Mapping[str, Any] | None = None
    ) -> PaymentRow:
        """``sending → ambiguous``; the first enquiry is due after the policy's first delay
        (none configured: straight to a person, ``uncleared``)."""
        now = self.now()
        book = {
            "answered_at": now,
            "enquiry_count": 0,
            "enquiry_sent_at": None,
            "enquiry_due_at": self.policy.due_at(now, 0),
            "enquiry_total": self.policy.total,
        }
        moved = self.move(row, S.AMBIGUOUS, cause, {**(values or {}), **book})
        if not self.policy.delays:
            moved = self.move(moved, S.UNCLEARED, "no enquiries configured")
        return moved

    def enquiries_sent(self, slots: Mapping[int, tuple[int, datetime]]) -> list[PaymentRow]:
        """Mark enquiries dispatched: ``{payment_id: (enquiries_done_seen, slot)}``. Only those
        still ambiguous (or uncleared with a person's check asked for), not already out, after
        the same number of enquiries."""
        rows = self.lock(
            slots,
            where="state IN (%s, %s) AND enquiry_sent_at IS NULL",
            params=(S.AMBIGUOUS.value, S.UNCLEARED.value),
        )
        marked = []
        for payment_id, row in sorted(rows.items()):
            seen, slot = slots[payment_id]
            if (
                (
                    row.state is S.AMBIGUOUS
                    or (row.state is S.UNCLEARED and row.check_requested_at is not None)
                )
                and row.enquiry_sent_at is None
                and row.enquiry_count == seen
            ):
                self.note(row, {"enquiry_sent_at": slot})
                marked.append(self._rows[payment_id])
        self._done()
        return marked

    def enquiry_not_sent(self, row: PaymentRow, *, why: str) -> None:
        """An enquiry that never reached Mobiquity (expired in a backlog, publish failed) is
        not one of the N: ask again now, through the pace."""
        self.note(row, {"enquiry_sent_at": None, "enquiry_due_at": self.now()}, why)
        self._done()

    def enquiry_answered(
        self,
        row: PaymentRow,
        outcome: EnquiryOutcome,
        details: Mapping[str, Any],
        *,
        check: bool | None = None,
    ) -> Decision:
        """Count one enquiry of an ambiguous payment (its answer, or none in time): settle it,
        schedule the next one ``delays[done]`` after now, or leave it for a person.

        ``check``: the answer is to a person's check (:meth:`ask_check`), which is not
        counted; None (the sweeper's "no answer in time") takes whatever is out: the check
        when one was asked for."""
        if check is None:
            check = row.check_requested_at is not None
        if check or row.state is S.UNCLEARED:
            return self._check_answered(row, outcome, details)
        done = row.enquiry_count + 1
        now = self.now()
        decision = decide_enquiry_result(
            S.AMBIGUOUS,
            outcome,
            enquiries_done=done,
            policy=self.policy,
            answer_by=row.answer_by_at,
            now=now,
        )
        book: dict[str, Any] = {
            "enquiry_count": done,
            "enquiry_sent_at": None,
            "enquiry_total": self.policy.total,
        }
        if decision.target is None:
            book["enquiry_due_at"] = self.policy.due_at(now, done)
            self.note(row, book, f"enquiry {done} of {self.policy.total}: no answer ({outcome})")
        else:
            values = {**book, "enquiry_due_at": None, "reason": decision.cause[:255]}
            values.update({k: v for k, v in details.items() if v})
            if decision.failure is not None:
                values["failure"] = decision.failure.value
            self.move(row, decision.target, decision.cause, values)
        self._done()
        return decision

    def ask_check(self, row: PaymentRow, *, person: str) -> PaymentRow:
        """A person's "check now": ask Mobiquity once more about an ambiguous or uncleared
        payment — an enquiry through the normal pace (the dispatcher picks it as due now),
        never a resend, and not one of the N (:meth:`enquiry_answered` does not count it).
        On an ambiguous payment the regular enquiry it displaces keeps its due time
        (``check_resume_at``). Refused (:class:`CheckRefused`) while one is asked for or an
        enquiry is out."""
        if row.state not in ENQUIRABLE:
            raise CheckRefused("not_enquirable", row)
        if row.check_requested_at is not None:
            raise CheckRefused("already_asked", row)
        if row.enquiry_sent_at is not None:
            raise CheckRefused("enquiry_out", row)
        now = self.now()
        values = {
            "check_requested_at": now,
            "check_requested_by": person[:64],
            "check_resume_at": row.enquiry_due_at,
            "enquiry_due_at": now,
        }
        self.note(row, values, f"{person} asked Mobiquity once more (check now, not counted)")
        self._done()
        return self._rows[row.id]

    def _check_answered(
        self, row: PaymentRow, outcome: EnquiryOutcome, details: Mapping[str, Any]
    ) -> Decision:
        """The answer to a person's check (or none in time). Not counted. It settles an
        ambiguous payment when it says where the payment stands; otherwise the regular
        schedule goes on from where the check found it. On an uncleared payment it is only
        recorded (``check_outcome``): the person who resolves it reads it."""
        now = self.now()
        values: dict[str, Any] = {"check_outcome": outcome.value, "check_answered_at": now}
        if row.check_requested_at is not None and row.enquiry_sent_at is not None:
            values.update(check_requested_at=None, enquiry_sent_at=None, check_resume_at=None)
            if row.state is S.AMBIGUOUS:
                values["enquiry_due_at"] = row.check_resume_at or now
        if row.state is not S.AMBIGUOUS:
            cause = f"check: Mobiquity says {outcome}; recorded for the person who resolves it"
            self.note(row, values, cause)
            self._done()
            return Decision(None, cause)
        decision = decide_enquiry_result(
            S.AMBIGUOUS,
            outcome,
            enquiries_done=row.enquiry_count,
            policy=self.policy,
            answer_by=row.answer_by_at,
            now=now,
            extra=True,
        )
        if decision.target is None:
            self.note(row, values, decision.cause)
        else:
            values.update(enquiry_due_at=None, check_resume_at=None, reason=decision.cause[:255])
            values.update({k: v for k, v in details.items() if v})
            if decision.failure is not None:
                values["failure"] = decision.failure.value
            self.move(row, decision.target, f"check asked by a person: {decision.cause}", values)
        self._done()
        return decision

    # ------------------------------------------------------------------ people

    def resolve(self, row: PaymentRow, paid: bool, *, person: str, comment: str) -> PaymentRow:
        """A person settles an ``uncleared`` payment after checking Mobiquity's reports.

        "Not paid" is refused while a "succeeded" answer for it waits unacknowledged: the
        money may have moved, and the bill would be paid again.
        """
        if not paid and self.unacknowledged_success(row.id):
            raise SuccessUnacknowledged(row.reference_id)
        target = S.SUCCEEDED if paid else S.FAILED
        values: dict[str, Any] = {
            "resolved_by": person[:64],
            "resolved_at": NOW,
            "resolution_comment": comment[:500],
        }
        if not paid:
            values["reason"] = "resolved by a person: not paid"
            values["failure"] = Failure.PERSON.value
        moved = self.move(
            row, target, f"resolved by a person: {'paid' if paid else 'not paid'}", values
        )
        self._done()
        return moved

    def unacknowledged_success(self, payment_id: int) -> bool:
        return (
            self.conn.exec_driver_sql(
                "SELECT 1 FROM payment_anomalies WHERE payment_id = %s AND acknowledged_by IS NULL"
                " AND result_kind IN ('enquiry.succeeded', 'enquiry.pending', 'pay.accepted')"
                " LIMIT 1",
                (payment_id,),
            ).first()
            is not None
        )

    # ------------------------------------------------------------------ anomalies

    def keep_anomaly(self, row: PaymentRow, result_kind: str, result: str) -> None:
        """Keep a result that disagrees with where the payment stands, for a person."""
        self.conn.exec_driver_sql(
            "INSERT INTO payment_anomalies (payment_id, reference_id, state_at_receipt,"
            " result_kind, result, received_at) VALUES (%s, %s, %s, %s, %s, UTC_TIMESTAMP(6))",
            (row.id, row.reference_id, row.state.value, result_kind[:32], result),
        )


#: States a person's check may ask about (and the dispatcher's enquiries read).
ENQUIRABLE = frozenset({S.AMBIGUOUS, S.UNCLEARED})


class CheckRefused(Exception):
    """A "check now" that cannot be asked now: ``why`` is ``not_enquirable`` (neither
    ambiguous nor uncleared), ``already_asked`` or ``enquiry_out`` (an answer is coming)."""

    def __init__(self, why: str, row: PaymentRow) -> None:
        super().__init__(f"{why}: {row.reference_id}")
        self.why = why
        self.row = row


class SuccessUnacknowledged(Exception):
    """Mobiquity said "succeeded" for this payment and nobody acknowledged it yet."""

    def __init__(self, reference_id: str) -> None:
        super().__init__(reference_id)
        self.reference_id = reference_id


_EVENT = (
    "INSERT INTO payment_events (payment_id, reference_id, from_state, to_state, cause, actor,"
    " occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)

_ROW_FIELDS = frozenset(PaymentRow.__dataclass_fields__) - {"id", "request_id", "reference_id"}


def _row_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The new values that a ``PaymentRow`` shows (expressions are left as they were read)."""
    found: dict[str, Any] = {}
    for name, value in values.items():
        if name in _ROW_FIELDS and name != "state" and not isinstance(value, Sql):
            found[name] = value
    return found
