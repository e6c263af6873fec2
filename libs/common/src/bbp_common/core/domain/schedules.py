"""Scheduled payments and "pay again": the rules, free of I/O (issue 18, items 3 and 4).

**A scheduled payment request** starts at a given time, or lets each of its payments become
due a given number of days before its bill's due date (a bill without a due date goes at the
request's start time). Its payments wait as ``scheduled`` (never dispatched) with a *due*
time and a *hold* saying where they stand (:class:`Hold`):

* ``due`` — waiting for the due time;
* ``refetching`` — the due time came: the bill's account is being fetched again, through the
  normal pace (a fetch request linked to the payment request);
* ``changed`` — the bill, fetched again, asks a different amount: the payment waits for a
  person (another admin approves the new amount — it is then fetched once more before it
  goes — or someone cancels it). Only that payment waits: the others go on time.

What the fetch at the due time says decides (:func:`compare`): the same amount → the payment
is queued with the new bill (so its freshness is renewed); another amount → ``changed``; the
bill no longer listed (paid elsewhere?) or the account not fetched → the payment is
cancelled, its bill free again, with the reason. A payment never leaves on a bill older than
its due time's fetch.

**Pay again** (:func:`why_not_again`): from a finished request, only the bills whose payment
failed on a definitive Mobiquity answer (its billpay rejected, an enquiry's FAILED) or ended
``unsent`` (it provably never left) are offered — never one that is posted or succeeded (paid),
ambiguous or uncleared (it may be paid), failed only because "not found" was believed (it may
be paid after all), failed by a person's judgement, cancelled (a person or a stale bill
stopped it), or under a double-payment alarm (the reconciliation saw it paid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from bbp_common.core.domain.approvals import DAY_ZONE
from bbp_common.core.domain.payments import Failure, PaymentState

S = PaymentState

#: A start further ahead than this is refused (a mistyped year, not a plan).
MAX_DAYS_AHEAD = 90
#: The most days before a bill's due date a payment may be set to go.
MAX_DAYS_BEFORE_DUE = 60


class Hold(StrEnum):
    """Where a ``scheduled`` payment stands (``payments.hold``; NULL in every other state)."""

    DUE = "due"
    REFETCHING = "refetching"
    CHANGED = "changed"


class ScheduleRefused(ValueError):
    """A schedule that cannot be kept; ``code`` says why (``start_past``, ``start_too_far``,
    ``days_out_of_range``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Schedule:
    """When a payment request's payments go: all at ``start_at`` (naive UTC), or — with
    ``days_before_due`` — each that many days before its bill's due date, at the start's
    time of day in Asia/Dhaka, never before ``start_at`` (a bill without a due date, or one
    whose moment has passed, goes at ``start_at``)."""

    start_at: datetime
    days_before_due: int | None = None

    def check(self, now: datetime) -> None:
        """Refuse a start not after ``now`` (the database's clock) or too far ahead."""
        if self.start_at <= now:
            raise ScheduleRefused("start_past", "The start time has passed: choose a later one.")
        if self.start_at > now + timedelta(days=MAX_DAYS_AHEAD):
            raise ScheduleRefused(
                "start_too_far", f"The start is at most {MAX_DAYS_AHEAD} days ahead."
            )
        if self.days_before_due is not None and not (
            0 <= self.days_before_due <= MAX_DAYS_BEFORE_DUE
        ):
            raise ScheduleRefused(
                "days_out_of_range",
                f"The days before the due date are 0 to {MAX_DAYS_BEFORE_DUE}.",
            )

    def due_at(self, due_date: date | None) -> datetime:
        """When the payment of a bill due on ``due_date`` becomes due (naive UTC)."""
        if self.days_before_due is None or due_date is None:
            return self.start_at
        start_local = self.start_at.replace(tzinfo=UTC).astimezone(DAY_ZONE)
        day = due_date - timedelta(days=self.days_before_due)
        moment = datetime.combine(day, start_local.timetz()).astimezone(UTC).replace(tzinfo=None)
        return max(moment, self.start_at)


# --------------------------------------------------------------------------- the fetch at start


class Verdict(StrEnum):
    """What the fetch at a payment's due time says about its bill."""

    SAME = "same"  # listed, same amount: the payment goes (with the new bill)
    CHANGED = "changed"  # listed, another amount: a person decides
    GONE = "gone"  # the fetch answered, without this bill: paid elsewhere, or withdrawn
    UNFETCHED = "unfetched"  # no answer (failed after its tries, account inactive, cancelled)


@dataclass(frozen=True)
class Refetched:
    """A bill as the fetch at the due time found it (None: not listed)."""

    amount: Decimal
    total: Decimal


def compare(
    amount: Decimal,
    total: Decimal,
    *,
    answered: bool,
    found: Refetched | None,
) -> Verdict:
    """The payment of ``amount`` (``total`` with the service charge it pays) against the
    fetch at its due time: ``answered`` — the fetch of its account got an answer (bills or
    none); ``found`` — its bill (same bill number) in that answer."""
    if not answered:
        return Verdict.UNFETCHED
    if found is None:
        return Verdict.GONE
    if found.amount != amount or found.total != total:
        return Verdict.CHANGED
    return Verdict.SAME


VERDICT_REASONS = {
    Verdict.GONE: "no longer pending when fetched again before paying (paid elsewhere?)",
    Verdict.UNFETCHED: "could not be fetched again before paying: fetch it and pay it again",
}


# --------------------------------------------------------------------------- pay again

#: Failures that are Mobiquity's definitive "no": the bill was not paid.
AGAIN_FAILURES = frozenset({Failure.REJECTED, Failure.ENQUIRY})


def why_not_again(state: PaymentState, failure: Failure | str | None) -> str | None:
    """None when "pay again" may offer this payment's bill; otherwise why not (for people
    and tests: one reason per non-eligible state)."""
    if state is S.UNSENT:
        return None
    if state is S.FAILED:
        if failure is None:  # failed before ``failure`` was recorded: nobody knows by whom
            return "failed, but not on a recorded answer of Mobiquity's"
        if Failure(failure) in AGAIN_FAILURES:
            return None
        return {
            Failure.NOT_FOUND: "failed only because Mobiquity's 'not found' was believed: "
            "it may be paid after all",
            Failure.PERSON: "a person judged it not paid: pay it again only after checking",
        }[Failure(failure)]
    return {
        S.POSTED: "posted: Mobiquity has it",
        S.SUCCEEDED: "paid",
        S.AMBIGUOUS: "no answer yet: it may be paid",
        S.UNCLEARED: "uncleared: it may be paid, a person decides",
        S.CANCELLED: "cancelled: it was stopped on purpose or its bill went stale",
    }.get(state, f"still {state.value}")


__all__ = [
    "AGAIN_FAILURES",
    "MAX_DAYS_AHEAD",
    "MAX_DAYS_BEFORE_DUE",
    "VERDICT_REASONS",
    "Hold",
    "Refetched",
    "Schedule",
    "ScheduleRefused",
    "Verdict",
    "compare",
    "why_not_again",
]
