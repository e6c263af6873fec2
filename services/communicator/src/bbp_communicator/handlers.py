"""What the communicator does with each command: call Mobiquity once, report the result.

The communicator keeps no state of its own. For payments it claims each one in MySQL
before sending (``bbp_common.stores.claims.claim``), so a command that arrives twice —
redelivered or not, from a relay that published again or a stale scheduler — is sent at
most once.
Amounts and wallets come from MySQL after the claim, never from the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from bbp_common.db.clock import DbClock
from bbp_common.domain.payments import EnquiryOutcome, PayOutcome, is_wallet_auth_failure
from bbp_common.logging import get_logger
from bbp_common.messages import (
    ENQUIRY_NOT_SENT,
    ENQUIRY_RESULT,
    FETCH_RESULT,
    PAY_RESULT,
    MessageKind,
)
from bbp_common.messaging import EXCHANGE, Envelope, Outgoing, PublishFailed, Retry, build
from bbp_common.stores import PaymentStore, WalletBreaker
from bbp_common.stores.claims import ClaimRequest, ClaimResult, PayOrder, claim
from mobiquity_client import (
    Accepted,
    BillPayment,
    ClientCredentialsRejected,
    EnquiryFailed,
    EnquiryNotFound,
    EnquiryPending,
    EnquirySucceeded,
    MobiquityClient,
    MobiquityError,
    NotSent,
    PendingBill,
    Rejected,
    RequestRefused,
    TokenRejected,
    Unknown,
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
    ``monotonic`` is the clock the send-by moment and a wallet refusal are measured on; it
    must be the client's own (``MobiquityClient(clock=…)``, which judges ``send_by``). The
    model check (``tests/integration/model``) passes a virtual one to both.
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
    monotonic: Callable[[], float] = time.monotonic
    #: When (monotonic) this process last saw a wallet-authentication failure: payments it
    #: claimed before then and has not sent yet are reported not sent instead (uncounted).
    wallet_refused_at: float | None = None

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
        message = Outgoing(EXCHANGE, kind.routing_key, envelope)
        deadline = time.monotonic() + self.publish_timeout
        delay = 0.2
        while True:
            try:
                self.publisher.publish(message, timeout=min(15.0, self.publish_timeout))
                if self.metrics:
                    self.metrics.results.labels(kind.type, str(body.get("outcome"))).inc()
                return
            except PublishFailed as exc:
                if time.monotonic() + delay > deadline:
                    log.error("result_not_published", type=kind.type, error=str(exc))
                    raise Retry(f"could not publish {kind.type}") from exc
                log.warning("result_publish_retry", type=kind.type, error=str(exc))
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------------ fetch

    def handle_fetch(self, message: Envelope, redelivered: bool) -> None:
        cmd = message.body
        base = {
            "item_id": cmd["item_id"],
            "request_id": cmd["request_id"],
            "attempt": cmd["attempt"],
        }
        if cmd["expires_at"] < self.db_now():
            # Late (a backlog after an outage): the scheduler re-dispatches it through its pace.
            self.report(
                FETCH_RESULT,
                {**base, "outcome": "expired", "retryable": True},
                message.correlation_id,
            )
            return
        try:
            found = self.client.fetch_pending_bills(
                cmd["utility"], cmd["consumer_id"], cmd["mobile"]
            )
        except (TokenRejected, ClientCredentialsRejected) as exc:
            result = self._fetch_failure(base, exc, retryable=True)
        except RequestRefused as exc:
            # Mobiquity answered and refused (consumer id missing, utility not applicable…).
            result = self._fetch_failure(base, exc, retryable=False)
        except MobiquityError as exc:
            # No usable answer (unavailable, unexpected shape): try again through the pace.
            result = self._fetch_failure(base, exc, retryable=True)
        else:
            result = {
                **base,
                "outcome": "bills" if found else "no_bills",
                "bills": [_bill_body(bill) for bill in found],
            }
        log.info(
            "fetch_done",
            item_id=cmd["item_id"],
            request_id=cmd["request_id"],
            outcome=result["outcome"],
            bills=len(result.get("bills", [])),
        )
        self.report(FETCH_RESULT, result, message.correlation_id)

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
        """Claim, then send at once or not at all.

        The system token is in hand *before* the claim (fetching one can take seconds): a
        claimed payment never waits for it. The send-by moment is measured from a local
        monotonic reading taken before the claim, so it errs early: the billpay never leaves
        after the ``send_by_at`` the claim wrote on the database's clock.
        """
        cmd = message.body
        payment_id, attempt = cmd["payment_id"], cmd["attempt"]
        base = {
            "payment_id": payment_id,
            "request_id": cmd["request_id"],
            "attempt": attempt,
            "reference_id": cmd["reference_id"],
        }
        if self.token_first:
            try:
                self.client.system_token()
            except MobiquityError as exc:
                self._unclaimable(message, base, f"no system token ({type(exc).__name__})")
                return
        started = self.monotonic()
        with self.engine.begin() as conn:
            store = PaymentStore(conn, actor=self.name)
            breaker = WalletBreaker(conn, actor=self.name)
            found = claim(
                store,
                breaker,
                [ClaimRequest(payment_id, attempt, redelivered)],
                send_window=self.send_window,
                answer_window=self.answer_window,
            )[0]
        # Committed: a claimed payment is `sending` and this replica alone may send it.
        send_by = started + self.send_window
        (log.debug if found.result is ClaimResult.CLAIMED else log.info)(
            "pay_claim",
            payment_id=payment_id,
            reference_id=cmd["reference_id"],
            attempt=attempt,
            claim=found.result.value,
            redelivered=redelivered,
        )
        if found.result is ClaimResult.SENDER_DIED:
            # Its sender died mid-call: it may have been processed, so it is only enquired.
            self.report(
                PAY_RESULT,
                {
                    **base,
                    "outcome": PayOutcome.SENDER_DIED.value,
                    "reason": "command redelivered while sending",
                },
                message.correlation_id,
            )
            return
        if found.result is ClaimResult.EXPIRED:
            # Never claimed, and now it never can be: it provably never left.
            self.report(
                PAY_RESULT,
                {
                    **base,
                    "outcome": PayOutcome.UNCLAIMED.value,
                    "reason": "its claim deadline passed before it was claimed",
                },
                message.correlation_id,
            )
            return
        if found.result is not ClaimResult.CLAIMED:
            return  # duplicate, superseded, or refused by the breaker (already back in queue)
        assert found.order is not None
        self._send(
            message, base, found.order, claimed_at=started, send_by=send_by, probing=found.probing
        )

    def _unclaimable(self, message: Envelope, base: dict[str, Any], why: str) -> None:
        """This replica cannot act on a pay command: make it unclaimable, report it."""
        with self.engine.begin() as conn:
            voided = PaymentStore(conn, actor=self.name).void_dispatch(
                base["payment_id"], base["attempt"], f"not claimed: {why}"
            )
        log.warning("pay_not_claimed", reference_id=base["reference_id"], why=why)
        if voided is not None:
            self.report(
                PAY_RESULT,
                {**base, "outcome": PayOutcome.UNCLAIMED.value, "reason": why[:255]},
                message.correlation_id,
            )

    def _send(
        self,
        message: Envelope,
        base: dict[str, Any],
        order: PayOrder,
        *,
        claimed_at: float,
        send_by: float,
        probing: bool,
    ) -> None:
        try:
            payment = BillPayment(
                reference=order.reference_id,
                biller_code=order.biller_code or "",
                consumer_id=order.consumer_id,
                bill_number=order.bill_number,
                amount=Decimal(order.total),
                receiver_wallet=order.receiver_wallet or "",
                receiver_product_id=order.product_id,  # type: ignore[arg-type]
                biller_name=order.biller_name,
            )
            if not (order.biller_code and order.receiver_wallet and order.product_id):
                raise ValueError(f"biller of {order.reference_id} is not in the catalogue")
        except Exception as exc:  # never reached Mobiquity: provably not sent
            log.error("pay_not_built", payment_id=order.payment_id, error=str(exc))
            self.report(
                PAY_RESULT,
                {
                    **base,
                    "outcome": PayOutcome.UNBUILDABLE.value,
                    "reason": f"payment could not be built: {exc}"[:255],
                },
                message.correlation_id,
            )
            return
        refused_at = self.wallet_refused_at
        if refused_at is not None and refused_at >= claimed_at:
            # The wallet's MPIN was refused since this payment was claimed: do not send it
            # with the same wallet; it goes back to the queue (not its fault).
            self.report(
                PAY_RESULT,
                {
                    **base,
                    "outcome": PayOutcome.NOT_SENT.value,
                    "counted": False,
                    "reason": "not sent: the paying wallet was refused meanwhile",
                },
                message.correlation_id,
            )
            return
        try:
            outcome = self.client.pay_bill(payment, send_by=send_by)
        except Exception as exc:  # a bug after the claim: the call may have left; enquire
            log.exception("pay_bill_raised", payment_id=order.payment_id)
            self.report(
                PAY_RESULT,
                {
                    **base,
                    "outcome": PayOutcome.UNKNOWN.value,
                    "reason": f"client error: {type(exc).__name__}",
                },
                message.correlation_id,
            )
            return
        result = {**base, **_pay_result_fields(outcome)}
        self._mind_the_wallet(outcome, order.reference_id, probing=probing)
        log.debug(  # the client logs the call itself: reference, order id, serviceRequestId
            "pay_done",
            payment_id=order.payment_id,
            reference_id=order.reference_id,
            outcome=result["outcome"],
        )
        self.report(PAY_RESULT, result, message.correlation_id)

    def _mind_the_wallet(self, outcome: Any, reference_id: str, *, probing: bool) -> None:
        """Stop before harm: a wallet-authentication failure opens the breaker at once; while
        probing, any other answer from the order service proves the wallet authenticates."""
        if isinstance(outcome, Rejected):
            detail = outcome.error_codes[0] if outcome.error_codes else None
            if is_wallet_auth_failure(outcome.error_code, detail):
                self.wallet_refused_at = self.monotonic()
                with self.engine.begin() as conn:
                    if WalletBreaker(conn, actor=self.name).open(
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
        cmd = message.body
        base = {
            "payment_id": cmd["payment_id"],
            "reference_id": cmd["reference_id"],
            "enquiry_number": cmd["enquiry_number"],
        }
        if cmd["expires_at"] < self.db_now():
            self.report(
                ENQUIRY_RESULT,
                {
                    **base,
                    "outcome": EnquiryOutcome.UNKNOWN.value,
                    "reason": ENQUIRY_NOT_SENT,
                },
                message.correlation_id,
            )
            return
        answer = self.client.enquire_payment(cmd["reference_id"])
        result = {**base, **_enquiry_result_fields(answer)}
        log.info(
            "enquiry_done",
            payment_id=cmd["payment_id"],
            reference_id=cmd["reference_id"],
            enquiry_number=cmd["enquiry_number"],
            outcome=result["outcome"],
        )
        self.report(ENQUIRY_RESULT, result, message.correlation_id)


def _bill_body(bill: PendingBill) -> dict[str, Any]:
    detail = bill.raw.get("detail") if bill.detail is not None else None
    return {
        "bill_number": bill.bill_number,
        "due_date": bill.due_date,
        "amount": bill.amount,
        "service_charge": bill.service_charge,
        "detail": dict(detail) if isinstance(detail, Mapping) else None,
    }


def _pay_result_fields(outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {
            "outcome": PayOutcome.ACCEPTED.value,
            "order_id": outcome.order_id,
            "order_status": outcome.order_status,
            "service_request_id": outcome.service_request_id,
            "http_status": outcome.http_status,
        }
    if isinstance(outcome, Rejected):
        return {
            "outcome": PayOutcome.REJECTED.value,
            "order_id": outcome.order_id,
            "order_status": outcome.order_status,
            "service_request_id": outcome.service_request_id,
            "trace_id": outcome.trace_id,
            "error_code": outcome.error_code,
            "error_detail_code": outcome.error_codes[0] if outcome.error_codes else None,
            "error_message": (outcome.user_message or outcome.reason or "")[:500] or None,
            "http_status": outcome.http_status,
            "reason": outcome.reason[:255] if outcome.reason else None,
        }
    if isinstance(outcome, NotSent):
        return {"outcome": PayOutcome.NOT_SENT.value, "reason": f"not sent ({outcome.kind})"}
    if isinstance(outcome, Unknown):
        return {
            "outcome": PayOutcome.UNKNOWN.value,
            "reason": f"{outcome.kind}: {outcome.reason}"[:255],
            "http_status": outcome.http_status,
            "order_id": outcome.order_id,
            "trace_id": outcome.trace_id,
            "service_request_id": outcome.service_request_id,
        }
    return {
        "outcome": PayOutcome.UNKNOWN.value,
        "reason": f"unexpected outcome {type(outcome).__name__}",
    }


def _enquiry_result_fields(answer: Any) -> dict[str, Any]:
    if isinstance(answer, EnquirySucceeded):
        return {
            "outcome": EnquiryOutcome.SUCCEEDED.value,
            "order_id": answer.order_id,
            "order_status": answer.order_status,
        }
    if isinstance(answer, EnquiryFailed):
        return {
            "outcome": EnquiryOutcome.FAILED.value,
            "order_id": answer.order_id,
            "order_status": answer.order_status,
            "error_code": answer.error_code,
            "error_message": (answer.user_message or "")[:500] or None,
        }
    if isinstance(answer, EnquiryPending):
        return {
            "outcome": EnquiryOutcome.PENDING.value,
            "order_id": answer.order_id,
            "order_status": answer.order_status,
        }
    if isinstance(answer, EnquiryNotFound):
        return {"outcome": EnquiryOutcome.NOT_FOUND.value, "error_code": answer.error_code}
    reason = getattr(answer, "reason", None) or type(answer).__name__
    return {"outcome": EnquiryOutcome.UNKNOWN.value, "reason": str(reason)[:255]}
