"""Scheduled payments and "pay again": the rules (``bbp_common.core.domain.schedules``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from bbp_common.core.domain.payments import Failure, PaymentState
from bbp_common.core.domain.schedules import (
    MAX_DAYS_AHEAD,
    Refetched,
    Schedule,
    ScheduleRefused,
    Verdict,
    compare,
    why_not_again,
)

S = PaymentState
NOW = datetime(2026, 12, 1, 4, 0)  # 10:00 in Dhaka
#: 2026-12-10 09:30 in Dhaka (UTC+6), as the database keeps it.
START = datetime(2026, 12, 10, 3, 30)


def test_a_start_must_be_ahead_and_not_too_far() -> None:
    Schedule(NOW + timedelta(seconds=1)).check(NOW)
    with pytest.raises(ScheduleRefused) as past:
        Schedule(NOW).check(NOW)
    assert past.value.code == "start_past"
    with pytest.raises(ScheduleRefused) as far:
        Schedule(NOW + timedelta(days=MAX_DAYS_AHEAD, seconds=1)).check(NOW)
    assert far.value.code == "start_too_far"
    with pytest.raises(ScheduleRefused) as days:
        Schedule(START, 61).check(NOW)
    assert days.value.code == "days_out_of_range"


def test_all_at_the_start_whatever_the_due_date() -> None:
    schedule = Schedule(START)
    assert schedule.due_at(date(2026, 12, 25)) == START
    assert schedule.due_at(None) == START


def test_days_before_the_due_date_at_the_starts_time_of_day_in_dhaka() -> None:
    schedule = Schedule(START, 3)
    # Due on the 25th: the 22nd at 09:30 Dhaka = 03:30 UTC.
    assert schedule.due_at(date(2026, 12, 25)) == datetime(2026, 12, 22, 3, 30)
    # A bill without a due date goes at the start.
    assert schedule.due_at(None) == START
    # Its moment passed before the start (due on the 11th, 3 days before is the 8th): at the start.
    assert schedule.due_at(date(2026, 12, 11)) == START
    # 0 days: on the due date itself.
    assert Schedule(START, 0).due_at(date(2026, 12, 25)) == datetime(2026, 12, 25, 3, 30)


def test_the_dhaka_day_is_not_the_utc_day() -> None:
    """A start at 02:00 Dhaka is 20:00 UTC the day before: the payment's day is Dhaka's."""
    start = datetime(2026, 12, 9, 20, 0)  # 2026-12-10 02:00 Dhaka
    due = Schedule(start, 1).due_at(date(2026, 12, 20))
    assert due == datetime(2026, 12, 18, 20, 0)  # 2026-12-19 02:00 Dhaka


def test_compare_the_payment_with_the_fetch_at_its_due_time() -> None:
    amount, total = Decimal("500.00"), Decimal("510.00")
    same = Refetched(Decimal("500.00"), Decimal("510.00"))
    assert compare(amount, total, answered=True, found=same) is Verdict.SAME
    more = Refetched(Decimal("612.00"), Decimal("622.00"))
    assert compare(amount, total, answered=True, found=more) is Verdict.CHANGED
    charge = Refetched(Decimal("500.00"), Decimal("515.00"))  # only the service charge moved
    assert compare(amount, total, answered=True, found=charge) is Verdict.CHANGED
    assert compare(amount, total, answered=True, found=None) is Verdict.GONE
    assert compare(amount, total, answered=False, found=None) is Verdict.UNFETCHED


def test_pay_again_offers_only_mobiquitys_definitive_no_and_unsent() -> None:
    assert why_not_again(S.FAILED, Failure.REJECTED) is None
    assert why_not_again(S.FAILED, "enquiry") is None
    assert why_not_again(S.UNSENT, None) is None


@pytest.mark.parametrize(
    ("state", "failure", "word"),
    [
        (S.POSTED, None, "posted"),
        (S.SUCCEEDED, None, "paid"),
        (S.AMBIGUOUS, None, "may be paid"),
        (S.UNCLEARED, None, "uncleared"),
        (S.FAILED, Failure.NOT_FOUND, "not found"),
        (S.FAILED, Failure.PERSON, "person"),
        (S.FAILED, None, "not on a recorded answer"),
        (S.CANCELLED, None, "cancelled"),
        (S.QUEUED, None, "queued"),
        (S.SCHEDULED, None, "scheduled"),
    ],
)
def test_pay_again_refuses_every_other_state(
    state: PaymentState, failure: Failure | None, word: str
) -> None:
    why = why_not_again(state, failure)
    assert why is not None and word in why
