"""The paced, fair dispatcher: the only source of commands toward Mobiquity.

Every tick it plans slots with the GCRA pacer (at most ``rate`` per second, at most
``max_in_flight`` unanswered), takes work round-robin from the active requests (and the
due enquiries, which go on whatever the request's state), and in one lease-checked
transaction marks each item dispatched *at its slot* and records the dispatch. Only after
that commit, and no earlier than the last slot, does it publish the commands. A command
whose publish fails goes back to queued (a newer dispatch supersedes any copy that did
leave: claims match the attempt number).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Connection, case, func, insert, or_, select, text, update

from bbp_common.db import utcnow
from bbp_common.db.tables import (
    bills,
    bulk_requests,
    dispatches,
    fetch_items,
    payment_events,
    payments,
)
from bbp_common.domain.payments import PaymentState
from bbp_common.logging import get_logger
from bbp_common.messages import ENQUIRY_COMMAND, FETCH_COMMAND, PAY_COMMAND, MessageKind
from bbp_common.messaging import EXCHANGE, Outgoing, PublishFailed, build
from bbp_common.payment_store import PaymentRow, breaker_state, bump_tallies, transition
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.pacing import Pacer, round_robin
from bbp_scheduler.settings import SchedulerSettings

log = get_logger(__name__)

ENQUIRIES = ("enquiry", 0)
Key = tuple[str, int]


@dataclass
class Command:
    kind: MessageKind
    item_kind: str
    item_id: int
    request_id: int | None
    body: dict[str, Any]
    correlation_id: str | None = None
    revert: dict[str, Any] = field(default_factory=dict)


@dataclass
class DispatcherMetrics:
    dispatched: Counter
    in_flight: Gauge
    plan_seconds: Histogram

    @classmethod
    def create(cls, registry: Any) -> DispatcherMetrics:
        return cls(
            dispatched=Counter(
                "bbp_scheduler_dispatched_total",
                "Commands dispatched, by kind",
                ["kind"],
                registry=registry,
            ),
            in_flight=Gauge(
                "bbp_scheduler_in_flight",
                "Commands dispatched and not yet answered",
                registry=registry,
            ),
            plan_seconds=Histogram(
                "bbp_scheduler_plan_seconds",
                "Time to plan and record one batch of dispatches",
                registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            ),
        )


class Dispatcher:
    def __init__(
        self,
        db: LeaderDb,
        publisher: Any,
        settings: SchedulerSettings,
        metrics: DispatcherMetrics,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.settings = settings
        self.metrics = metrics
        self.pacer = Pacer(settings.mobiquity_rate_limit or None)
        self.buffers: dict[Key, deque[Any]] = {}
        self.active: list[Key] = []
        self.active_checked = 0.0
        self.last_key: Key | None = None
        self.wake = threading.Event()
        #: Correlation id of each active request (set by the portal request that made it).
        self.correlations: dict[int, str] = {}
        #: The last plan found every in-flight slot taken: work may be waiting for a result.
        self.saturated = False

    def slots_freed(self) -> None:
        """Results were applied: if the dispatcher waits for a free slot, look again now
        (it would otherwise sleep the idle interval and cap the rate at in-flight ÷ 0.5 s)."""
        if self.saturated:
            self.wake.set()

    # ------------------------------------------------------------------ term

    def begin_term(self) -> None:
        """A new leader continues the pace from the last second of recorded dispatches."""
        recent = self.db.read(
            lambda conn: (
                conn.execute(
                    select(dispatches.c.dispatched_at).where(
                        dispatches.c.dispatched_at
                        > func.date_sub(func.utc_timestamp(6), text("INTERVAL 2 SECOND"))
                    )
                )
                .scalars()
                .all()
            )
        )
        self.pacer = Pacer(self.settings.mobiquity_rate_limit or None, recent=recent)
        self.buffers.clear()
        self.active = []
        self.active_checked = 0.0

    def run(self, stop: threading.Event) -> None:
        """Plan a little ahead, release each command at its slot, plan again when short.

        Planning (a transaction) and releasing are interleaved in this one thread. A
        command leaves at or after its slot, never before, and releases are themselves
        spaced one interval apart: when a slow transaction made commands late, they leave
        at the pace, not in a bunch — Mobiquity sees the cap, not only our records.
        """
        tick = self.settings.dispatch_tick
        gap = self.pacer.interval
        pending: deque[tuple[datetime, Command]] = deque()
        next_release = utcnow()
        try:
            while not stop.is_set():
                # Plan about four ticks ahead, in batches: one transaction per batch, not per
                # command, is what keeps the dispatcher cheap at a few hundred per second.
                idle = False
                if not pending or pending[-1][0] < utcnow() + timedelta(seconds=2 * tick):
                    planned = self.plan(horizon=4 * tick)
                    pending.extend(planned)
                    idle = not planned and not pending and not self.saturated
                due: list[Command] = []
                now = utcnow()
                while pending and max(pending[0][0], next_release) <= now:
                    next_release = max(pending[0][0], next_release) + gap
                    due.append(pending.popleft()[1])
                if due:
                    self._publish(due)
                    continue
                release_at = max(pending[0][0], next_release) if pending else None
                wait = (release_at - utcnow()).total_seconds() if release_at else tick
                # Nothing to dispatch: look again less often (a new request wakes us at once).
                limit = self.settings.dispatch_idle_interval if idle else tick
                if wait > 0 and self.wake.wait(min(wait, limit) if release_at else limit):
                    self.wake.clear()
        finally:
            if pending:
                # Planned but never released: give them back (the sweeper would, later).
                self._revert([command for _, command in pending])

    # ------------------------------------------------------------------ planning

    def plan(self, horizon: float) -> list[tuple[datetime, Command]]:
        """Mark the next commands dispatched at their slots; returns (release time, command).

        Release times are on this process's clock (the slots are on the database's).
        """
        planned: list[tuple[Command, datetime]] = []

        def work(conn: Connection, token: int) -> float:
            planned.clear()
            now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
            offset = (now - utcnow()).total_seconds()
            in_flight = count_in_flight(conn)
            self.metrics.in_flight.set(in_flight)
            capacity = self.settings.mobiquity_max_in_flight - in_flight
            self.saturated = capacity <= 0
            if self.saturated:
                return offset
            slots = self.pacer.plan(now, horizon, capacity)
            if not slots:
                return offset
            picks = self._pick(conn, now, len(slots))
            if not picks:
                return offset
            allowed = self._requests_still_running(conn, {k[1] for k, _ in picks if k != ENQUIRIES})
            chosen = [
                (key, row, slot)
                for (key, row), slot in zip(picks, slots, strict=False)
                if key == ENQUIRIES or key[1] in allowed
            ]
            planned.extend(self._mark(conn, chosen))
            if planned:
                conn.execute(
                    insert(dispatches),
                    [
                        {
                            "dispatched_at": slot,
                            "kind": command.item_kind,
                            "item_id": command.item_id,
                            "request_id": command.request_id,
                            "fencing_token": token,
                        }
                        for command, slot in planned
                    ],
                )
                self._start_requests(conn, {c.request_id for c, _ in planned if c.request_id})
            return offset

        started = time.monotonic()
        offset = self.db.write(work)
        took = time.monotonic() - started
        self.metrics.plan_seconds.observe(took)
        if took > 0.2:
            log.warning("dispatch_planning_slow", seconds=round(took, 3), planned=len(planned))
        if not planned:
            return []
        # Slots are handed out in time order; skipped picks leave gaps, never overlaps.
        self.pacer.commit([slot for _, slot in planned])
        shift = timedelta(seconds=offset)
        return [(slot - shift, command) for command, slot in planned]

    def tick(self) -> int:
        """Plan one horizon and release it at once, slot by slot (tests and benchmarks)."""
        planned = self.plan(horizon=self.settings.dispatch_tick)
        for release_at, command in planned:
            delay = (release_at - utcnow()).total_seconds()
            if delay > 0:
                time.sleep(delay)
            self._publish([command])
        return len(planned)

    def _publish(self, commands: Sequence[Command]) -> None:
        outgoing = []
        by_id: dict[str, Command] = {}
        for command in commands:
            envelope = build(
                command.kind.type,
                command.body,
                version=command.kind.version,
                # The portal request's id, so the communicator's lines carry it too.
                correlation_id=command.correlation_id
                or self.correlations.get(command.request_id or 0),
            )
            by_id[envelope.message_id] = command
            outgoing.append(Outgoing(EXCHANGE, command.kind.routing_key, envelope))
            self.metrics.dispatched.labels(command.item_kind).inc()
        try:
            self.publisher.publish_batch(outgoing)
        except PublishFailed as exc:
            failed = [by_id[mid] for mid in exc.message_ids if mid in by_id]
            log.warning("dispatch_publish_failed", count=len(failed), error=str(exc))
            self._revert(failed)

    def _revert(self, commands: Sequence[Command]) -> None:
        """Put back what did not leave. A copy that did leave is superseded by the attempt."""

        def work(conn: Connection, _token: int) -> None:
            for command in commands:
                if command.item_kind == "fetch":
                    result = conn.execute(
                        update(fetch_items)
                        .where(
                            fetch_items.c.id == command.item_id,
                            fetch_items.c.state == "dispatched",
                            fetch_items.c.attempts == command.body["attempt"],
                        )
                        .values(state="queued", attempts=fetch_items.c.attempts - 1)
                    )
                    if result.rowcount == 1:
                        bump_tallies(
                            conn, command.request_id or 0, {"in_flight": (-1, 0), "queued": (1, 0)}
                        )
                elif command.item_kind == "pay":
                    row = conn.execute(
                        select(
                            payments.c.id,
                            payments.c.request_id,
                            payments.c.reference_id,
                            payments.c.state,
                            payments.c.total,
                            payments.c.attempt,
                        )
                        .where(payments.c.id == command.item_id)
                        .with_for_update()
                    ).first()
                    if row is not None and row.state == PaymentState.DISPATCHED.value:
                        transition(
                            conn,
                            PaymentRow.of(row),
                            PaymentState.QUEUED,
                            cause="command not published",
                            actor=self.db.lease.holder,
                            extra_where=payments.c.attempt == command.body["attempt"],
                            values={"dispatched_at": None, "deadline_at": None},
                        )
                else:
                    conn.execute(
                        update(payments)
                        .where(
                            payments.c.id == command.item_id,
                            payments.c.state == PaymentState.AMBIGUOUS.value,
                            payments.c.enquiry_count == command.body["enquiry_number"] - 1,
                        )
                        .values(enquiry_sent_at=None)
                    )

        try:
            self.db.write(work)
        except Exception:  # the sweeper finds whatever stays dispatched
            log.exception("dispatch_revert_failed")

    # ------------------------------------------------------------------ choosing work

    def _refresh_active(self, conn: Connection) -> None:
        if time.monotonic() - self.active_checked < 0.5 and not self.wake.is_set():
            return
        rows = conn.execute(
            select(bulk_requests.c.id, bulk_requests.c.kind, bulk_requests.c.correlation_id)
            .where(bulk_requests.c.state.in_(["queued", "running"]))
            .order_by(bulk_requests.c.id)
        ).all()
        self.active = [(row.kind, row.id) for row in rows]
        self.correlations = {row.id: row.correlation_id for row in rows if row.correlation_id}
        live = set(self.active) | {ENQUIRIES}
        for key in list(self.buffers):
            if key not in live:
                del self.buffers[key]
        self.active_checked = time.monotonic()

    def _pick(self, conn: Connection, now: datetime, limit: int) -> list[tuple[Key, Any]]:
        self._refresh_active(conn)
        breaker = breaker_state(conn)
        # Open: no payment leaves. Probing: one payment at a time, none while one is out.
        payments_blocked = breaker == "open" or (breaker == "probing" and _payments_out(conn))
        queues: dict[Key, list[Any]] = {}
        enquiries = self._fill(conn, ENQUIRIES, now, limit)
        if enquiries:
            queues[ENQUIRIES] = list(enquiries)
        for key in self.active:
            if key[0] == "payment" and payments_blocked:
                continue
            buffered = self._fill(conn, key, now, limit)
            if buffered:
                queues[key] = list(buffered)
        picks = round_robin(queues, limit, start_after=self.last_key)
        if breaker == "probing":
            payment_picks = [p for p in picks if p[0][0] == "payment"][:1]
            picks = [p for p in picks if p[0][0] != "payment"] + payment_picks
        for key, _row in picks:
            self.buffers[key].popleft()
        if picks:
            self.last_key = picks[-1][0]
        return picks

    def _fill(self, conn: Connection, key: Key, now: datetime, limit: int) -> deque[Any]:
        buffer = self.buffers.setdefault(key, deque())
        if buffer and key != ENQUIRIES:
            return buffer
        size = max(limit * 4, 100)
        if key == ENQUIRIES:
            buffer.clear()  # cheap, and due times move: always read afresh
            rows = conn.execute(
                select(
                    payments.c.id,
                    payments.c.request_id,
                    payments.c.reference_id,
                    payments.c.enquiry_count,
                )
                .where(
                    payments.c.state == PaymentState.AMBIGUOUS.value,
                    payments.c.enquiry_due_at <= now,
                    payments.c.enquiry_sent_at.is_(None),
                )
                .order_by(payments.c.enquiry_due_at)
                .limit(limit)
            ).all()
        elif key[0] == "fetch":
            rows = conn.execute(
                select(
                    fetch_items.c.id,
                    fetch_items.c.request_id,
                    fetch_items.c.utility_code,
                    fetch_items.c.consumer_id,
                    fetch_items.c.mobile,
                    fetch_items.c.attempts,
                )
                .where(
                    fetch_items.c.request_id == key[1],
                    fetch_items.c.state == "queued",
                    or_(
                        fetch_items.c.next_attempt_at.is_(None),
                        fetch_items.c.next_attempt_at <= now,
                    ),
                )
                .order_by(fetch_items.c.id)
                .limit(size)
            ).all()
        else:
            rows = conn.execute(
                select(
                    payments.c.id,
                    payments.c.request_id,
                    payments.c.reference_id,
                    payments.c.state,
                    payments.c.total,
                    payments.c.attempt,
                    bills.c.fetched_at,
                )
                .select_from(payments.join(bills, bills.c.id == payments.c.bill_id))
                .where(payments.c.request_id == key[1], payments.c.state == "queued")
                .order_by(payments.c.dispatch_order, payments.c.id)
                .limit(size)
            ).all()
            rows = self._drop_stale_bills(conn, now, rows)
        buffer.extend(rows)
        return buffer

    def _drop_stale_bills(self, conn: Connection, now: datetime, rows: list[Any]) -> list[Any]:
        """Cancel queued payments whose bill was fetched too long ago; return the others.

        Freshness is checked when a request is created and approved; a request paused for
        days, or held back by an open breaker, is checked again here, at the last moment
        before a command leaves: a stale bill may have been paid elsewhere meanwhile.
        """
        oldest = now - timedelta(seconds=self.settings.pay_max_bill_age)
        fresh = [row for row in rows if row.fetched_at >= oldest]
        for row in rows:
            if row.fetched_at < oldest:
                cause = "bill fetched too long ago to pay now: fetch it again"
                transition(
                    conn,
                    PaymentRow.of(row),
                    PaymentState.CANCELLED,
                    cause=cause,
                    actor=self.db.lease.holder,
                    values={"reason": cause},
                )
                log.warning("payment_cancelled_stale_bill", reference_id=row.reference_id)
        return fresh

    def _requests_still_running(self, conn: Connection, request_ids: set[int]) -> set[int]:
        """Lock (shared) and re-read the requests: a pause committed now stops dispatch now."""
        if not request_ids:
            return set()
        rows = conn.execute(
            select(bulk_requests.c.id)
            .where(
                bulk_requests.c.id.in_(sorted(request_ids)),
                bulk_requests.c.state.in_(["queued", "running"]),
            )
            .with_for_update(read=True)
        ).all()
        return {row.id for row in rows}

    def _start_requests(self, conn: Connection, request_ids: set[int]) -> None:
        if request_ids:
            conn.execute(
                update(bulk_requests)
                .where(
                    bulk_requests.c.id.in_(sorted(request_ids)), bulk_requests.c.state == "queued"
                )
                .values(state="running", started_at=func.utc_timestamp(6))
            )

    # ------------------------------------------------------------------ marking

    def _mark(
        self, conn: Connection, chosen: Sequence[tuple[Key, Any, datetime]]
    ) -> list[tuple[Command, datetime]]:
        """Mark the chosen items dispatched at their slots, a few statements per batch.

        Each UPDATE is conditional (still queued), so an item cancelled meanwhile is left out;
        the rows that did move are read back within the same transaction.
        """
        marked: list[tuple[Command, datetime]] = []
        fetches = [(row, slot) for key, row, slot in chosen if key[0] == "fetch"]
        pays = [(row, slot) for key, row, slot in chosen if key[0] == "payment"]
        enquiries = [(row, slot) for key, row, slot in chosen if key == ENQUIRIES]
        if fetches:
            marked += self._mark_fetches(conn, fetches)
        if pays:
            marked += self._mark_payments(conn, pays)
        for row, slot in enquiries:
            command = self._mark_enquiry(conn, row, slot)
            if command is not None:
                marked.append((command, slot))
        marked.sort(key=lambda pair: pair[1])
        return marked

    def _mark_fetches(
        self, conn: Connection, chosen: Sequence[tuple[Any, datetime]]
    ) -> list[tuple[Command, datetime]]:
        slot_of = {row.id: slot for row, slot in chosen}
        conn.execute(
            update(fetch_items)
            .where(fetch_items.c.id.in_(list(slot_of)), fetch_items.c.state == "queued")
            .values(
                state="dispatched",
                attempts=fetch_items.c.attempts + 1,
                dispatched_at=case(slot_of, value=fetch_items.c.id),
            )
        )
        expected = {row.id: row.attempts + 1 for row, _ in chosen}
        moved = [
            r
            for r in conn.execute(
                select(fetch_items.c.id, fetch_items.c.attempts).where(
                    fetch_items.c.id.in_(list(slot_of)), fetch_items.c.state == "dispatched"
                )
            )
            if expected[r.id] == r.attempts
        ]
        moved_ids = {r.id for r in moved}
        ttl = timedelta(seconds=self.settings.fetch_command_ttl)
        per_request: dict[int, int] = {}
        marked = []
        for row, slot in chosen:
            if row.id not in moved_ids:
                continue
            per_request[row.request_id] = per_request.get(row.request_id, 0) + 1
            marked.append(
                (
                    Command(
                        FETCH_COMMAND,
                        "fetch",
                        row.id,
                        row.request_id,
                        {
                            "item_id": row.id,
                            "request_id": row.request_id,
                            "attempt": row.attempts + 1,
                            "utility": row.utility_code,
                            "consumer_id": row.consumer_id,
                            "mobile": row.mobile,
                            "expires_at": slot + ttl,
                        },
                    ),
                    slot,
                )
            )
        for request_id, count in per_request.items():
            bump_tallies(conn, request_id, {"queued": (-count, 0), "in_flight": (count, 0)})
        return marked

    def _mark_payments(
        self, conn: Connection, chosen: Sequence[tuple[Any, datetime]]
    ) -> list[tuple[Command, datetime]]:
        slot_of = {row.id: slot for row, slot in chosen}
        ttl = timedelta(seconds=self.settings.pay_command_ttl)
        conn.execute(
            update(payments)
            .where(payments.c.id.in_(list(slot_of)), payments.c.state == PaymentState.QUEUED.value)
            .values(
                state=PaymentState.DISPATCHED.value,
                attempt=payments.c.attempt + 1,
                dispatched_at=case(slot_of, value=payments.c.id),
                deadline_at=case({k: v + ttl for k, v in slot_of.items()}, value=payments.c.id),
            )
        )
        expected = {row.id: row.attempt + 1 for row, _ in chosen}
        moved_ids = {
            r.id
            for r in conn.execute(
                select(payments.c.id, payments.c.attempt).where(
                    payments.c.id.in_(list(slot_of)),
                    payments.c.state == PaymentState.DISPATCHED.value,
                )
            )
            if expected[r.id] == r.attempt
        }
        moved = [(row, slot) for row, slot in chosen if row.id in moved_ids]
        if not moved:
            return []
        actor = self.db.lease.holder
        conn.execute(
            insert(payment_events),
            [
                {
                    "payment_id": row.id,
                    "reference_id": row.reference_id,
                    "from_state": PaymentState.QUEUED.value,
                    "to_state": PaymentState.DISPATCHED.value,
                    "cause": f"dispatched (attempt {row.attempt + 1})",
                    "actor": actor,
                    "occurred_at": slot,
                }
                for row, slot in moved
            ],
        )
        per_request: dict[int, tuple[int, Any]] = {}
        for row, _ in moved:
            count, amount = per_request.get(row.request_id, (0, 0))
            per_request[row.request_id] = (count + 1, amount + row.total)
        for request_id, (count, amount) in per_request.items():
            bump_tallies(
                conn, request_id, {"queued": (-count, -amount), "in_flight": (count, amount)}
            )
        return [
            (
                Command(
                    PAY_COMMAND,
                    "pay",
                    row.id,
                    row.request_id,
                    {
                        "payment_id": row.id,
                        "request_id": row.request_id,
                        "attempt": row.attempt + 1,
                        "reference_id": row.reference_id,
                    },
                ),
                slot,
            )
            for row, slot in moved
        ]

    def _mark_enquiry(self, conn: Connection, row: Any, slot: datetime) -> Command | None:
        done = conn.execute(
            update(payments)
            .where(
                payments.c.id == row.id,
                payments.c.state == PaymentState.AMBIGUOUS.value,
                payments.c.enquiry_sent_at.is_(None),
                payments.c.enquiry_count == row.enquiry_count,
            )
            .values(enquiry_sent_at=slot)
        ).rowcount
        if done != 1:
            return None
        return Command(
            ENQUIRY_COMMAND,
            "enquiry",
            row.id,
            row.request_id,
            {
                "payment_id": row.id,
                "reference_id": row.reference_id,
                "enquiry_number": row.enquiry_count + 1,
                "expires_at": slot + timedelta(seconds=self.settings.enquiry_command_ttl),
            },
        )


def _payments_out(conn: Connection) -> bool:
    out = select(payments.c.id).where(payments.c.state.in_(["dispatched", "sending"])).limit(1)
    return conn.execute(out).first() is not None


def count_in_flight(conn: Connection) -> int:
    """Commands dispatched and not yet answered: fetches, payments, enquiries."""
    return int(
        conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM fetch_items WHERE state = 'dispatched')"
                " + (SELECT COUNT(*) FROM payments WHERE state IN ('dispatched', 'sending'))"
                " + (SELECT COUNT(*) FROM payments WHERE state = 'ambiguous'"
                "    AND enquiry_sent_at IS NOT NULL)"
            )
        ).scalar_one()
    )
