"""Paying: claim, then send each payment at once (at its slot) or not at all.

The pay side of the communicator's handlers (``bbp_communicator.handlers.Communicator``
mixes it in): the claim (``bbp_common.core.stores.claims``) is the only door to billpay; the
wallet breaker is minded after every answer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bbp_common.core.domain.payments import PayOutcome, is_wallet_auth_failure
from bbp_common.core.messages import PAY_RESULT, PAY_RESULTS
from bbp_common.core.stores import PaymentStore, WalletBreaker
from bbp_common.core.stores.claims import ClaimRequest, ClaimResult, PayOrder, claim
from bbp_common.platform.logging import get_logger
from bbp_common.platform.messaging import Envelope
from bbp_communicator.outcomes import pay_result_fields
from mobiquity_client import Accepted, BillPayment, MobiquityError, Rejected

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bbp_communicator.calls import CallPool
    from mobiquity_client import MobiquityClient

log = get_logger(__name__)


class Paying:
    """The pay handlers; the ports are the ``Communicator``'s fields."""

    engine: Engine
    client: MobiquityClient
    name: str
    calls: CallPool | None
    send_window: float
    answer_window: float
    token_first: bool
    wallet_refused_at: float | None
    monotonic: Callable[[], float]
    on_breaker_opened: Any

    if TYPE_CHECKING:

        def _pool(self) -> CallPool: ...

        def _with_ids(self, ids_from: Mapping[str, Any], item: Any, call: Any) -> Any: ...

        def _report_all(
            self, message: Envelope, single: Any, batch: Any, results: list[Any]
        ) -> None: ...

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
                biller_name=order.biller_name or "",
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
                    # Opening tells every superadmin (e-mail, SMS), once per opening.
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
