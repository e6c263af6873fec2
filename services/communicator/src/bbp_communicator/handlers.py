"""What the communicator does with each command: call Mobiquity once, report the result.

The communicator keeps no state of its own. For payments it claims each one in MySQL
before sending (``bbp_common.core.stores.claims.claim``), so a command that arrives twice —
redelivered or not, from a relay that published again or a stale scheduler — is sent at
most once.
Amounts and wallets come from MySQL after the claim, never from the message.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine
from structlog.contextvars import bound_contextvars

from bbp_common.core.domain.payments import EnquiryOutcome, PayOutcome, is_wallet_auth_failure
from bbp_common.core.messages import (
    ENQUIRY_NOT_SENT,
    ENQUIRY_RESULT,
    ENQUIRY_RESULTS,
    FETCH_RESULT,
    FETCH_RESULTS,
    PAY_RESULT,
    PAY_RESULTS,
    MessageKind,
)
from bbp_common.core.stores import PaymentStore, WalletBreaker
from bbp_common.core.stores.claims import ClaimRequest, ClaimResult, PayOrder, claim
from bbp_common.platform.db.clock import DbClock
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import EXCHANGE, Envelope, Outgoing, PublishFailed, Retry, build
from bbp_common.platform.messaging.consumer import LOGGED_IDS
from bbp_communicator.calls import CallPool
from bbp_communicator.outcomes import bill_body, enquiry_result_fields, pay_result_fields
from mobiquity_client import (
    Accepted,
    BillPayment,
    ClientCredentialsRejected,
    MobiquityClient,
    MobiquityError,
    Rejected,
    RequestRefused,
    TokenRejected,
)

log = get_logger(__name__)


class Publisher:
    """What the handlers need to report a result (the real one publishes with confirms)."""

    def publish(self, message: Outgoing, *, timeout: float | None = None) -> None: ...


@dataclass
class Metrics:
    results: Counter

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None) -> Metrics:
        kwargs: dict[str, Any] = {"registry": registry} if registry is not None else {}
        return cls(
            results=Counter(
                "bbp_communicator_results_total",
                "Results reported, by command and outcome",
                ["command", "outcome"],
                **kwargs,
            )
        )


@dataclass
class Communicator:
    """The command handlers, with their ports.

    ``clock`` is the database's clock as this process sees it (an offset measured at start
    and every minute): command expiries are judged on it, never on this machine's clock.
    ``send_window`` is how long after its claim a payment may still be sent; ``answer_window``
    the client's connect + read timeouts: the claim writes both deadlines on the row.
    """

    engine: Engine
    client: MobiquityClient
    publisher: Publisher
    name: str
    publish_timeout: float = 60.0
    metrics: Metrics | None = None
    clock: DbClock | None = None
    send_window: float = 5.0
    answer_window: float = 18.0
    token_first: bool = True
    #: When (monotonic) this process last saw a wallet-authentication failure: payments it
    #: claimed before then and has not sent yet are reported not sent instead (uncounted).
    wallet_refused_at: float | None = None
    #: Where the commands of a batch run, each at its slot (made by bootstrap, or lazily).
    calls: CallPool | None = None
    #: Monotonic clock (the model check moves a virtual one).
    monotonic: Callable[[], float] = time.monotonic
    #: Called in the transaction that opened the wallet breaker (notifications hook).
    on_breaker_opened: Any = None

    def db_now(self) -> Any:
        if self.clock is None:
            self.clock = DbClock(self.engine)
        return self.clock.now()

    # ------------------------------------------------------------------ reporting

    def report(self, kind: MessageKind, body: Mapping[str, Any], correlation_id: str) -> None:
        """Publish a result, retrying while the broker is away, for ``publish_timeout`` at most.

        If it still cannot be published the command goes back to the queue (``Retry``): for a
        payment the redelivery finds it ``sending`` and reports it for enquiry, never resends.
        """
        envelope = build(kind.type, body, version=kind.version, correlation_id=correlation_id)
        outcomes = (
            [i.get("outcome") for i in body["items"]] if "items" in body else [body.get("outcome")]
        )
        message = Outgoing(EXCHANGE, kind.routing_key, envelope)
        deadline = time.monotonic() + self.publish_timeout
        delay = 0.2
        while True:
            try:
                self.publisher.publish(message, timeout=min(15.0, self.publish_timeout))
                if self.metrics:
                    for outcome in outcomes:
                        self.metrics.results.labels(kind.type, str(outcome)).inc()
                return
            except PublishFailed as exc:
                if time.monotonic() + delay > deadline:
                    log.error("result_not_published", type=kind.type, error=str(exc))
                    raise Retry(f"could not publish {kind.type}") from exc
                log.warning("result_publish_retry", type=kind.type, error=str(exc))
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------------ dispatching

    def _pool(self) -> CallPool:
        if self.calls is None:
            if self.clock is None:
                self.clock = DbClock(self.engine)
            self.calls = CallPool(8, self.clock, "calls")
        return self.calls

    def _run(self, message: Envelope, call: Any) -> list[Any]:
        """The command(s) of a message through ``call`` (a batch concurrently, each at its
        slot; a version-1 message is one command sent at once)."""
        if message.version >= 2:
            return self._pool().map(
                [(contextvars.copy_context(), item) for item in message.body["items"]],
                lambda job: job[0].run(self._with_ids, job[1], job[1], call),
            )
        return [call(message.body)]

    @staticmethod
    def _with_ids(ids_from: Mapping[str, Any], item: Any, call: Any) -> Any:
        """Run one command of a batch, in a copy of the consumer's context (its correlation
        id), with the command's own ids on every log line, as the consumer binds them for a
        single command."""
        ids = {k: ids_from[k] for k in LOGGED_IDS if k in ids_from}
        with bound_contextvars(**ids):
            return call(item)

    def _report_all(
        self, message: Envelope, single: MessageKind, batch: MessageKind, results: list[Any]
    ) -> None:
        found = [r for r in results if r is not None]
        if not found:
            return
        if message.version >= 2:
            self.report(batch, {"items": found}, message.correlation_id)
        else:
            for result in found:
                self.report(single, result, message.correlation_id)

    # ------------------------------------------------------------------ fetch

    def handle_fetch(self, message: Envelope, redelivered: bool) -> None:
        results = self._run(message, self._fetch_one)
        self._report_all(message, FETCH_RESULT, FETCH_RESULTS, results)

    def _fetch_one(self, cmd: Mapping[str, Any]) -> dict[str, Any]:
        base = {
            "item_id": cmd["item_id"],
            "request_id": cmd["request_id"],
            "attempt": cmd["attempt"],
        }
        if cmd["expires_at"] < self.db_now():
            # Late (a backlog after an outage): the scheduler re-dispatches it through its pace.
            return {**base, "outcome": "expired", "retryable": True}
        if self.calls is not None:
            self.calls.wait_for(cmd.get("not_before"))
        try:
            found = self.client.fetch_pending_bills(
                cmd["utility"], cmd["consumer_id"], cmd["mobile"]
            )
        except (TokenRejected, ClientCredentialsRejected) as exc:
            return self._fetch_failure(base, exc, retryable=True)
        except RequestRefused as exc:
            # Mobiquity answered and refused (consumer id missing, utility not applicable…).
            return self._fetch_failure(base, exc, retryable=False)
        except MobiquityError as exc:
            # No usable answer (unavailable, unexpected shape): try again through the pace.
            return self._fetch_failure(base, exc, retryable=True)
        # The client's own call line says what came back: no second line per item.
        return {
            **base,
            "outcome": "bills" if found else "no_bills",
            "bills": [bill_body(bill) for bill in found],
        }

    @staticmethod
    def _fetch_failure(
        base: dict[str, Any], exc: MobiquityError, *, retryable: bool
    ) -> dict[str, Any]:
        code = exc.error_code or (str(exc.code) if exc.code else None) or type(exc).__name__
        return {
            **base,
            "outcome": "failed",
            "retryable": retryable,
            "error_code": str(code)[:64],
            "error_message": (exc.user_message or str(exc))[:500],
            "service_request_id": exc.service_request_id,
        }

    # ------------------------------------------------------------------ pay

    def handle_pay(self, message: Envelope, redelivered: bool) -> None:
        """Claim, then send each at once (at its slot) or not at all.

        The system token is in hand *before* the claim (fetching one can take seconds): a
        claimed payment never waits for it. A batch is claimed in one transaction; the
        send-by moment is measured from a local monotonic reading taken before the claim, so
        it errs early: no billpay leaves after the ``send_by_at`` the claim wrote on the
        database's clock.
        """
        commands = message.body["items"] if message.version >= 2 else [message.body]
        bases = [
            {
                "payment_id": cmd["payment_id"],
                "request_id": cmd["request_id"],
                "attempt": cmd["attempt"],
                "reference_id": cmd["reference_id"],
            }
            for cmd in commands
        ]
        if self.token_first:
            try:
                self.client.system_token()
            except MobiquityError as exc:
                unclaimable = self._unclaimable(bases, f"no system token ({type(exc).__name__})")
                self._report_all(message, PAY_RESULT, PAY_RESULTS, unclaimable)
                return
        started = self.monotonic()
        with self.engine.begin() as conn:
            store = PaymentStore(conn, actor=self.name)
            breaker = WalletBreaker(conn, actor=self.name, on_opened=self.on_breaker_opened)
            found = claim(
                store,
                breaker,
                [ClaimRequest(c["payment_id"], c["attempt"], redelivered) for c in commands],
                send_window=self.send_window,
                answer_window=self.answer_window,
            )
        # Committed: a claimed payment is `sending` and this replica alone may send it.
        send_by = started + self.send_window
        outcome = {c.payment_id: c for c in found}
        results: list[Any] = []
        to_send: list[tuple[Mapping[str, Any], dict[str, Any], Any]] = []
        for cmd, base in zip(commands, bases, strict=True):
            claimed = outcome[cmd["payment_id"]]
            (log.debug if claimed.result is ClaimResult.CLAIMED else log.info)(
                "pay_claim",
                payment_id=base["payment_id"],
                reference_id=base["reference_id"],
                attempt=base["attempt"],
                claim=claimed.result.value,
                redelivered=redelivered,
            )
            if claimed.result is ClaimResult.SENDER_DIED:
                # Its sender died mid-call: it may have been processed, so it is only enquired.
                results.append(
                    {
                        **base,
                        "outcome": PayOutcome.SENDER_DIED.value,
                        "reason": "command redelivered while sending",
                    }
                )
            elif claimed.result is ClaimResult.EXPIRED:
                # Never claimed, and now it never can be: it provably never left.
                results.append(
                    {
                        **base,
                        "outcome": PayOutcome.UNCLAIMED.value,
                        "reason": "its claim deadline passed before it was claimed",
                    }
                )
            elif claimed.result is ClaimResult.CLAIMED:
                to_send.append((cmd, base, claimed))
            # duplicate, superseded, or refused by the breaker (already back in the queue)

        def send(item: tuple[Mapping[str, Any], dict[str, Any], Any]) -> dict[str, Any]:
            cmd, base, claimed = item
            if self.calls is not None:
                self.calls.wait_for(cmd.get("not_before"))
            return self._send(
                base, claimed.order, claimed_at=started, send_by=send_by, probing=claimed.probing
            )

        if to_send:
            if message.version >= 2:
                results += self._pool().map(
                    [(contextvars.copy_context(), item) for item in to_send],
                    lambda job: job[0].run(self._with_ids, job[1][1], job[1], send),
                )
            else:
                results.append(send(to_send[0]))
        self._report_all(message, PAY_RESULT, PAY_RESULTS, results)

    def _unclaimable(self, bases: list[dict[str, Any]], why: str) -> list[dict[str, Any]]:
        """This replica cannot act on these pay commands: make them unclaimable, report."""
        with self.engine.begin() as conn:
            store = PaymentStore(conn, actor=self.name)
            voided = [
                base
                for base in bases
                if store.void_dispatch(base["payment_id"], base["attempt"], f"not claimed: {why}")
                is not None
            ]
        log.warning("pay_not_claimed", payments=len(bases), why=why)
        return [
            {**base, "outcome": PayOutcome.UNCLAIMED.value, "reason": why[:255]} for base in voided
        ]

    def _send(
        self,
        base: dict[str, Any],
        order: PayOrder,
        *,
        claimed_at: float,
        send_by: float,
        probing: bool,
    ) -> dict[str, Any]:
        try:
            if not (order.biller_code and order.receiver_wallet and order.product_id):
                raise ValueError(f"biller of {order.reference_id} is not in the catalogue")
            payment = BillPayment(
                reference=order.reference_id,
                biller_code=order.biller_code,
                consumer_id=order.consumer_id,
                bill_number=order.bill_number,
                amount=Decimal(order.total),
                receiver_wallet=order.receiver_wallet,
                receiver_product_id=order.product_id,
                biller_name=order.biller_name,
            )
        except Exception as exc:  # never reached Mobiquity: provably not sent
            log.error("pay_not_built", payment_id=order.payment_id, error=str(exc))
            return {
                **base,
                "outcome": PayOutcome.UNBUILDABLE.value,
                "reason": f"payment could not be built: {exc}"[:255],
            }
        refused_at = self.wallet_refused_at
        if refused_at is not None and refused_at >= claimed_at:
            # The wallet's MPIN was refused since this payment was claimed: do not send it
            # with the same wallet; it goes back to the queue (not its fault).
            return {
                **base,
                "outcome": PayOutcome.NOT_SENT.value,
                "counted": False,
                "reason": "not sent: the paying wallet was refused meanwhile",
            }
        try:
            outcome = self.client.pay_bill(payment, send_by=send_by)
        except Exception as exc:  # a bug after the claim: the call may have left; enquire
            log.exception("pay_bill_raised", payment_id=order.payment_id)
            return {
                **base,
                "outcome": PayOutcome.UNKNOWN.value,
                "reason": f"client error: {type(exc).__name__}",
            }
        self._mind_the_wallet(outcome, order.reference_id, probing=probing)
        return {**base, **pay_result_fields(outcome)}

    def _mind_the_wallet(self, outcome: Any, reference_id: str, *, probing: bool) -> None:
        """Stop before harm: a wallet-authentication failure opens the breaker at once; while
        probing, any other answer from the order service proves the wallet authenticates."""
        if isinstance(outcome, Rejected):
            detail = outcome.error_codes[0] if outcome.error_codes else None
            if is_wallet_auth_failure(outcome.error_code, detail):
                self.wallet_refused_at = self.monotonic()
                with self.engine.begin() as conn:
                    breaker = WalletBreaker(conn, actor=self.name, on_opened=self.on_breaker_opened)
                    if breaker.open(
                        cause=f"wallet authentication failed ({outcome.error_code}/{detail})",
                        reference_id=reference_id,
                        details={"error_code": outcome.error_code, "detail_code": detail},
                    ):
                        log.error("wallet_breaker_opened", reference_id=reference_id)
                return
            if outcome.http_status in (401, 403):
                return  # our token was refused: says nothing about the wallet
        if probing and isinstance(outcome, Accepted | Rejected):
            with self.engine.begin() as conn:
                if WalletBreaker(conn, actor=self.name).confirm(reference_id=reference_id):
                    log.info("wallet_confirmed", reference_id=reference_id)

    # ------------------------------------------------------------------ enquiry

    def handle_enquiry(self, message: Envelope, redelivered: bool) -> None:
        results = self._run(message, self._enquire_one)
        self._report_all(message, ENQUIRY_RESULT, ENQUIRY_RESULTS, results)

    def _enquire_one(self, cmd: Mapping[str, Any]) -> dict[str, Any]:
        base = {
            "payment_id": cmd["payment_id"],
            "reference_id": cmd["reference_id"],
            "enquiry_number": cmd["enquiry_number"],
        }
        if cmd["expires_at"] < self.db_now():
            return {**base, "outcome": EnquiryOutcome.UNKNOWN.value, "reason": ENQUIRY_NOT_SENT}
        if self.calls is not None:
            self.calls.wait_for(cmd.get("not_before"))
        answer = self.client.enquire_payment(cmd["reference_id"])
        return {**base, **enquiry_result_fields(answer)}
