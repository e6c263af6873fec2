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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Connection

from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.messages import (
    BATCH_MAX,
)
from bbp_common.platform.db import utcnow
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import EXCHANGE, Outgoing, PublishFailed, build
from bbp_scheduler.commands import BATCHES, Command, mark_dispatched
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.pacing import Pacer
from bbp_scheduler.picking import ENQUIRIES, Picker
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.work import Rules, Work

log = get_logger(__name__)


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
        self.rules = Rules.of(settings) if hasattr(settings, "enquiry_schedule") else None
        self.pacer = Pacer(settings.mobiquity_rate_limit or None)
        self.picker = Picker(getattr(settings, "pay_max_bill_age", 86400))
        self.wake = threading.Event()
        #: The last plan found every in-flight slot taken: work may be waiting for a result.
        self.saturated = False
        #: The database clock minus ours (from the last plan), and the earliest moment the
        #: next batched command may leave (database clock).
        self._offset = 0.0
        self._next_not_before = utcnow()

    @property
    def actor(self) -> str:
        return f"scheduler:{self.db.lease.holder}"

    @property
    def active_checked(self) -> float:
        return self.picker.active_checked

    @active_checked.setter
    def active_checked(self, value: float) -> None:
        self.picker.active_checked = value

    def slots_freed(self) -> None:
        """Results were applied: if the dispatcher waits for a free slot, look again now
        (it would otherwise sleep the idle interval and cap the rate at in-flight ÷ 0.5 s)."""
        if self.saturated:
            self.wake.set()

    def _work(self, conn: Connection, token: int) -> Work:
        assert self.rules is not None
        return Work(conn, token, self.actor, self.rules, self.settings)

    # ------------------------------------------------------------------ term

    def begin_term(self) -> None:
        """A new leader continues the pace from the last second of recorded dispatches."""
        recent = self.db.read(
            lambda conn: [
                at
                for (at,) in conn.exec_driver_sql(
                    "SELECT dispatched_at FROM dispatches"
                    " WHERE dispatched_at > DATE_SUB(UTC_TIMESTAMP(6), INTERVAL 2 SECOND)"
                )
            ]
        )
        self.pacer = Pacer(self.settings.mobiquity_rate_limit or None, recent=recent)
        self.picker.reset()

    def run(self, stop: threading.Event) -> None:
        """Plan a little ahead, release each command at its slot, plan again when short.

        Planning (a transaction) and releasing are interleaved in this one thread. A
        command leaves at or after its slot, never before, and releases are themselves
        spaced one interval apart: when a slow transaction made commands late, they leave
        at the pace, not in a bunch — Mobiquity sees the cap, not only our records.
        """
        tick = self.settings.dispatch_tick
        gap = self.pacer.interval
        lead = timedelta(seconds=self.settings.dispatch_lead)
        pending: deque[tuple[datetime, Command]] = deque()
        next_release = utcnow()
        try:
            while not stop.is_set():
                # Plan about four ticks ahead, in batches: one transaction per batch, not per
                # command, is what keeps the dispatcher cheap at a few hundred per second.
                idle = False
                if not pending or pending[-1][0] < utcnow() + lead + timedelta(seconds=2 * tick):
                    planned = self.plan(horizon=4 * tick + lead.total_seconds())
                    pending.extend(planned)
                    idle = not planned and not pending and not self.saturated
                due: list[Command] = []
                now = utcnow()
                if lead:
                    # Batches: every command whose slot comes within the lead leaves now, in
                    # one message per kind; the communicator waits for each one's slot.
                    while pending and pending[0][0] <= now + lead:
                        due.append(pending.popleft()[1])
                    if due:
                        self._publish_batches(due)
                        continue
                    release_at = pending[0][0] - lead if pending else None
                else:
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
        force = self.wake.is_set()
        settle: set[int] = set()

        def work(conn: Connection, token: int) -> float:
            planned.clear()
            unit = self._work(conn, token)
            now = unit.now
            offset = (now - utcnow()).total_seconds()
            in_flight = count_in_flight(conn)
            self.metrics.in_flight.set(in_flight)
            capacity = self.settings.mobiquity_max_in_flight - in_flight
            self.saturated = capacity <= 0
            if self.saturated:
                unit.finish()
                return offset
            slots = self.pacer.plan(now, horizon, capacity)
            if not slots:
                unit.finish()
                return offset
            picks = self.picker.pick(unit, now, len(slots), force=force)
            if picks:
                allowed = unit.requests.dispatching(
                    {key[1] for key, _ in picks if key != ENQUIRIES}
                )
                chosen = [
                    (key, row, slot)
                    for (key, row), slot in zip(picks, slots, strict=False)
                    if key == ENQUIRIES or key[1] in allowed
                ]
                planned.extend(mark_dispatched(unit, chosen, self.settings))
            if planned:
                conn.exec_driver_sql(
                    "INSERT INTO dispatches (dispatched_at, kind, item_id, request_id,"
                    " fencing_token) VALUES (%s, %s, %s, %s, %s)",
                    [
                        (slot, command.item_kind, command.item_id, command.request_id, token)
                        for command, slot in planned
                    ],
                )
                unit.requests.start({c.request_id for c, _ in planned if c.item_kind != "enquiry"})
            settle.clear()
            settle.update(unit.finish())  # stale bills cancelled: their requests may be done
            return offset

        started = time.monotonic()
        offset = self.db.write(work)
        if settle and self.rules is not None:
            self.db.write(lambda conn, token: self._work(conn, token).settle_requests(settle))
        took = time.monotonic() - started
        self.metrics.plan_seconds.observe(took)
        if took > 0.2:
            log.warning("dispatch_planning_slow", seconds=round(took, 3), planned=len(planned))
        if not planned:
            return []
        # Slots are handed out in time order; skipped picks leave gaps, never overlaps.
        self.pacer.commit([slot for _, slot in planned])
        self._offset = offset
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
                or self.picker.correlations.get(command.request_id or 0),
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

    def _publish_batches(self, commands: Sequence[Command]) -> None:
        """One message per kind (at most ``BATCH_MAX`` commands each), every command with the
        slot it may not leave before; a batch whose publish fails is given back whole."""
        # Each command's not-before moment: its slot, but never sooner than one interval
        # after the previous command's, nor in the past. A batch that leaves late (a slow
        # transaction, a starved thread) is spread at the pace, not sent as a bunch: what
        # Mobiquity sees keeps the cap, not only our records.
        gap = self.pacer.interval
        db_now = utcnow() + timedelta(seconds=self._offset)
        for command in sorted(commands, key=lambda c: c.slot or db_now):
            moment = max(command.slot or db_now, self._next_not_before, db_now)
            command.not_before = moment
            self._next_not_before = moment + gap
        by_kind: dict[str, list[Command]] = {}
        for command in commands:
            by_kind.setdefault(command.item_kind, []).append(command)
        outgoing = []
        by_id: dict[str, list[Command]] = {}
        for group in by_kind.values():
            for start in range(0, len(group), BATCH_MAX):
                chunk = group[start : start + BATCH_MAX]
                kind = BATCHES[chunk[0].item_kind]
                envelope = build(
                    kind.type,
                    {"items": [{**c.body, "not_before": c.not_before} for c in chunk]},
                    version=kind.version,
                    correlation_id=chunk[0].correlation_id
                    or self.picker.correlations.get(chunk[0].request_id or 0),
                )
                by_id[envelope.message_id] = chunk
                outgoing.append(Outgoing(EXCHANGE, kind.routing_key, envelope))
                self.metrics.dispatched.labels(chunk[0].item_kind).inc(len(chunk))
        try:
            self.publisher.publish_batch(outgoing)
        except PublishFailed as exc:
            failed = [c for mid in exc.message_ids for c in by_id.get(mid, [])]
            log.warning("dispatch_publish_failed", count=len(failed), error=str(exc))
            self._revert(failed)

    def _revert(self, commands: Sequence[Command]) -> None:
        """Put back what did not leave. A copy that did leave is superseded by the attempt
        (claims match it) or by the enquiry number (results match it)."""

        def work(conn: Connection, token: int) -> None:
            unit = self._work(conn, token)
            for command in commands:
                if command.item_kind == "fetch":
                    unit.fetches.undo_dispatch(command.item_id, command.body["attempt"])
                elif command.item_kind == "pay":
                    row = unit.payments.lock([command.item_id]).get(command.item_id)
                    if (
                        row is not None
                        and row.state is PaymentState.DISPATCHED
                        and row.attempt == command.body["attempt"]
                    ):
                        unit.payments.never_left([row], "command not published", counted=False)
                else:
                    row = unit.payments.lock([command.item_id]).get(command.item_id)
                    if (
                        row is not None
                        and row.state in (PaymentState.AMBIGUOUS, PaymentState.UNCLEARED)
                        and row.enquiry_sent_at is not None
                        and row.enquiry_number == command.body["enquiry_number"]
                    ):
                        unit.payments.enquiry_not_sent(row, why="enquiry command not published")
            unit.finish()  # nothing of these finishes a request: no settling needed

        try:
            self.db.write(work)
        except Exception:  # the sweeper finds whatever stays dispatched
            log.exception("dispatch_revert_failed")

    # ------------------------------------------------------------------ marking


_IN_FLIGHT = (
    "SELECT (SELECT COUNT(*) FROM fetch_items WHERE state = 'dispatched')"
    " + (SELECT COUNT(*) FROM payments WHERE state IN ('dispatched', 'sending'))"
    " + (SELECT COUNT(*) FROM payments WHERE state IN ('ambiguous', 'uncleared')"
    "    AND enquiry_sent_at IS NOT NULL)"
)


def count_in_flight(conn: Connection) -> int:
    """Commands dispatched and not yet answered: fetches, payments, enquiries."""
    return int(conn.exec_driver_sql(_IN_FLIGHT).scalar_one())
