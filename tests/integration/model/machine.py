"""The payment lifecycle as a hypothesis ``RuleBasedStateMachine``.

Real code, driven in one thread: the portal's operations (create, approve, reject, cancel,
pause, resume, resolve, close the breaker), two schedulers with real leases (the dispatcher's
``plan``, the result applier's ``apply_all`` through ``LeaderDb.write``, the sweeper), and two
communicators (``handle_pay``, ``handle_enquiry``) with the ledger double of ``world.py``.
What is simulated: time (the database's clock included), the broker and Mobiquity.

After every step the safety invariants hold (``safety``); at the end of each example
``teardown`` brings the system to rest — requests resumed or approved, the breaker closed,
every message delivered, every enquiry answered truthfully, time advanced and swept until
nothing changes — and checks the lifecycle invariants. The numbers (0)–(6) are issue 15's.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Connection, Engine, text

from bbp_common.core.domain.payments import (
    FINAL_STATES,
    MAYBE_SENT_STATES,
    RELEASING_STATES,
    PaymentState,
)
from bbp_common.core.domain.requests import CANCELLABLE, OPEN, PAUSABLE
from bbp_common.core.domain.requests import FINAL as REQUEST_FINAL
from bbp_common.core.stores.payments import BUCKET
from bbp_common.platform.db.clock import DbClock
from bbp_common.platform.db.tables import metadata
from bbp_common.platform.messaging import Retry
from bbp_communicator.handlers import Communicator
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations, service
from bbp_portal.service_errors import ServiceError
from bbp_scheduler import notifications
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.dispatcher import Command, Dispatcher, DispatcherMetrics
from bbp_scheduler.lease import Lease, LostLease
from bbp_scheduler.results import Results
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.sweeper import Sweeper
from tests.integration.model.world import (
    CALM_ENQUIRY,
    CALM_PAY,
    PAY_OUTCOMES,
    CommandPublisher,
    Crash,
    EnquiryScript,
    FakeClient,
    PayScript,
    ResultPublisher,
    SendCheck,
    VirtualClock,
    World,
)
from tests.support.payments import seed_bills

S = PaymentState
T = TypeVar("T")

MAKER = Actor("model-maker", "admin")
CHECKER = Actor("model-checker", "admin")
SUPER = Actor("model-super", "superadmin")

# Virtual timings, short like the pipeline tests' (seconds).
LEASE_TTL = 10.0
LEASE_RENEW = 2.0
SEND_WINDOW = 2.0
ANSWER_WINDOW = 3.0  # the client's connect (1) + read (2) timeouts
TIMINGS = {
    "lease_ttl": LEASE_TTL,
    "lease_renew_interval": LEASE_RENEW,
    "mobiquity_rate_limit": 0,  # pacing is not what this checks (bench/ does)
    "pay_command_ttl": 5,
    "pay_requeue_grace": 2,
    "pay_answer_grace": 2,
    "enquiry_command_ttl": 5,
    "enquiry_result_timeout": 4,
    "enquiry_not_found_grace": 3,
}
AMOUNTS = ("100.00", "250.50", "999.99", "1200.00")
SCHEDULERS = ("sched-a", "sched-b")
COMMUNICATORS = ("comm-1", "comm-2")
ENGINES = ("portal", "checker", *SCHEDULERS, *COMMUNICATORS)
QUIESCENCE_ROUNDS = 400
OPEN_REQUESTS = (*OPEN, "awaiting_approval")

#: Totals over a whole test run (the long run prints them).
STATS: Counter[str] = Counter()


@dataclass(frozen=True)
class Config:
    """What differs between examples: the settings a deployment may choose."""

    max_in_flight: int
    enquiry_schedule: str
    believe_not_found: bool
    max_returns: int
    auto_pause_after: int
    max_bill_age: float
    approval_threshold: Decimal | None
    token_first: bool
    breaker: str  # the wallet breaker at the start: closed, or probing (a new deployment)
    skews: tuple[float, float]  # each communicator's clock minus the database's, seconds
    first_bills: int  # the bills of the request the example starts with


skews = st.integers(min_value=-300_000, max_value=300_000).map(lambda ms: ms / 1000)
configs = st.builds(
    Config,
    max_in_flight=st.integers(min_value=2, max_value=8),
    enquiry_schedule=st.sampled_from(["1s,2s,3s", "2s", "3s,6s"]),
    believe_not_found=st.booleans(),
    max_returns=st.integers(min_value=0, max_value=3),
    auto_pause_after=st.sampled_from([0, 2, 5]),
    max_bill_age=st.sampled_from([86400.0, 120.0]),
    approval_threshold=st.sampled_from([None, Decimal("1000")]),
    token_first=st.booleans(),
    breaker=st.sampled_from(["closed", "closed", "probing"]),
    skews=st.tuples(skews, skews),
    first_bills=st.integers(min_value=1, max_value=4),
)
pay_scripts = st.builds(
    PayScript,
    token_ok=st.sampled_from([True, True, True, False]),
    delay=st.sampled_from([0.0, 0.0, 0.5, 1.5, 3.0]),
    outcome=st.sampled_from(PAY_OUTCOMES),
    received_accepted=st.booleans(),
    answer_delay=st.sampled_from([0.0, 1.0, 2.5]),
    land_delay=st.sampled_from([0.5, 2.0, 5.0]),
    publish=st.sampled_from(["ok", "ok", "ok", "nack", "lost_confirm"]),
    meanwhile=st.sampled_from(["nothing", "nothing", "sweep", "results"]),
)
enquiry_scripts = st.builds(
    EnquiryScript,
    answer=st.sampled_from(["truth", "truth", "unknown", "crash"]),
    pending=st.booleans(),
    publish=st.sampled_from(["ok", "ok", "ok", "nack", "lost_confirm"]),
)
picks = st.integers(min_value=0, max_value=10**6)
publish_modes = st.sampled_from(["ok", "ok", "ok", "nack", "lost_confirm"])
releases = st.sampled_from([True, True, True, False])  # publish at once, or hold for later


@dataclass
class ModelEnv:
    """What outlives examples: the model's database and one engine per component."""

    url: str
    clock: VirtualClock
    engines: dict[str, Engine]

    def reset(self) -> None:
        """Empty every table but the biller catalogue (children first), then put back the rows
        the migrations seed: the scheduler's lease and the wallet breaker (probing)."""
        self.clock.reset()
        with self.engines["checker"].begin() as conn:
            # The audit log refuses DELETE (a trigger); TRUNCATE is not a DELETE.
            conn.execute(text("TRUNCATE TABLE audit_log"))
        with self.engines["checker"].begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name not in ("billers", "audit_log"):
                    conn.execute(table.delete())
            conn.execute(
                text("INSERT INTO wallet_breaker (name, state) VALUES ('payer', 'probing')")
            )
            conn.execute(text("INSERT INTO leases (name, fencing_token) VALUES ('scheduler', 0)"))


class ModelLeaderDb(LeaderDb):
    """``LeaderDb`` with two things the model needs: a takeover that lands inside the next
    transaction (after its work, before its last lease check), and the check that whatever
    committed was written by the holder of the lease."""

    def __init__(self, engine: Engine, lease: Lease, machine: PaymentLifecycle) -> None:
        super().__init__(engine, lease, attempts=1)
        self.machine = machine
        self.takeover: Callable[[], None] | None = None

    def write(self, work: Callable[[Connection, int], T]) -> T:
        hook, self.takeover = self.takeover, None

        def wrapped(conn: Connection, token: int) -> T:
            result = work(conn, token)
            if hook is not None:
                hook()
            return result

        result = super().write(wrapped)
        self.machine.committed_by(self.lease, took_over=hook is not None)
        return result


@dataclass
class Scheduler:
    name: str
    lease: Lease
    db: ModelLeaderDb
    dispatcher: Dispatcher
    results: Results
    sweeper: Sweeper
    leading: bool = False
    lost: bool = False  # a write found the lease gone: the term ends at the next step
    refresh: bool = True  # a request event arrived: the dispatcher re-reads active requests
    pending: list[Command] = field(default_factory=list)  # planned, not yet published


def step(method: Callable[..., None]) -> Callable[..., None]:
    """Marks the machine busy while a rule or invariant runs: if it raises, teardown must not
    try to bring the system to rest on top of a failure."""

    @functools.wraps(method)
    def wrapper(self: PaymentLifecycle, *args: Any, **kwargs: Any) -> None:
        STATS[f"rule {method.__name__}"] += 1
        self.busy = True
        method(self, *args, **kwargs)
        self.busy = False

    return wrapper


def delivery(queue: str, scripts: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Any]:
    """The rule of a communicator handling one message of ``queue`` (any, while one waits)
    with a script drawn from ``scripts``, acknowledged or not."""

    def rule_of(method: Callable[..., None]) -> Any:
        return precondition(lambda self: self.ready and self.world.broker.queues[queue])(
            rule(
                which=st.sampled_from(COMMUNICATORS),
                pick=picks,
                script=scripts,
                acked=st.booleans(),
            )(step(method))
        )

    return rule_of


class PaymentLifecycle(RuleBasedStateMachine):
    def __init__(self, env: ModelEnv) -> None:
        super().__init__()
        self.env = env
        self.busy = False
        self.ready = False
        env.reset()
        self.clock = env.clock
        self.world = World(env.clock, env.engines["checker"])
        self.portal = env.engines["portal"]
        self.request_states: dict[int, str] = {}
        self.breaker: str | None = None
        self.uncleared: list[tuple[int, str]] = []
        self.bills: list[int] = []
        self.consumers = 0
        self.keys = 0
        STATS["examples"] += 1

    # ------------------------------------------------------------------ set-up

    @initialize(config=configs)
    @step
    def start(self, config: Config) -> None:
        self.config = config
        url = self.env.url
        self.scheds = {name: self._scheduler(name, url) for name in SCHEDULERS}
        self.comms = {
            name: self._communicator(name, skew)
            for name, skew in zip(COMMUNICATORS, config.skews, strict=True)
        }
        with self.world.checker.begin() as conn:
            conn.execute(text("UPDATE wallet_breaker SET state = :s"), {"s": config.breaker})
        self.world.meanwhile = self._meanwhile
        self.ready = True
        self._lease_step(self.scheds[SCHEDULERS[0]])
        self._create([None] * config.first_bills, AMOUNTS[0], "DSCO")
        self._look()

    def _settings(self, name: str) -> SchedulerSettings:
        c = self.config
        return SchedulerSettings(
            database_url=SecretStr(self.env.url),
            amqp_url=SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F"),
            scheduler_id=name,
            mobiquity_max_in_flight=c.max_in_flight,
            enquiry_schedule=c.enquiry_schedule,
            enquiry_believe_not_found=c.believe_not_found,
            pay_max_returns=c.max_returns,
            auto_pause_after=c.auto_pause_after,
            pay_max_bill_age=c.max_bill_age,
            notify_ops_email="",
            **TIMINGS,
        )

    def _scheduler(self, name: str, url: str) -> Scheduler:
        settings = self._settings(name)
        notifications.configure(settings)
        engine = self.env.engines[name]
        registry = CollectorRegistry()
        lease = Lease(engine, name, settings.lease_ttl)
        db = ModelLeaderDb(engine, lease, self)
        publisher = CommandPublisher(self.world.broker)
        dispatcher = Dispatcher(db, publisher, settings, DispatcherMetrics.create(registry))
        results = Results(db, settings, registry)
        sweeper = Sweeper(db, settings, results)
        return Scheduler(name, lease, db, dispatcher, results, sweeper)

    def _communicator(self, name: str, skew: float) -> Communicator:
        engine = self.env.engines[name]
        clock = self.clock
        return Communicator(
            engine=engine,
            client=FakeClient(self.world, name, token_first=self.config.token_first),  # type: ignore[arg-type]
            publisher=ResultPublisher(self.world.broker),
            name=name,
            publish_timeout=0.0,  # a failed publish hands the command back at once
            clock=DbClock(engine, local=lambda: clock.now() + timedelta(seconds=skew)),
            send_window=SEND_WINDOW,
            answer_window=ANSWER_WINDOW,
            token_first=self.config.token_first,
            monotonic=clock.monotonic,
        )

    # ------------------------------------------------------------------ the portal

    def _wake(self) -> None:
        """A request event reached the schedulers: their dispatchers look again."""
        for sched in self.scheds.values():
            sched.refresh = True

    def _look(self) -> None:
        """What the preconditions look at, read once after each step: the requests' states,
        the breaker, the uncleared payments."""
        with self.world.checker.connect() as conn:
            self.request_states = dict(
                conn.execute(
                    text("SELECT id, state FROM bulk_requests WHERE kind = 'payment'")
                ).all()
            )
            self.breaker = conn.execute(
                text("SELECT state FROM wallet_breaker WHERE name = 'payer'")
            ).scalar()
            self.uncleared = [
                (r.id, r.reference_id)
                for r in conn.execute(
                    text("SELECT id, reference_id FROM payments WHERE state = 'uncleared'")
                )
            ]

    def _in(self, *states: str) -> list[int]:
        return sorted(i for i, s in self.request_states.items() if s in states)

    @precondition(lambda self: self.ready and len(self._in(*OPEN_REQUESTS)) < 3)
    @rule(
        sources=st.lists(st.none() | st.none() | st.none() | picks, min_size=1, max_size=3),
        amount=st.sampled_from(AMOUNTS),
        utility=st.sampled_from(["DSCO", "DESCO"]),
    )
    @step
    def create_request(self, sources: list[int | None], amount: str, utility: str) -> None:
        """Pay new bills, or bills paid before (the portal refuses those still live); a few
        requests at a time."""
        self._create(sources, amount, utility)

    def _create(self, sources: list[int | None], amount: str, utility: str) -> None:
        bill_ids = []
        for source in sources:
            if source is None or not self.bills:
                self.consumers += 1
                new = seed_bills(
                    self.portal, [(utility, amount)], consumer_ids=[f"9{self.consumers:011d}"]
                )
                self.bills.extend(new)
                bill_ids.extend(new)
            else:
                bill_ids.append(self.bills[source % len(self.bills)])
        self.keys += 1
        policy = operations.PayPolicy(
            max_bill_age=timedelta(seconds=self.config.max_bill_age),
            approval_threshold=self.config.approval_threshold,
        )
        try:
            operations.create_payment(
                self.portal, MAKER, bill_ids, key=f"model-{self.keys}", policy=policy
            )
        except ServiceError as exc:
            STATS[f"portal refused create: {exc.code}"] += 1
            return
        STATS["portal create"] += 1
        self._wake()

    def _portal(self, what: str, call: Callable[[], object]) -> bool:
        try:
            call()
        except (ServiceError, service.RequestError) as exc:
            STATS[f"portal refused {what}: {getattr(exc, 'code', 'request_error')}"] += 1
            return False
        STATS[f"portal {what}"] += 1
        return True

    def _actions(self) -> list[str]:
        """What a person can do now (the preconditions of the ``portal`` rule)."""
        found = []
        if self._in("awaiting_approval"):
            found += ["approve", "reject"]
        if self._in(*CANCELLABLE):
            found.append("cancel")
        if self._in(*PAUSABLE):
            found.append("pause")
        if self._in("paused"):
            found.append("resume")
        if self.uncleared:
            found.append("resolve")
        if self.breaker == "open":
            found.append("close_breaker")
        return found

    @precondition(lambda self: self.ready and self._actions())
    @rule(data=st.data(), pick=picks)
    @step
    def portal(self, data: st.DataObject, pick: int) -> None:
        """A person acts: another admin approves (freshness re-checked) or rejects, the maker
        cancels, pauses or resumes, a superadmin resolves an uncleared payment after checking
        Mobiquity's reports (truthfully: the ledger, with what is still on its way) or closes
        the wallet breaker."""
        action = data.draw(st.sampled_from(self._actions()), label="action")
        age = timedelta(seconds=self.config.max_bill_age)
        if action in ("approve", "reject"):
            waiting = self._in("awaiting_approval")
            request_id = waiting[pick % len(waiting)]
            if action == "reject":
                self._portal(
                    "reject", lambda: operations.reject(self.portal, CHECKER, request_id, "no")
                )
            elif self._portal(
                "approve",
                lambda: operations.approve(
                    self.portal, CHECKER, request_id, "ok", max_bill_age=age
                ),
            ):
                self._wake()
        elif action == "cancel":
            open_ = self._in(*CANCELLABLE)
            request_id = open_[pick % len(open_)]
            self._portal(
                "cancel", lambda: service.cancel_request(self.portal, request_id, MAKER.login_id)
            )
        elif action == "pause":
            running = self._in(*PAUSABLE)
            request_id = running[pick % len(running)]
            self._portal("pause", lambda: operations.pause(self.portal, MAKER, request_id))
        elif action == "resume":
            paused = self._in("paused")
            request_id = paused[pick % len(paused)]
            if self._portal("resume", lambda: operations.resume(self.portal, MAKER, request_id)):
                self._wake()
        elif action == "resolve":
            payment_id, reference = self.uncleared[pick % len(self.uncleared)]
            self._resolve(payment_id, reference)
        else:
            self._portal(
                "close breaker",
                lambda: operations.close_wallet_breaker(self.portal, SUPER, "MPIN fixed"),
            )

    def _resolve(self, payment_id: int, reference: str) -> None:
        entry = self.world.mobiquity.eventually(reference)
        resolution = "paid" if entry is not None and entry.accepted else "not_paid"
        self._portal(
            f"resolve {resolution}",
            lambda: operations.resolve(
                self.portal, SUPER, payment_id, resolution, "checked Mobiquity's report"
            ),
        )

    # ------------------------------------------------------------------ leadership

    def _leading(self) -> list[Scheduler]:
        return [s for s in self.scheds.values() if s.leading]

    def _sched(self, pick: int) -> Scheduler:
        leading = self._leading()
        return leading[pick % len(leading)]

    def _lease_step(self, sched: Scheduler) -> None:
        """One turn of ``SchedulerService.step``: renew (or end the term), or take over."""
        if sched.leading:
            if sched.lost or not sched.lease.renew():
                self._end_term(sched)
            return
        if sched.lease.try_acquire():
            STATS["lease acquired"] += 1
            sched.leading, sched.lost, sched.refresh = True, False, True
            sched.dispatcher.begin_term()

    def _end_term(self, sched: Scheduler) -> None:
        """What ``Term.end`` does: the dispatcher gives back what it planned and did not
        publish (refused when the lease is gone: the sweeper finds those)."""
        STATS["term ended"] += 1
        sched.leading = False
        if sched.pending:
            sched.dispatcher._revert(sched.pending)
            sched.pending = []

    @precondition(lambda self: self.ready and self._leading())
    @rule(which=picks, action=st.sampled_from(["stop", "kill", "takeover"]))
    @step
    def leadership(self, which: int, action: str) -> None:
        """The leader stops (its term ends, the lease is released), is killed (its lease
        expires by itself; what it planned is lost), or stalls inside its next transaction
        until the other replica took over — that transaction must not commit. (Leadership
        steps themselves happen as time passes: ``advance``.)"""
        sched = self._sched(which)
        STATS[f"leader trouble: {action}"] += 1
        if action == "stop":
            self._end_term(sched)
            sched.lease.release()
            return
        if action == "kill":
            sched.leading = False
            sched.pending = []
            return
        other = next(s for s in self.scheds.values() if s is not sched)

        def takeover() -> None:
            STATS["takeover inside a write"] += 1
            self.world.advance(LEASE_TTL + 0.001)
            if other.lease.try_acquire():
                other.leading, other.lost, other.refresh = True, False, True
                other.dispatcher.begin_term()

        sched.db.takeover = takeover

    def committed_by(self, lease: Lease, *, took_over: bool) -> None:
        """A scheduler's transaction committed: it held the lease at that moment."""
        if took_over:
            self.world.violations.append(f"{lease.holder} committed after losing its lease")
        with self.world.checker.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT holder, fencing_token, expires_at > UTC_TIMESTAMP(6) AS valid"
                    " FROM leases WHERE name = 'scheduler'"
                )
            ).one()
        if row.holder != lease.holder or row.fencing_token != lease.token or not row.valid:
            self.world.violations.append(
                f"{lease.holder} (token {lease.token}) committed while the lease was "
                f"{row.holder} (token {row.fencing_token}, valid {bool(row.valid)})"
            )

    # ------------------------------------------------------------------ time

    @precondition(lambda self: self.ready)
    @rule(
        seconds=st.sampled_from([0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 15.0]),
        schedulers_step=st.sampled_from([True, True, True, False]),
    )
    @step
    def advance(self, seconds: float, schedulers_step: bool) -> None:
        """Time passes. The schedulers take their leadership steps every renew interval,
        unless they stall (then a lease may expire under its holder)."""
        self._advance(seconds, schedulers_step)

    def _advance(self, seconds: float, schedulers_step: bool) -> None:
        remaining = seconds
        while remaining > 0:
            chunk = min(remaining, LEASE_RENEW)
            self.world.advance(chunk)
            remaining -= chunk
            if schedulers_step:
                for sched in self.scheds.values():
                    self._lease_step(sched)

    # ------------------------------------------------------------------ the scheduler

    def _write(self, sched: Scheduler, call: Callable[[], T]) -> tuple[bool, T | None]:
        """Run a scheduler's write; ``(False, None)`` when it was refused (lease lost)."""
        try:
            return True, call()
        except LostLease:
            STATS["scheduler write refused: lease lost"] += 1
            sched.lost = True
            return False, None

    @precondition(lambda self: self.ready and self._leading())
    @rule(which=picks, refresh=st.booleans(), release=releases, mode=publish_modes)
    @step
    def plan(self, which: int, refresh: bool, release: bool, mode: str) -> None:
        """The dispatcher plans (marks payments dispatched, enquiries sent); it publishes now
        or later (``release``)."""
        self._plan(which, refresh, release, mode)

    def _plan(self, which: int, refresh: bool, release: bool, mode: str) -> None:
        sched = self._sched(which)
        dispatcher = sched.dispatcher
        # The picker re-reads active requests every 0.5 s of real time: here, only when a
        # request event came or the model says the timer fired.
        dispatcher.active_checked = 0.0 if (refresh or sched.refresh) else math.inf
        try:
            done, planned = self._write(sched, lambda: dispatcher.plan(horizon=0.2))
        finally:
            dispatcher.active_checked = math.inf
        if not done or planned is None:
            return
        sched.refresh = False
        sched.pending.extend(command for _, command in planned)
        STATS["commands planned"] += len(planned)
        if release:
            self._release(sched, len(sched.pending), mode)

    @precondition(lambda self: self.ready and self._leading())
    @rule(which=picks, refresh=st.booleans(), release=releases, mode=publish_modes)
    @step
    def plan_more(self, which: int, refresh: bool, release: bool, mode: str) -> None:
        """The same as ``plan``: a second rule, so that planning is drawn more often."""
        self._plan(which, refresh, release, mode)

    def _release(self, sched: Scheduler, count: int, mode: str) -> None:
        commands, sched.pending = sched.pending[:count], sched.pending[count:]
        if not commands:
            return
        sched.dispatcher.publisher.mode = mode
        STATS[f"commands published ({mode})"] += len(commands)
        sched.dispatcher._publish(commands)

    @precondition(lambda self: self.ready and any(s.pending for s in self.scheds.values()))
    @rule(which=st.sampled_from(SCHEDULERS), count=st.integers(1, 4), mode=publish_modes)
    @step
    def release(self, which: str, count: int, mode: str) -> None:
        """Planned commands leave at their slot — also from a scheduler that lost its lease
        meanwhile and does not know it yet."""
        self._release(self.scheds[which], count, mode)

    @precondition(
        lambda self: self.ready and self._leading() and self.world.broker.queues["results"]
    )
    @rule(
        which=picks,
        chosen=st.lists(picks, min_size=1, max_size=4),
        acked=st.booleans(),
    )
    @step
    def apply_results(self, which: int, chosen: list[int], acked: bool) -> None:
        """A batch of results — any subset, in any order, the same one twice — applied in one
        unit of work; if the ack is lost they come again (redelivered)."""
        self._apply_results(which, chosen, acked)

    @precondition(
        lambda self: self.ready and self._leading() and self.world.broker.queues["results"]
    )
    @rule(which=picks, chosen=st.lists(picks, min_size=1, max_size=4), acked=st.booleans())
    @step
    def apply_results_more(self, which: int, chosen: list[int], acked: bool) -> None:
        """The same as ``apply_results``, drawn more often."""
        self._apply_results(which, chosen, acked)

    def _apply_results(self, which: int, chosen: list[int], acked: bool) -> None:
        sched = self._sched(which)
        queue = self.world.broker.queues["results"]
        batch = [queue[c % len(queue)] for c in chosen]
        envelopes = [message.envelope() for message in batch]
        applied, _ = self._write(
            sched,
            lambda: sched.db.write(lambda conn, _token: sched.results.apply_all(conn, envelopes)),
        )
        unique = list({id(m): m for m in batch}.values())
        if not applied:
            for message in unique:
                message.redelivered = True  # Retry: handed back to the broker
            return
        STATS["results applied"] += len(batch)
        for message in unique:
            if acked:
                queue.remove(message)
            else:
                message.redelivered = True

    @precondition(lambda self: self.ready and self._leading())
    @rule(which=picks)
    @step
    def sweep(self, which: int) -> None:
        sched = self._sched(which)
        _, counts = self._write(sched, sched.sweeper.sweep)
        for name, count in (counts or {}).items():
            STATS[f"sweep: {name}"] += count

    def _meanwhile(self, what: str) -> None:
        """The leader works while a communicator is between its claim and its billpay."""
        leading = [s for s in self._leading() if not s.lost]
        if not leading:
            return
        sched = leading[0]
        STATS[f"meanwhile: {what}"] += 1
        if what == "sweep":
            self._write(sched, sched.sweeper.sweep)
            return
        queue = self.world.broker.queues["results"]
        if not queue:
            return
        batch = list(queue)
        envelopes = [message.envelope() for message in batch]
        applied, _ = self._write(
            sched,
            lambda: sched.db.write(lambda conn, _token: sched.results.apply_all(conn, envelopes)),
        )
        if applied:
            for message in batch:
                queue.remove(message)

    # ------------------------------------------------------------------ the broker

    @delivery("pay", pay_scripts)
    def deliver_pay(self, which: str, pick: int, script: PayScript, acked: bool) -> None:
        """A communicator handles a pay command: acknowledged, or it dies before the ack (the
        broker delivers it again, redelivered)."""
        self._deliver_pay(which, pick, script, acked)

    @delivery("pay", pay_scripts)
    def deliver_pay_more(self, which: str, pick: int, script: PayScript, acked: bool) -> None:
        """The same as ``deliver_pay``, drawn more often."""
        self._deliver_pay(which, pick, script, acked)

    def _deliver_pay(self, which: str, pick: int, script: PayScript, acked: bool) -> None:
        broker = self.world.broker
        message = broker.take("pay", pick)
        envelope = message.envelope()
        comm = self.comms[which]
        client: FakeClient = comm.client  # type: ignore[assignment]
        client.pay_script = script
        client.sending = SendCheck(envelope.body["attempt"], which)
        comm.publisher.mode = script.publish  # type: ignore[attr-defined]
        STATS[f"pay command delivered{' again' if message.redelivered else ''}"] += 1
        try:
            comm.handle_pay(envelope, message.redelivered)
        except Crash:
            STATS[f"communicator crashed ({script.outcome})"] += 1
            comm.wallet_refused_at = None  # a new process
            broker.back("pay", message)
            return
        except Retry:
            STATS["pay command handed back (result not published)"] += 1
            fate = self.world.fates.get(envelope.body["reference_id"], [])
            if script.publish == "nack" and fate and fate[-1] == "not sent":
                fate.append("unreported")  # the proof it never left did not leave either
            broker.back("pay", message)
            return
        finally:
            client.sending = None
            client.pay_script = CALM_PAY
            comm.publisher.mode = "ok"  # type: ignore[attr-defined]
        if not acked:
            broker.back("pay", message)

    @delivery("enquiry", enquiry_scripts)
    def deliver_enquiry(self, which: str, pick: int, script: EnquiryScript, acked: bool) -> None:
        self._deliver_enquiry(which, pick, script, acked)

    def _deliver_enquiry(self, which: str, pick: int, script: EnquiryScript, acked: bool) -> None:
        broker = self.world.broker
        message = broker.take("enquiry", pick)
        comm = self.comms[which]
        client: FakeClient = comm.client  # type: ignore[assignment]
        client.enquiry_script = script
        comm.publisher.mode = script.publish  # type: ignore[attr-defined]
        STATS["enquiry delivered"] += 1
        try:
            comm.handle_enquiry(message.envelope(), message.redelivered)
        except (Crash, Retry):
            broker.back("enquiry", message)
            return
        finally:
            client.enquiry_script = CALM_ENQUIRY
            comm.publisher.mode = "ok"  # type: ignore[attr-defined]
        if not acked:
            broker.back("enquiry", message)

    @precondition(lambda self: self.ready and not self.world.broker.empty())
    @rule(queue=st.sampled_from(["pay", "enquiry", "results"]), pick=picks, lose=st.booleans())
    @step
    def lose_or_copy(self, queue: str, pick: int, lose: bool) -> None:
        """A message is dead-lettered (lost to us), or published a second time."""
        if not self.world.broker.queues[queue]:
            return
        if lose:
            STATS[f"{queue} message lost"] += 1
            body = self.world.broker.take(queue, pick).envelope().body
            if queue == "results" and body.get("outcome") == "not_sent":
                # The proof it never left is lost with it.
                self.world.fates.setdefault(body["reference_id"], []).append("unreported")
        else:
            STATS[f"{queue} message copied"] += 1
            self.world.broker.copy(queue, pick)

    # ------------------------------------------------------------------ invariants

    @invariant()
    @step
    def safety(self) -> None:
        """(0), (1), (5) and the stores' bookkeeping, after every step."""
        if not self.ready:
            return
        STATS["steps"] += 1
        violations, self.world.violations = self.world.violations, []
        assert not violations, violations
        payments, events = self._read()
        self._check_ledger(payments)
        self._check_events(payments, events)
        self._check_bookkeeping(payments)
        self._look()

    def _read(self) -> tuple[dict[str, Any], dict[int, list[Any]]]:
        with self.world.checker.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, request_id, reference_id, state, total, live_bill_key, failure,"
                    " attempt FROM payments"
                )
            ).all()
            events: dict[int, list[Any]] = defaultdict(list)
            for event in conn.execute(
                text(
                    "SELECT payment_id, reference_id, from_state, to_state, actor, cause"
                    " FROM payment_events ORDER BY payment_id, id"
                )
            ):
                events[event.payment_id].append(event)
        return {row.reference_id: row for row in rows}, events

    def _check_ledger(self, payments: dict[str, Any]) -> None:
        """(1): one billpay at most per reference id, one accepted at most per bill, and every
        billpay belongs to a payment in a state where it may have been sent."""
        everything = self.world.mobiquity.everything()
        per_reference = Counter(b.reference for b in everything)
        twice = [ref for ref, n in per_reference.items() if n > 1]
        assert not twice, f"(1) billpay received twice for {twice}"
        per_bill = Counter(b.bill for b in everything if b.accepted)
        paid_twice = [bill for bill, n in per_bill.items() if n > 1]
        assert not paid_twice, f"(1) bill paid twice: {paid_twice}"
        for billpay in everything:
            payment = payments.get(billpay.reference)
            assert payment is not None, f"(1) billpay {billpay.reference} of no payment"
            state = S(payment.state)
            allowed = MAYBE_SENT_STATES | ({S.FAILED} if not billpay.accepted else set())
            assert state in allowed, (
                f"(1) {billpay.reference} reached Mobiquity "
                f"({'accepted' if billpay.accepted else 'rejected'}) but is {state}"
            )

    def _check_events(self, payments: dict[str, Any], events: dict[int, list[Any]]) -> None:
        """(5): each payment's events form one chain, with its reference id, from creation to
        its state; (4, second half): only a person moves an uncleared payment."""
        for reference, payment in payments.items():
            chain = events.get(payment.id, [])
            assert chain, f"(5) {reference} has no events"
            previous = None
            for event in chain:
                assert event.reference_id == reference, f"(5) {reference}: event of another"
                assert event.from_state == previous, (
                    f"(5) {reference}: chain breaks at {event.from_state} → {event.to_state}"
                    f" after {previous} ({[(e.from_state, e.to_state) for e in chain]})"
                )
                if event.from_state == S.UNCLEARED.value and event.to_state != S.UNCLEARED.value:
                    assert event.actor.startswith("portal:"), (
                        f"(4) {reference} left uncleared by {event.actor}, not a person"
                    )
                previous = event.to_state
            assert previous == payment.state, (
                f"(5) {reference}: events end in {previous}, payment is {payment.state}"
            )

    def _check_bookkeeping(self, payments: dict[str, Any]) -> None:
        """The live-bill key is held exactly while the payment may still pay its bill; the
        request tallies agree with the payments; the breaker opened once per cause."""
        expected: dict[tuple[int, str], list[Any]] = defaultdict(lambda: [0, Decimal("0")])
        for reference, payment in payments.items():
            releasing = S(payment.state) in RELEASING_STATES
            assert (payment.live_bill_key is None) == releasing, (
                f"{reference} is {payment.state} with live key {payment.live_bill_key!r}"
            )
            bucket = expected[(payment.request_id, BUCKET[S(payment.state)])]
            bucket[0] += 1
            bucket[1] += Decimal(payment.total)
        with self.world.checker.connect() as conn:
            tallied = {
                (r.request_id, r.bucket): [int(r.n), Decimal(r.amount)]
                for r in conn.execute(
                    text(
                        "SELECT t.request_id, t.bucket, SUM(t.item_count) AS n,"
                        " SUM(t.amount) AS amount FROM request_tallies t"
                        " JOIN bulk_requests r ON r.id = t.request_id AND r.kind = 'payment'"
                        " GROUP BY t.request_id, t.bucket HAVING n <> 0 OR amount <> 0"
                    )
                )
            }
            opened = conn.execute(
                text(
                    "SELECT JSON_VALUE(details, '$.reference_id') AS ref, COUNT(*) AS n"
                    " FROM audit_log WHERE action = 'wallet_breaker.opened'"
                    " GROUP BY ref HAVING n > 1"
                )
            ).all()
        assert tallied == dict(expected), f"tallies {tallied} ≠ payments {dict(expected)}"
        assert not opened, f"wallet breaker opened more than once for {opened}"

    # ------------------------------------------------------------------ at rest

    def teardown(self) -> None:
        if not self.ready or self.busy:
            return  # not started, or a step failed: its error is the report
        self.busy = True
        self._bring_to_rest()
        self.safety()
        self._check_at_rest()
        self._count()

    def _bring_to_rest(self) -> None:
        """Requests resumed or approved, the breaker closed, every message delivered, every
        enquiry answered truthfully, time advanced and swept until nothing changes."""
        for rounds in range(QUIESCENCE_ROUNDS):
            self._rest_round(self._one_leader())
            if self._at_rest():
                STATS["quiescence rounds"] += rounds + 1
                return
            busy = not self.world.broker.empty() or self.world.mobiquity.in_transit
            self._advance(0.5 if busy else 2.0, schedulers_step=True)
        raise AssertionError(f"(2) not at rest after {QUIESCENCE_ROUNDS} rounds: {self._open()}")

    def _rest_round(self, leader: Scheduler) -> None:
        """One round toward rest: unblock, publish, plan, deliver, apply, sweep — no faults."""
        self._unblock()
        for sched in self.scheds.values():
            self._release(sched, len(sched.pending), "ok")
        leader.dispatcher.active_checked = 0.0
        _, planned = self._write(leader, lambda: leader.dispatcher.plan(horizon=0.2))
        leader.dispatcher.active_checked = math.inf
        leader.pending.extend(command for _, command in planned or [])
        self._release(leader, len(leader.pending), "ok")
        queues = self.world.broker.queues
        for _ in range(1000):
            if not queues["pay"]:
                break
            self._deliver_pay(COMMUNICATORS[0], 0, CALM_PAY, True)
        for _ in range(1000):
            if not queues["enquiry"]:
                break
            self._deliver_enquiry(COMMUNICATORS[0], 0, CALM_ENQUIRY, True)
        if queues["results"]:
            batch, queues["results"] = queues["results"], []
            envelopes = [message.envelope() for message in batch]
            applied, _ = self._write(
                leader,
                lambda: leader.db.write(
                    lambda conn, _token: leader.results.apply_all(conn, envelopes)
                ),
            )
            if not applied:
                queues["results"] = batch + queues["results"]
        self._write(leader, leader.sweeper.sweep)

    def _one_leader(self) -> Scheduler:
        for _ in range(3):
            for sched in self.scheds.values():
                self._lease_step(sched)
            leading = [s for s in self._leading() if not s.lost]
            if leading:
                return leading[0]
            self._advance(LEASE_TTL + 1, schedulers_step=False)
        raise AssertionError("no scheduler takes the lease")

    def _unblock(self) -> None:
        with self.world.checker.connect() as conn:
            states = conn.execute(
                text("SELECT id, state FROM bulk_requests WHERE kind = 'payment'")
            ).all()
            breaker = conn.execute(
                text("SELECT state FROM wallet_breaker WHERE name = 'payer'")
            ).scalar()
        age = timedelta(seconds=self.config.max_bill_age)
        for request_id, state in states:
            if state == "paused":
                operations.resume(self.portal, MAKER, request_id)
                self._wake()
            elif state == "awaiting_approval":
                try:
                    operations.approve(self.portal, CHECKER, request_id, "ok", max_bill_age=age)
                except ServiceError:
                    operations.reject(self.portal, CHECKER, request_id, "stale")
                self._wake()
        if breaker == "open":
            operations.close_wallet_breaker(self.portal, SUPER, "MPIN fixed")

    def _open(self) -> dict[str, Any]:
        with self.world.checker.connect() as conn:
            payments = conn.execute(
                text(
                    "SELECT reference_id, state, attempt, enquiry_count FROM payments"
                    " WHERE state NOT IN ('posted', 'succeeded', 'failed', 'uncleared',"
                    " 'cancelled', 'unsent')"
                )
            ).all()
            requests = conn.execute(
                text(
                    "SELECT id, state FROM bulk_requests"
                    " WHERE state NOT IN ('finished', 'cancelled', 'rejected')"
                )
            ).all()
            breaker = conn.execute(text("SELECT state FROM wallet_breaker")).scalar()
        return {
            "payments": [tuple(p) for p in payments],
            "requests": [tuple(r) for r in requests],
            "breaker": breaker,
            "queues": {k: len(v) for k, v in self.world.broker.queues.items()},
            "pending": {s.name: len(s.pending) for s in self.scheds.values()},
            "in_transit": len(self.world.mobiquity.in_transit),
        }

    def _at_rest(self) -> bool:
        found = self._open()
        return not (
            found["payments"]
            or found["requests"]
            or any(found["queues"].values())
            or any(found["pending"].values())
            or found["in_transit"]
        )

    def _check_at_rest(self) -> None:
        """(2), (3), (4), (6) once nothing moves any more."""
        payments, events = self._read()
        mobiquity = self.world.mobiquity
        believed = self.config.believe_not_found
        not_sent_late = self._not_sent_anomalies()
        posted_sum = Decimal("0")
        accepted_sum = Decimal("0")
        for reference, payment in payments.items():
            state = S(payment.state)
            chain = events[payment.id]
            assert state in FINAL_STATES, f"(2) {reference} stuck in {state}"
            entry = mobiquity.entry(reference)
            # May it have reached Mobiquity, as far as anyone can know? A billpay left, or
            # its communicator died after the claim. (Claimed and then reported not sent, or
            # never claimed at all: it provably never left.)
            fate = self.world.fates.get(reference, [])
            left = bool({"left", "died", "unreported"} & set(fate))
            if not left and reference in not_sent_late:
                # Its sender's not-sent came once the payment was already ambiguous: it must
                # have gone back to the queue (and on), never been kept as a disagreement.
                raise AssertionError(f"(6) {reference}: its late not-sent was not applied")
            if state is S.UNCLEARED:
                continue
            if entry is not None and entry.accepted:
                accepted_sum += entry.amount
                assert entry.amount == Decimal(payment.total), f"(3) {reference}: amount"
            if state in (S.POSTED, S.SUCCEEDED):
                posted_sum += Decimal(payment.total)
                assert entry is not None and entry.accepted, (
                    f"(3) {reference} is {state}, Mobiquity has {entry}"
                )
            elif entry is not None and entry.accepted:
                raise AssertionError(f"(3) {reference} was paid and is {state}")
            if state is S.FAILED:
                failure = payment.failure
                if failure in ("rejected", "enquiry"):
                    assert entry is not None and not entry.accepted, (
                        f"(6) {reference} failed as {failure}, Mobiquity has {entry}"
                    )
                elif failure == "not_found":
                    assert believed and left, (
                        f"(6) {reference} failed on 'not found' (believed: {believed},"
                        f" its billpays: {fate}, events: {[e.cause for e in chain]})"
                    )
                elif failure == "person":
                    assert chain[-1].actor.startswith("portal:"), f"(6) {reference}: actor"
                else:
                    raise AssertionError(f"(6) {reference} failed without a cause ({failure})")
            if not left:
                assert state is not S.FAILED, (
                    f"(6) {reference} never left and is failed ({[e.cause for e in chain]})"
                )
        assert posted_sum == accepted_sum, (
            f"(3) posted + succeeded {posted_sum} ≠ Mobiquity's accepted {accepted_sum}"
        )
        for reference, count in self.world.calls.items():
            assert count <= 1, f"(4) {reference}: {count} billpays"
        with self.world.checker.connect() as conn:
            requests = conn.execute(text("SELECT id, state FROM bulk_requests")).all()
        for request_id, state in requests:
            assert state in {s.value for s in REQUEST_FINAL}, (
                f"(2) request {request_id} stuck in {state}"
            )

    def _not_sent_anomalies(self) -> set[str]:
        with self.world.checker.connect() as conn:
            return set(
                conn.execute(
                    text(
                        "SELECT reference_id FROM payment_anomalies"
                        " WHERE result_kind = 'pay.not_sent'"
                    )
                ).scalars()
            )

    def _count(self) -> None:
        with self.world.checker.connect() as conn:
            for state, n in conn.execute(
                text("SELECT state, COUNT(*) FROM payments GROUP BY state")
            ):
                STATS[f"payments ended {state}"] += n
            for kind, n in conn.execute(
                text("SELECT result_kind, COUNT(*) FROM payment_anomalies GROUP BY result_kind")
            ):
                STATS[f"anomaly kept: {kind}"] += n
            for cause, n in conn.execute(
                text(
                    "SELECT SUBSTRING_INDEX(cause, ' (', 1), COUNT(*) FROM payment_events"
                    " WHERE from_state IS NOT NULL AND from_state <> to_state"
                    " AND to_state <> 'dispatched' GROUP BY 1"
                )
            ):
                STATS[f"event: {cause[:70]}"] += n
        STATS["billpays received"] += len(self.world.mobiquity.landed)


def machine_factory(env: ModelEnv) -> Callable[[], PaymentLifecycle]:
    def make() -> PaymentLifecycle:
        return PaymentLifecycle(env)

    return make


def iter_stats() -> Iterator[tuple[str, int]]:
    yield from sorted(STATS.items())
