"""The payment state machine and the money rules, free of I/O.

A payment is sent to Mobiquity at most once. The only door to billpay is the claim
(``dispatched → sending``, committed before the HTTP call, with a send-by deadline on the
database's clock); after it, a payment with no clear answer is only *enquired*, never sent
again. A payment that provably never left (its command expired before any claim, or the
client's ``NotSent``) goes back to the queue with the **same reference id** and a new
attempt number, a bounded number of times, then ends ``unsent``::

    scheduled  → queued | cancelled                                  (fetched again at its time)
    queued     → dispatched | cancelled
    dispatched → sending (the claim) | queued | cancelled | unsent    (never left)
    sending    → posted | failed | ambiguous                         (Mobiquity's answer)
               | queued | cancelled | unsent                         (provably not sent)
    ambiguous  → succeeded | failed | posted | uncleared              (enquiries only)
    uncleared  → succeeded | failed                                  (a person, after checking)

A payment of a scheduled request waits as ``scheduled`` — never dispatched — until its due
time came and its bill was fetched again and found unchanged
(``bbp_common.core.domain.schedules``). The machine stops at posted, succeeded, failed,
uncleared, cancelled and unsent. Only a definitive Mobiquity answer or a person makes a
payment ``failed``; our own trouble (a crash, an expired command, a refused connection)
never does. The stores in ``bbp_common.core.stores`` are the only code that moves a payment
along this table.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class PaymentState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    SENDING = "sending"
    POSTED = "posted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    UNCLEARED = "uncleared"
    CANCELLED = "cancelled"
    UNSENT = "unsent"


S = PaymentState

#: Where the machine stops by itself.
FINAL_STATES = frozenset({S.POSTED, S.SUCCEEDED, S.FAILED, S.UNCLEARED, S.CANCELLED, S.UNSENT})
#: Final and never moved again, not even by a person.
TERMINAL_STATES = FINAL_STATES - {S.UNCLEARED}
#: States that free the bill to be paid again (the live-bill key is cleared).
RELEASING_STATES = frozenset({S.FAILED, S.CANCELLED, S.UNSENT})
#: States in which the payment may have reached Mobiquity.
MAYBE_SENT_STATES = frozenset({S.SENDING, S.POSTED, S.SUCCEEDED, S.AMBIGUOUS, S.UNCLEARED})
#: States in which the payment holds a slot toward Mobiquity (a command is out).
IN_FLIGHT_STATES = frozenset({S.DISPATCHED, S.SENDING})
#: Where a payment that provably never left may go: back to the queue, or out for good.
NEVER_LEFT_TARGETS = frozenset({S.QUEUED, S.CANCELLED, S.UNSENT})

TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    # Waits for its due time; leaves for the queue only once its bill was fetched again and
    # found unchanged (or a person approved the new amount and it was fetched again).
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.DISPATCHED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.SENDING}) | NEVER_LEFT_TARGETS,
    S.SENDING: frozenset({S.POSTED, S.FAILED, S.AMBIGUOUS}) | NEVER_LEFT_TARGETS,
    # Enquiries settle it; or its own sender's late "not sent" proves it never left.
    S.AMBIGUOUS: frozenset({S.SUCCEEDED, S.FAILED, S.POSTED, S.UNCLEARED}) | NEVER_LEFT_TARGETS,
    # A person resolves an uncleared payment after checking Mobiquity's reports.
    S.UNCLEARED: frozenset({S.SUCCEEDED, S.FAILED}),
    S.POSTED: frozenset(),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.UNSENT: frozenset(),
}


class IllegalTransition(ValueError):
    """A change the state machine forbids (a bug, or a stale actor)."""


def check_transition(current: PaymentState, target: PaymentState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current} → {target} is not allowed")


def sources_of(target: PaymentState) -> frozenset[PaymentState]:
    """Every state from which ``target`` may be reached (for conditional updates)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


class Failure(StrEnum):
    """Why a payment is ``failed``: only Mobiquity or a person says so."""

    REJECTED = "rejected"  # billpay answered FAILED (or refused the order)
    ENQUIRY = "enquiry"  # an enquiry answered FAILED
    NOT_FOUND = "not_found"  # an enquiry's "not found", believed by configuration
    PERSON = "person"  # a person resolved an uncleared payment as not paid


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
    """The key a payment in ``state`` holds: none once failed, cancelled or unsent."""
    return None if state in RELEASING_STATES else key


# --------------------------------------------------------------------------- never left


@dataclass(frozen=True)
class ReturnRule:
    """Where a payment that provably never left goes.

    Back to the queue (same reference id, the next dispatch gives it a new attempt number)
    while its request may still send and it has not come back ``max_returns`` times
    already; ``cancelled`` once its request was cancelled; ``unsent`` when the tries are
    used up (it frees its bill and is listed for a person). A return that is not the
    payment's fault — the wallet breaker refused the claim, a publish failed — is not
    counted.
    """

    max_returns: int = 3


def never_left_target(
    rule: ReturnRule, *, request_cancelled: bool, returns_so_far: int, counted: bool
) -> PaymentState:
    if request_cancelled:
        return S.CANCELLED
    if counted and returns_so_far + 1 > rule.max_returns:
        return S.UNSENT
    return S.QUEUED


# --------------------------------------------------------------------------- outcomes


class PayOutcome(StrEnum):
    """What the communicator learnt from one pay command (or from not acting on it)."""

    ACCEPTED = "accepted"  # success / pending / fulfilment initiated
    REJECTED = "rejected"  # a FAILED answer, or HTTP 401/403
    NOT_SENT = "not_sent"  # claimed, then provably never left (NotSent, send-by passed)
    UNKNOWN = "unknown"  # no usable answer: maybe processed
    SENDER_DIED = "sender_died"  # redelivered while `sending`: its sender died mid-call
    UNCLAIMED = "unclaimed"  # the dispatch can no longer be claimed: it never left
    UNBUILDABLE = "unbuildable"  # claimed, but no billpay could be built (configuration)


class EnquiryOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"  # includes "no answer in time"


#: Enquiry answers that say where the payment stands (the others are "no answer").
DEFINITIVE_ENQUIRY = frozenset(
    {EnquiryOutcome.SUCCEEDED, EnquiryOutcome.FAILED, EnquiryOutcome.PENDING}
)

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

    ``target`` is None when the result changes nothing (a duplicate, a stale attempt).
    ``never_left`` means "it provably never left": the store picks queued, cancelled or
    unsent by the ``ReturnRule`` (``counted`` says whether the return counts toward it).
    ``anomaly`` is set when the result disagrees with where the payment stands: it must be
    kept for a person. ``failure`` says why a ``failed`` target failed.
    """

    target: PaymentState | None
    cause: str
    anomaly: bool = False
    never_left: bool = False
    counted: bool = True
    failure: Failure | None = None


_SENDING_OUTCOMES = {
    PayOutcome.ACCEPTED: (S.POSTED, "billpay accepted"),
    PayOutcome.REJECTED: (S.FAILED, "billpay rejected"),
    PayOutcome.UNKNOWN: (S.AMBIGUOUS, "no usable answer to billpay"),
    PayOutcome.SENDER_DIED: (S.AMBIGUOUS, "sender died mid-call"),
}


def decide_pay_result(
    current: PaymentState, outcome: PayOutcome, *, same_attempt: bool = True
) -> Decision:
    """The state a pay result moves a payment to, given where the payment is now.

    Attempts fence results: only a result of the payment's current attempt moves it. A
    stale ``not sent`` (an older attempt's, or a duplicate) changes nothing; a stale
    definitive answer is kept for a person, since it says money moved on another attempt.
    """
    definitive = outcome in (PayOutcome.ACCEPTED, PayOutcome.REJECTED)
    if not same_attempt:
        if definitive:
            return Decision(None, f"billpay {outcome} of an older attempt", anomaly=True)
        return Decision(None, f"{outcome} of an older attempt ignored")
    if current is S.SENDING:
        if outcome is PayOutcome.NOT_SENT:
            return Decision(S.QUEUED, "not sent", never_left=True)
        if outcome is PayOutcome.UNBUILDABLE:
            return Decision(S.UNSENT, "no billpay could be built (configuration)")
        if outcome is PayOutcome.UNCLAIMED:
            # Its copy that was claimed is being sent: this report of another copy says nothing.
            return Decision(None, "unclaimed result for a claimed payment ignored")
        target, cause = _SENDING_OUTCOMES[outcome]
        return Decision(target, cause, failure=Failure.REJECTED if target is S.FAILED else None)
    if current is S.DISPATCHED:
        if outcome is PayOutcome.UNCLAIMED:
            # The store checks on the database clock that the dispatch can no longer be
            # claimed (its deadline passed) before it moves the payment.
            return Decision(S.QUEUED, "command not claimed in time", never_left=True)
        if definitive:
            return Decision(None, f"billpay {outcome} for a payment never claimed", anomaly=True)
        return Decision(None, f"{outcome} for a payment not claimed")
    if current is S.AMBIGUOUS:
        # A late real answer beats an enquiry still to come; "unknown" adds nothing.
        if definitive:
            target, cause = _SENDING_OUTCOMES[outcome]
            return Decision(
                target,
                cause + " (late answer)",
                failure=Failure.REJECTED if target is S.FAILED else None,
            )
        if outcome is PayOutcome.NOT_SENT:
            # It became ambiguous because its sender looked gone (the sweeper gave up on it,
            # or a redelivered command found it sending) — but the sender was alive and now
            # reports, for this very attempt, that the billpay never left. Only the claimer
            # of an attempt ever reports "not sent" for it: it goes back to the queue.
            return Decision(S.QUEUED, "not sent (its sender's late report)", never_left=True)
        return Decision(None, "duplicate result")
    if current in FINAL_STATES:
        agrees = (
            (outcome is PayOutcome.ACCEPTED and current in (S.POSTED, S.SUCCEEDED))
            or (outcome is PayOutcome.REJECTED and current is S.FAILED)
            or (not definitive)
        )
        if agrees:
            return Decision(None, "duplicate result")
        return Decision(None, f"billpay {outcome} disagrees with {current}", anomaly=True)
    # queued: a definitive result for a payment that is not out cannot be ours.
    if definitive:
        return Decision(None, f"billpay {outcome} for a payment in {current}", anomaly=True)
    return Decision(None, f"{outcome} for a payment in {current}")


# --------------------------------------------------------------------------- enquiries

#: The enquiry number of a person's "check now": an extra enquiry, not one of the N (the
#: regular ones are numbered 1…N, so the results of the two never match each other).
CHECK_ENQUIRY = 0


@dataclass(frozen=True)
class EnquiryPolicy:
    """How enquiries are scheduled and how far "not found" is believed.

    ``delays[n]`` is the wait before enquiry ``n + 1``, counted from when the payment
    became ambiguous (the first) or from the previous enquiry's answer (the others):
    with the default ``1m,5m,15m,1h,6h`` a payment without an answer reaches a person
    after ≈ 7 h 21 min. ``not_found_grace`` is added to the moment the billpay could last
    have been answered (``answer_by_at``, written by the claim).
    """

    delays: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0, 21600.0)
    believe_not_found: bool = False
    not_found_grace: float = 120.0

    @property
    def total(self) -> int:
        return len(self.delays)

    def due_at(self, base: datetime, enquiries_done: int) -> datetime | None:
        """When enquiry number ``enquiries_done + 1`` is due; None when none is left."""
        if enquiries_done >= len(self.delays):
            return None
        return base + timedelta(seconds=self.delays[enquiries_done])

    def not_found_believable(self, answer_by: datetime | None, now: datetime) -> bool:
        return (
            self.believe_not_found
            and answer_by is not None
            and now >= answer_by + timedelta(seconds=self.not_found_grace)
        )


def decide_enquiry_result(
    current: PaymentState,
    outcome: EnquiryOutcome,
    *,
    enquiries_done: int,
    policy: EnquiryPolicy,
    answer_by: datetime | None,
    now: datetime,
    extra: bool = False,
) -> Decision:
    """What one enquiry's answer does to a payment.

    ``enquiries_done`` counts this one. "Not found" is no answer unless the policy believes
    it and the billpay's last possible answer (``answer_by``) is older than the grace.
    ``extra``: the answer to a person's "check now" — it settles an ambiguous payment like
    any enquiry's answer, but it is not one of the N: without an answer it changes nothing
    (it never makes a payment uncleared).
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
        return Decision(S.FAILED, "enquiry: failed", failure=Failure.ENQUIRY)
    if outcome is EnquiryOutcome.PENDING:
        return Decision(S.POSTED, "enquiry: pending at Mobiquity")
    if outcome is EnquiryOutcome.NOT_FOUND and policy.not_found_believable(answer_by, now):
        return Decision(
            S.FAILED,
            "enquiry: not found after the grace period (never received)",
            failure=Failure.NOT_FOUND,
        )
    if extra:
        return Decision(None, f"check asked by a person: no answer ({outcome}); not counted")
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
