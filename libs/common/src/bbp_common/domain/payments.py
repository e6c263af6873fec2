"""The payment state machine and the money rules, free of I/O.

A payment is sent to Mobiquity at most once. The only door to billpay is the claim
(``dispatched → sending``, a conditional update committed before the HTTP call); after it,
a payment with no clear answer is only *enquired*, never sent again::

    queued → dispatched → sending → posted | failed | ambiguous
    dispatched → failed (expired, not sent) | queued (breaker open, or command lost)
    ambiguous → succeeded | failed | posted | uncleared
    queued → cancelled

The machine stops at posted, succeeded, failed, uncleared and cancelled; only a person
moves an uncleared payment on (to succeeded or failed).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class PaymentState(StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    SENDING = "sending"
    POSTED = "posted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    UNCLEARED = "uncleared"
    CANCELLED = "cancelled"


S = PaymentState

#: Where the machine stops by itself.
FINAL_STATES = frozenset({S.POSTED, S.SUCCEEDED, S.FAILED, S.UNCLEARED, S.CANCELLED})
#: States that free the bill to be paid again (the live-bill key is cleared).
RELEASING_STATES = frozenset({S.FAILED, S.CANCELLED})
#: States in which the payment may have reached Mobiquity.
MAYBE_SENT_STATES = frozenset({S.SENDING, S.POSTED, S.SUCCEEDED, S.AMBIGUOUS, S.UNCLEARED})

TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    S.QUEUED: frozenset({S.DISPATCHED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.SENDING, S.FAILED, S.QUEUED}),
    S.SENDING: frozenset({S.POSTED, S.FAILED, S.AMBIGUOUS}),
    S.AMBIGUOUS: frozenset({S.SUCCEEDED, S.FAILED, S.POSTED, S.UNCLEARED}),
    # A person resolves an uncleared payment after checking Mobiquity's reports.
    S.UNCLEARED: frozenset({S.SUCCEEDED, S.FAILED}),
    S.POSTED: frozenset(),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    """A change the state machine forbids (a bug, or a stale actor)."""


def check_transition(current: PaymentState, target: PaymentState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current} → {target} is not allowed")


def sources_of(target: PaymentState) -> frozenset[PaymentState]:
    """Every state from which ``target`` may be reached (for conditional updates)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


# --------------------------------------------------------------------------- identities

REFERENCE_ALPHABET = string.ascii_uppercase + string.digits
REFERENCE_LENGTH = 20


def new_reference_id() -> str:
    """Our unique reference for one payment: 20 characters, upper-case letters and digits.

    Made with ``secrets`` (≈103 bits) so that guessing or colliding is not a concern; the
    unique index on ``payments.reference_id`` is the final word.
    """
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def is_reference_id(value: str) -> bool:
    return len(value) == REFERENCE_LENGTH and all(c in REFERENCE_ALPHABET for c in value)


def live_bill_key(utility_code: str, consumer_id: str, bill_number: str) -> str:
    """The key whose unique index lets a bill be in one live payment only."""
    return f"{utility_code}|{consumer_id}|{bill_number}"


def live_key_for(state: PaymentState, key: str) -> str | None:
    """The key a payment in ``state`` holds: none once failed or cancelled."""
    return None if state in RELEASING_STATES else key


# --------------------------------------------------------------------------- outcomes


class PayOutcome(StrEnum):
    """What the communicator learnt from one billpay call (or from not making it)."""

    ACCEPTED = "accepted"  # success / pending / fulfilment initiated
    REJECTED = "rejected"  # a FAILED answer, or HTTP 401/403
    NOT_SENT = "not_sent"  # provably never left
    UNKNOWN = "unknown"  # no usable answer: maybe processed
    SENDER_DIED = "sender_died"  # redelivered while `sending`: its sender died mid-call


class EnquiryOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"  # includes "no answer in time"


#: errorCode / errors[].code pairs that mean the paying wallet's own authentication failed.
WALLET_AUTH_ERRORS = frozenset({("Authen01", "AUTH03")})


def is_wallet_auth_failure(error_code: str | None, detail_code: str | None) -> bool:
    """A rejection caused by the paying wallet's MPIN: the wallet breaker must open at once."""
    if error_code == "Authen01" and detail_code in (None, "", "AUTH03"):
        return True
    return (error_code, detail_code) in WALLET_AUTH_ERRORS


@dataclass(frozen=True)
class Decision:
    """What a result means for a payment: the state to move to and why.

    ``target`` is None when the result changes nothing (a duplicate). ``anomaly`` is set when
    the result disagrees with the payment's final state: it must be kept for a person.
    """

    target: PaymentState | None
    cause: str
    anomaly: bool = False


def decide_pay_result(current: PaymentState, outcome: PayOutcome) -> Decision:
    """The state a billpay result moves a payment to, given where the payment is now."""
    wanted = {
        PayOutcome.ACCEPTED: S.POSTED,
        PayOutcome.REJECTED: S.FAILED,
        PayOutcome.NOT_SENT: S.FAILED,
        PayOutcome.UNKNOWN: S.AMBIGUOUS,
        PayOutcome.SENDER_DIED: S.AMBIGUOUS,
    }[outcome]
    cause = {
        PayOutcome.ACCEPTED: "billpay accepted",
        PayOutcome.REJECTED: "billpay rejected",
        PayOutcome.NOT_SENT: "not sent",
        PayOutcome.UNKNOWN: "no usable answer to billpay",
        PayOutcome.SENDER_DIED: "sender died mid-call",
    }[outcome]
    if current is S.SENDING:
        return Decision(wanted, cause)
    if current is S.AMBIGUOUS:
        # A late real answer beats an enquiry still to come; "unknown" adds nothing.
        if outcome in (PayOutcome.ACCEPTED, PayOutcome.REJECTED):
            return Decision(wanted, cause + " (late answer)")
        if outcome is PayOutcome.NOT_SENT:
            # The same call cannot be both "maybe processed" and "never left": keep enquiring.
            return Decision(None, "not-sent after ambiguous ignored", anomaly=True)
        return Decision(None, "duplicate unknown result")
    if current in FINAL_STATES:
        agrees = (
            (outcome is PayOutcome.ACCEPTED and current in (S.POSTED, S.SUCCEEDED))
            or (outcome in (PayOutcome.REJECTED, PayOutcome.NOT_SENT) and current is S.FAILED)
            or (
                outcome in (PayOutcome.UNKNOWN, PayOutcome.SENDER_DIED)
                and current in (S.POSTED, S.SUCCEEDED, S.FAILED, S.UNCLEARED)
            )
        )
        if agrees:
            return Decision(None, "duplicate result")
        return Decision(None, f"billpay {outcome} disagrees with {current}", anomaly=True)
    # queued / dispatched: a result for a payment that was never claimed cannot be ours.
    return Decision(None, f"billpay {outcome} for a payment in {current}", anomaly=True)


@dataclass(frozen=True)
class EnquiryPolicy:
    """How enquiries are scheduled and how far "not found" is believed."""

    delays: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0, 21600.0)
    believe_not_found: bool = False
    not_found_grace: float = 120.0

    def due_at(self, base: datetime, enquiries_done: int) -> datetime | None:
        """When enquiry number ``enquiries_done + 1`` is due; None when none is left."""
        if enquiries_done >= len(self.delays):
            return None
        return base + timedelta(seconds=self.delays[enquiries_done])


def decide_enquiry_result(
    current: PaymentState,
    outcome: EnquiryOutcome,
    *,
    enquiries_done: int,
    policy: EnquiryPolicy,
    sent_at: datetime | None,
    now: datetime,
) -> Decision:
    """What one enquiry's answer does to an ambiguous payment.

    ``enquiries_done`` counts this one. "Not found" is no answer unless the policy believes
    it and the payment is older than its send time plus the grace period.
    """
    if current is not S.AMBIGUOUS:
        # Only a definitive answer tells anything; it must match where the payment stands,
        # or a person sees it (an uncleared payment that Mobiquity now calls succeeded must
        # not be marked "not paid" and paid again).
        agreeing = {
            EnquiryOutcome.SUCCEEDED: (S.POSTED, S.SUCCEEDED),
            EnquiryOutcome.PENDING: (S.POSTED, S.SUCCEEDED),
            EnquiryOutcome.FAILED: (S.FAILED,),
        }.get(outcome)
        if agreeing is not None and current not in agreeing:
            return Decision(None, f"enquiry says {outcome}, payment is {current}", anomaly=True)
        return Decision(None, "enquiry result for a payment no longer ambiguous")
    if outcome is EnquiryOutcome.SUCCEEDED:
        return Decision(S.SUCCEEDED, "enquiry: succeeded")
    if outcome is EnquiryOutcome.FAILED:
        return Decision(S.FAILED, "enquiry: failed")
    if outcome is EnquiryOutcome.PENDING:
        return Decision(S.POSTED, "enquiry: pending at Mobiquity")
    if (
        outcome is EnquiryOutcome.NOT_FOUND
        and policy.believe_not_found
        and sent_at is not None
        and now >= sent_at + timedelta(seconds=policy.not_found_grace)
    ):
        return Decision(S.FAILED, "enquiry: not found after the grace period (never received)")
    if enquiries_done >= len(policy.delays):
        return Decision(S.UNCLEARED, f"no answer after {enquiries_done} enquiries")
    return Decision(None, f"enquiry {enquiries_done}: no answer ({outcome})")


def same_failure_streak(
    failures: list[tuple[str | None, str | None]], length: int
) -> tuple[str | None, str | None] | None:
    """The (errorCode, errors[].code) shared by the last ``length`` results, if all failed alike.

    ``failures`` is newest first; an entry of ``(None, None)`` is a non-failure and breaks the
    streak. A request whose last N payments failed the same way pauses itself.
    """
    if length <= 0 or len(failures) < length:
        return None
    window = failures[:length]
    first = window[0]
    if first == (None, None) or any(entry != first for entry in window):
        return None
    return first
