"""The world the payment-lifecycle model check runs in: virtual time, a simulated broker and a
Mobiquity ledger double. Everything else — stores, handlers, portal operations — is real.

* :class:`VirtualClock` — one clock for the whole run. Every connection of every engine made
  by :func:`virtual_engine` gets ``SET timestamp = <virtual now>`` when it is checked out, so
  ``UTC_TIMESTAMP(6)`` (every deadline in the code) reads virtual time; the communicator's
  monotonic clock and the client's ``send_by`` clock read it too. Time moves only when the
  model says so: runs are deterministic, replayable and shrinkable.
* :class:`Broker` — queues of serialised envelopes (``command.pay``, ``command.enquiry``,
  results). A message is taken, handled and then acknowledged, kept for redelivery
  (``redelivered=True``), copied (published twice) or lost, as the model draws.
* :class:`Mobiquity` — the ledger: every billpay that reached "Mobiquity", with its bill and
  amount, and those still in transit (they land later). :class:`FakeClient` plays the
  Mobiquity client against it from a drawn script (:class:`PayScript`), checks at each
  billpay that a committed claim of the current attempt allows it (from a connection of its
  own), honours ``send_by`` like the real client, and answers enquiries from the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, event, text

from bbp_common.platform.db import make_engine
from bbp_common.platform.messaging import Envelope, Outgoing, PublishFailed, decode
from bbp_common.platform.settings import DatabaseSettings
from mobiquity_client import (
    Accepted,
    BillPayment,
    EnquiryFailed,
    EnquiryNotFound,
    EnquiryPending,
    EnquirySucceeded,
    EnquiryUnknown,
    MobiquityUnavailable,
    NotSent,
    Rejected,
    Unknown,
)

#: 2030-01-01 00:00:00 UTC, in microseconds: where virtual time starts in every example.
EPOCH_US = 1_893_456_000 * 1_000_000
UNIX = datetime(1970, 1, 1)


class VirtualClock:
    """Virtual time in whole microseconds (no float drift)."""

    def __init__(self) -> None:
        self.us = EPOCH_US

    def reset(self) -> None:
        self.us = EPOCH_US

    def advance(self, seconds: float) -> None:
        self.us += max(0, round(seconds * 1_000_000))

    def now(self) -> datetime:
        return UNIX + timedelta(microseconds=self.us)

    def monotonic(self) -> float:
        """Seconds since the epoch of the run (small numbers: exact enough as floats)."""
        return (self.us - EPOCH_US) / 1_000_000

    def sql(self) -> str:
        return f"{self.us // 1_000_000}.{self.us % 1_000_000:06d}"


def virtual_engine(url: str, clock: VirtualClock) -> Engine:
    """An engine like the services' (UTC, READ COMMITTED), on virtual time.

    Lock waits are cut to 2 s: everything runs in one thread, so a wait can only be the model
    waiting on itself, and it should fail fast.
    """
    engine = make_engine(
        DatabaseSettings(database_url=SecretStr(url)),
        lock_wait_timeout=2,
        pool_pre_ping=False,
        pool_size=2,
        max_overflow=4,
    )

    def set_time(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET timestamp = {clock.sql()}")

    event.listen(engine, "checkout", set_time)
    return engine


# --------------------------------------------------------------------------- the broker


@dataclass
class Message:
    seq: int
    data: bytes
    redelivered: bool = False

    def envelope(self) -> Envelope:
        """As a consumer gets it: decoded and validated against its schema."""
        return decode(self.data)


QUEUE_OF = {
    "command.pay": "pay",
    "command.enquiry": "enquiry",
    "result.pay": "results",
    "result.enquiry": "results",
}


class Broker:
    """Queues of messages; the model decides what is delivered, when, and how often."""

    def __init__(self) -> None:
        self.queues: dict[str, list[Message]] = {"pay": [], "enquiry": [], "results": []}
        self.seq = 0
        self.published = Counter[str]()

    def put(self, envelope: Envelope, routing_key: str) -> None:
        self.seq += 1
        queue = QUEUE_OF[routing_key]
        self.queues[queue].append(Message(self.seq, envelope.to_json()))
        self.published[queue] += 1

    def take(self, queue: str, pick: int) -> Message:
        messages = self.queues[queue]
        return messages.pop(pick % len(messages))

    def back(self, queue: str, message: Message) -> None:
        """Not acknowledged (a crash, a nack): the broker delivers it again later."""
        message.redelivered = True
        self.queues[queue].append(message)

    def copy(self, queue: str, pick: int) -> None:
        """Published twice (a relay or a stale scheduler publishing again)."""
        messages = self.queues[queue]
        original = messages[pick % len(messages)]
        self.seq += 1
        messages.append(Message(self.seq, original.data))

    def empty(self) -> bool:
        return not any(self.queues.values())


class CommandPublisher:
    """The dispatcher's publisher: ``ok``, ``nack`` (nothing left, the dispatcher is told)
    or ``lost_confirm`` (the messages left, yet the dispatcher is told they did not)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.mode = "ok"

    def publish_batch(self, outgoing: list[Outgoing]) -> None:
        mode, self.mode = self.mode, "ok"
        if mode != "nack":
            for message in outgoing:
                self.broker.put(message.envelope, message.routing_key)
        if mode != "ok":
            raise PublishFailed({m.envelope.message_id: mode for m in outgoing})


class ResultPublisher:
    """A communicator's publisher of results, with the same three modes."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.mode = "ok"

    def publish(self, message: Outgoing, *, timeout: float | None = None) -> None:
        mode, self.mode = self.mode, "ok"
        if mode != "nack":
            self.broker.put(message.envelope, message.routing_key)
        if mode != "ok":
            raise PublishFailed({message.envelope.message_id: mode})


# --------------------------------------------------------------------------- Mobiquity


@dataclass
class Billpay:
    """One billpay request that reached (or is on its way to) Mobiquity."""

    reference: str
    bill: tuple[str, str, str]
    amount: Decimal
    accepted: bool
    lands_at_us: int
    communicator: str


class Mobiquity:
    """The ledger double: what Mobiquity received, and what is still on its way."""

    def __init__(self) -> None:
        self.landed: list[Billpay] = []
        self.in_transit: list[Billpay] = []

    def land(self, now_us: int) -> None:
        arrived = [b for b in self.in_transit if b.lands_at_us <= now_us]
        self.in_transit = [b for b in self.in_transit if b.lands_at_us > now_us]
        self.landed.extend(arrived)

    def everything(self) -> list[Billpay]:
        return self.landed + self.in_transit

    def entry(self, reference: str) -> Billpay | None:
        for billpay in self.landed:
            if billpay.reference == reference:
                return billpay
        return None

    def eventually(self, reference: str) -> Billpay | None:
        """What Mobiquity's reports will show once everything landed (a person's view)."""
        for billpay in self.everything():
            if billpay.reference == reference:
                return billpay
        return None


class Crash(BaseException):
    """The communicator's process dies here: nothing after this point runs, nothing is acked.

    A ``BaseException`` so that the handlers' ``except Exception`` safety nets do not turn it
    into an answer: a dead process answers nothing.
    """


PAY_OUTCOMES = (
    "accepted",
    "rejected",
    "rejected_wallet",
    "not_sent",
    "unknown_received",
    "unknown_lost",
    "unknown_late",
    "crash_before",
    "crash_after",
)


@dataclass(frozen=True)
class PayScript:
    """What happens to one pay command in the communicator and on the way to Mobiquity."""

    token_ok: bool = True
    delay: float = 0.0  # before the billpay leaves (a slow connect): may pass send-by
    outcome: str = "accepted"
    received_accepted: bool = True  # what Mobiquity did with a billpay whose answer was lost
    answer_delay: float = 0.0  # how long the answer took after the billpay left
    land_delay: float = 1.0  # "unknown_late": when the billpay reaches Mobiquity
    publish: str = "ok"  # the result's publish: ok | nack | lost_confirm
    #: What the scheduler does between the claim's commit and the billpay: nothing, a sweep,
    #: or applying the results waiting in the broker.
    meanwhile: str = "nothing"


@dataclass(frozen=True)
class EnquiryScript:
    answer: str = "truth"  # truth | unknown | crash
    pending: bool = False  # an accepted billpay is reported PENDING rather than SUCCEEDED
    publish: str = "ok"


CALM_PAY = PayScript()
CALM_ENQUIRY = EnquiryScript()


@dataclass
class SendCheck:
    """What invariant (0) needs to know about the command being handled."""

    attempt: int
    communicator: str


class FakeClient:
    """The Mobiquity client of one communicator, played against the ledger.

    ``pay_bill`` honours ``send_by`` on the virtual monotonic clock, exactly like the real
    client (``NotSent`` kind ``send_by``), and checks invariant (0) before anything leaves.
    """

    def __init__(self, world: World, name: str, *, token_first: bool) -> None:
        self.world = world
        self.name = name
        self.token_first = token_first
        self.pay_script = CALM_PAY
        self.enquiry_script = CALM_ENQUIRY
        self.sending: SendCheck | None = None

    def system_token(self) -> str:
        if not self.pay_script.token_ok:
            raise MobiquityUnavailable(
                "token endpoint unavailable", kind="connect_timeout", never_sent=True
            )
        return "token"

    def pay_bill(self, payment: BillPayment, *, send_by: float | None = None) -> Any:
        script, world = self.pay_script, self.world
        reference = payment.reference
        fate = world.fates.setdefault(reference, [])
        if not self.token_first:
            try:
                self.system_token()
            except MobiquityUnavailable as exc:
                fate.append("not sent")
                return NotSent(reference, "token", f"no system token: {exc}", 0.0)
        world.advance(script.delay)
        if script.meanwhile != "nothing" and world.meanwhile is not None:
            world.meanwhile(script.meanwhile)
        if send_by is not None and world.clock.monotonic() >= send_by:
            fate.append("not sent")
            return NotSent(reference, "send_by", "the send-by moment passed before sending", 0.0)
        world.check_send(payment, self.sending)
        outcome = script.outcome
        if outcome == "crash_before":
            fate.append("died")  # nothing left, but nobody can tell: it may have
            raise Crash("communicator died after its claim, before the billpay left")
        if outcome == "not_sent":
            fate.append("not sent")
            return NotSent(reference, "connection_refused", "connection refused", 0.01)
        fate.append("left")  # from here on the billpay may have reached Mobiquity
        world.calls[reference] += 1
        bill = (payment.biller_code, payment.consumer_id, payment.bill_number)
        now = world.clock.us

        def receive(accepted: bool, delay: float = 0.0) -> None:
            billpay = Billpay(
                reference, bill, payment.amount, accepted, now + round(delay * 1e6), self.name
            )
            if delay > 0:
                world.mobiquity.in_transit.append(billpay)
            else:
                world.mobiquity.landed.append(billpay)

        if outcome == "accepted":
            receive(True)
        elif outcome in ("rejected", "rejected_wallet"):
            receive(False)
        elif outcome in ("unknown_received", "crash_after"):
            receive(script.received_accepted)
        elif outcome == "unknown_late":
            receive(script.received_accepted, script.land_delay)
        if outcome == "crash_after":
            raise Crash("communicator died while the billpay was out")
        world.advance(script.answer_delay)
        order_id = f"OID{reference}"
        if outcome == "accepted":
            return Accepted(
                reference, order_id, "SUCCEEDED", "process.fulfilment", f"SR{reference}", 200, 0.1
            )
        if outcome == "rejected":
            return Rejected(
                reference, 200, "BILL07", ("BP404",), "Bill not payable", order_id, "FAILED",
                None, f"SR{reference}", "documented FAILED answer", 0.1,
            )  # fmt: skip
        if outcome == "rejected_wallet":
            return Rejected(
                reference, 200, "Authen01", ("AUTH03",), "Invalid PIN", order_id, "FAILED",
                None, f"SR{reference}", "documented FAILED answer", 0.1,
            )  # fmt: skip
        kind = "read_timeout" if outcome != "unknown_lost" else "connection_reset"
        return Unknown(reference, kind, "no answer", None, 2.0)

    def enquire_payment(self, reference: str) -> Any:
        script = self.enquiry_script
        if script.answer == "crash":
            raise Crash("communicator died during an enquiry")
        if script.answer == "unknown":
            return EnquiryUnknown(reference, "read_timeout", "no answer")
        entry = self.world.mobiquity.entry(reference)
        if entry is None:
            return EnquiryNotFound(reference, "TXN404")
        order_id = f"OID{reference}"
        if not entry.accepted:
            return EnquiryFailed(reference, order_id, "FAILED", "BILL07", "Bill not payable")
        if script.pending:
            return EnquiryPending(reference, order_id, "PENDING")
        return EnquirySucceeded(reference, order_id, "SUCCEEDED")

    def fetch_pending_bills(self, *_: Any) -> Any:  # pragma: no cover - no fetches here
        raise AssertionError("the payment model makes no fetch requests")


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """What the rules share: the clock, the broker, the ledger and the checker's engine."""

    clock: VirtualClock
    checker: Engine
    broker: Broker = field(default_factory=Broker)
    mobiquity: Mobiquity = field(default_factory=Mobiquity)
    #: Violations seen where raising would be swallowed (inside a handler): the invariants
    #: raise them after the step.
    violations: list[str] = field(default_factory=list)
    #: billpays that may have reached Mobiquity, per reference id.
    calls: Counter[str] = field(default_factory=Counter)
    #: What became of each pay_bill call, per reference id: "not sent" (provably: NotSent),
    #: "died" (the communicator died after its claim: nobody can tell), "left", and
    #: "unreported" when the proof of a "not sent" was lost (its result not published, or
    #: dead-lettered): then nobody can tell either.
    fates: dict[str, list[str]] = field(default_factory=dict)
    on_advance: Callable[[], None] | None = None
    #: Runs the scheduler's work "meanwhile" (while a communicator is between its claim and
    #: its billpay).
    meanwhile: Callable[[str], None] | None = None

    def advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.clock.advance(seconds)
        self.mobiquity.land(self.clock.us)
        if self.on_advance is not None:
            self.on_advance()

    def check_send(self, payment: BillPayment, sending: SendCheck | None) -> None:
        """Invariant (0), from a connection of its own: a billpay leaves only for a committed
        claim of the payment's current attempt, by this communicator, before its send-by."""
        with self.checker.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT state, attempt, sent_by, total,"
                    " send_by_at > UTC_TIMESTAMP(6) AS in_time FROM payments"
                    " WHERE reference_id = :ref"
                ),
                {"ref": payment.reference},
            ).first()
        where = f"billpay {payment.reference}"
        if row is None:
            self.violations.append(f"(0) {where}: no such payment")
            return
        if sending is None:
            self.violations.append(f"(0) {where}: sent outside a pay command")
            return
        if row.state != "sending":
            self.violations.append(f"(0) {where}: payment is {row.state}, not sending")
        if row.attempt != sending.attempt:
            self.violations.append(
                f"(0) {where}: claim is of attempt {row.attempt}, command of {sending.attempt}"
            )
        if row.sent_by != sending.communicator:
            self.violations.append(f"(0) {where}: claimed by {row.sent_by}, sent by another")
        if not row.in_time:
            self.violations.append(f"(0) {where}: sent at or after its send_by_at")
        if Decimal(row.total) != payment.amount:
            self.violations.append(f"(0) {where}: amount {payment.amount} ≠ {row.total}")
