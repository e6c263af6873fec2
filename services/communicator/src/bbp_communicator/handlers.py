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
from typing import Any

import tenacity
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine
from structlog.contextvars import bound_contextvars

from bbp_common.core.domain.payments import EnquiryOutcome
from bbp_common.core.messages import (
    ENQUIRY_NOT_SENT,
    ENQUIRY_RESULT,
    ENQUIRY_RESULTS,
    FETCH_RESULT,
    FETCH_RESULTS,
    MessageKind,
)
from bbp_common.core.notifications import wallet_breaker_opened
from bbp_common.platform.db.clock import DbClock
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import EXCHANGE, Envelope, Outgoing, PublishFailed, Retry, build
from bbp_common.platform.messaging.consumer import LOGGED_IDS
from bbp_communicator.calls import CallPool
from bbp_communicator.outcomes import bill_body, enquiry_result_fields
from bbp_communicator.paying import Paying
from mobiquity_client import (
    ClientCredentialsRejected,
    MobiquityClient,
    MobiquityError,
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
class Communicator(Paying):
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
    #: Called in the transaction that opened the wallet breaker: every superadmin is told.
    on_breaker_opened: Any = wallet_breaker_opened

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
        outcomes = (
            [i.get("outcome") for i in body["items"]] if "items" in body else [body.get("outcome")]
        )

        def warn(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("result_publish_retry", type=kind.type, error=str(error))

        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(PublishFailed),
                stop=tenacity.stop_after_delay(self.publish_timeout),
                wait=tenacity.wait_exponential(multiplier=0.2, max=5.0),
                before_sleep=warn,
                reraise=True,
            ):
                with attempt:
                    self.publisher.publish(message, timeout=min(15.0, self.publish_timeout))
        except PublishFailed as exc:
            log.error("result_not_published", type=kind.type, error=str(exc))
            raise Retry(f"could not publish {kind.type}") from exc
        if self.metrics:
            for outcome in outcomes:
                self.metrics.results.labels(kind.type, str(outcome)).inc()

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
