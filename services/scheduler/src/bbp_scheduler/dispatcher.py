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

from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, and_, func, insert, or_, select, text, update

from bbp_common.db import utcnow
from bbp_common.db.tables import bulk_requests, dispatches, fetch_items, payments
from bbp_common.domain.payments import PaymentState
from bbp_common.logging import get_logger
from bbp_common.messages import ENQUIRY_COMMAND, FETCH_COMMAND, PAY_COMMAND, MessageKind
from bbp_common.messaging import EXCHANGE, Outgoing, PublishFailed, build
from bbp_common.payment_store import PaymentRow, breaker_is_open, bump_tallies, transition
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

    # ------------------------------------------------------------------ term

    def begin_term(self) -> None:
        """A new leader continues the pace from the last recorded dispatch."""
        last = self.db.read(
            lambda conn: conn.execute(select(func.max(dispatches.c.dispatched_at))).scalar()
        )
        self.pacer = Pacer(self.settings.mobiquity_rate_limit or None, last_slot=last)
        self.buffers.clear()
        self.active = []
        self.active_checked = 0.0

    def run(self, stop: threading.Event) -> None:
        tick = self.settings.dispatch_tick
        while not stop.is_set():
            sent = self.tick()
            if sent == 0:
                # Nothing to do (or no capacity): look again next tick, or sooner when woken.
                self.wake.wait(tick)
                self.wake.clear()

    # ------------------------------------------------------------------ one tick

    def tick(self) -> int:
        planned: list[tuple[Command, datetime]] = []

        def work(conn: Connection, token: int) -> float:
            now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
            offset = (now - utcnow()).total_seconds()
            in_flight = count_in_flight(conn)
            self.metrics.in_flight.set(in_flight)
            capacity = self.settings.mobiquity_max_in_flight - in_flight
            if capacity <= 0:
                return offset
            slots = self.pacer.plan(now, self.settings.dispatch_tick, capacity)
            if not slots:
                return offset
            picks = self._pick(conn, now, len(slots))
            if not picks:
                return offset
            allowed = self._requests_still_running(conn, {k[1] for k, _ in picks if k != ENQUIRIES})
            used: list[datetime] = []
            for (key, row), slot in zip(picks, slots, strict=False):
                if key != ENQUIRIES and key[1] not in allowed:
                    continue
                command = self._mark(conn, key, row, slot)
                if command is None:
                    continue
                planned.append((command, slot))
                used.append(slot)
            if used:
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
            # Slots are assigned in order, so the ones used are a prefix in time only if no
            # pick was skipped; commit the pace up to the last slot actually used.
            self._used = used
            return offset

        self._used: list[datetime] = []
        offset = self.db.write(work)
        if not planned:
            return 0
        self.pacer.commit(self._used)
        # Release no earlier than the last slot: the records are never later than the sends.
        release_at = planned[-1][1] - timedelta(seconds=offset)
        delay = (release_at - utcnow()).total_seconds()
        if delay > 0:
            time.sleep(delay)
        self._publish([c for c, _ in planned])
        return len(planned)

    def _publish(self, commands: Sequence[Command]) -> None:
        outgoing = []
        by_id: dict[str, Command] = {}
        for command in commands:
            envelope = build(command.kind.type, command.body, version=command.kind.version)
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
            select(bulk_requests.c.id, bulk_requests.c.kind)
            .where(bulk_requests.c.state.in_(["queued", "running"]))
            .order_by(bulk_requests.c.id)
        ).all()
        self.active = [(row.kind, row.id) for row in rows]
        live = set(self.active) | {ENQUIRIES}
        for key in list(self.buffers):
            if key not in live:
                del self.buffers[key]
        self.active_checked = time.monotonic()

    def _pick(self, conn: Connection, now: datetime, limit: int) -> list[tuple[Key, Any]]:
        self._refresh_active(conn)
        payments_blocked = breaker_is_open(conn)
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
                )
                .where(payments.c.request_id == key[1], payments.c.state == "queued")
                .order_by(payments.c.dispatch_order, payments.c.id)
                .limit(size)
            ).all()
        buffer.extend(rows)
        return buffer

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

    def _mark(self, conn: Connection, key: Key, row: Any, slot: datetime) -> Command | None:
        s = self.settings
        if key == ENQUIRIES:
            number = row.enquiry_count + 1
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
                    "enquiry_number": number,
                    "expires_at": slot + timedelta(seconds=s.enquiry_command_ttl),
                },
            )
        if key[0] == "fetch":
            attempt = row.attempts + 1
            done = conn.execute(
                update(fetch_items)
                .where(fetch_items.c.id == row.id, fetch_items.c.state == "queued")
                .values(state="dispatched", attempts=attempt, dispatched_at=slot)
            ).rowcount
            if done != 1:
                return None
            bump_tallies(conn, row.request_id, {"queued": (-1, 0), "in_flight": (1, 0)})
            return Command(
                FETCH_COMMAND,
                "fetch",
                row.id,
                row.request_id,
                {
                    "item_id": row.id,
                    "request_id": row.request_id,
                    "attempt": attempt,
                    "utility": row.utility_code,
                    "consumer_id": row.consumer_id,
                    "mobile": row.mobile,
                    "expires_at": slot + timedelta(seconds=s.fetch_command_ttl),
                },
            )
        attempt = row.attempt + 1
        moved = transition(
            conn,
            PaymentRow.of(row),
            PaymentState.DISPATCHED,
            cause=f"dispatched (attempt {attempt})",
            actor=self.db.lease.holder,
            extra_where=and_(payments.c.attempt == row.attempt),
            values={
                "attempt": attempt,
                "dispatched_at": slot,
                "deadline_at": slot + timedelta(seconds=s.pay_command_ttl),
            },
        )
        if not moved:
            return None
        return Command(
            PAY_COMMAND,
            "pay",
            row.id,
            row.request_id,
            {
                "payment_id": row.id,
                "request_id": row.request_id,
                "attempt": attempt,
                "reference_id": row.reference_id,
            },
        )


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
