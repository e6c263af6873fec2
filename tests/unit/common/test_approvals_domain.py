"""Maker-checker's rule, free of I/O: which limits a new payment request crosses, and what
"a day" is (Asia/Dhaka, UTC+6, while the database's columns are naive UTC)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from bbp_common.core.domain.approvals import (
    COUNTED_STATES,
    ApprovalLimits,
    ApprovalReason,
    approval_reasons,
    day_bounds,
    maker_day,
    parse_reasons,
    reasons_text,
)
from bbp_common.core.domain.payments import PaymentState

R = ApprovalReason
LIMITS = ApprovalLimits(per_request=Decimal("100000"), per_maker_day=Decimal("200000"))


def test_a_limit_is_crossed_above_it_not_at_it() -> None:
    assert approval_reasons(Decimal("100000"), Decimal("0"), LIMITS) == ()
    assert approval_reasons(Decimal("100000.01"), Decimal("0"), LIMITS) == (R.REQUEST_LIMIT,)
    assert approval_reasons(Decimal("50000"), Decimal("150000"), LIMITS) == ()
    assert approval_reasons(Decimal("50000.01"), Decimal("150000"), LIMITS) == (R.DAILY_LIMIT,)


def test_splitting_does_not_dodge_the_daily_limit() -> None:
    """Each under the per-request limit; the one whose sum crosses the day waits, and so
    does every later one of that day."""
    counted = Decimal("0")
    decided = []
    for total in (Decimal("90000"), Decimal("90000"), Decimal("90000"), Decimal("1")):
        decided.append(approval_reasons(total, counted, LIMITS))
        counted += total
    assert decided == [(), (), (R.DAILY_LIMIT,), (R.DAILY_LIMIT,)]


def test_every_reason_is_kept_and_no_limit_means_none() -> None:
    assert approval_reasons(Decimal("250000"), Decimal("0"), LIMITS, step_up_missing=True) == (
        R.REQUEST_LIMIT,
        R.DAILY_LIMIT,
        R.STEP_UP,
    )
    assert approval_reasons(Decimal("1e9"), Decimal("1e9"), ApprovalLimits()) == ()
    assert approval_reasons(Decimal("1"), Decimal("0"), ApprovalLimits(), step_up_missing=True) == (
        R.STEP_UP,
    )


def test_the_day_is_asia_dhaka() -> None:
    # 18:00 UTC is midnight in Dhaka (UTC+6, no daylight saving).
    assert maker_day(datetime(2026, 12, 6, 17, 59, 59, 999999)) == date(2026, 12, 6)
    assert maker_day(datetime(2026, 12, 6, 18, 0, 0)) == date(2026, 12, 7)
    assert maker_day(datetime(2026, 6, 30, 18, 0, 0)) == date(2026, 7, 1)
    start, end = day_bounds(date(2026, 12, 7))
    assert (start, end) == (datetime(2026, 12, 6, 18, 0), datetime(2026, 12, 7, 18, 0))
    assert maker_day(start) == date(2026, 12, 7) and maker_day(end) == date(2026, 12, 8)


def test_what_the_day_counts() -> None:
    """Never sent and never will be: cancelled, unsent. Everything else counts (a failed
    payment was sent: Mobiquity refused it)."""
    assert set(PaymentState) - COUNTED_STATES == {PaymentState.CANCELLED, PaymentState.UNSENT}
    assert PaymentState.FAILED in COUNTED_STATES and PaymentState.QUEUED in COUNTED_STATES


def test_reasons_are_stored_as_text_and_read_back() -> None:
    assert reasons_text(()) is None
    assert reasons_text((R.REQUEST_LIMIT, R.STEP_UP)) == "request_limit,step_up"
    assert parse_reasons("request_limit,step_up") == (R.REQUEST_LIMIT, R.STEP_UP)
    assert parse_reasons(None) == () and parse_reasons("later_reason, daily_limit") == (
        R.DAILY_LIMIT,
    )
