"""Maker-checker: when a payment request waits for a second person. Free of I/O.

A new payment request waits in ``awaiting_approval`` — nothing of it is sent — for each
reason that holds (all of them are recorded):

* ``request_limit``: its total is above the per-request limit;
* ``daily_limit``: its maker's payment requests of the day, this one included, total above
  the per-maker daily limit. The day is the calendar day in Asia/Dhaka (where the people
  paying work), judged on the database's clock. The request that crosses the limit waits,
  and so does every later one of that day (the sum only grows): splitting a batch into
  requests each under the per-request limit does not dodge it;
* ``step_up``: step-up is required and the person creating it did not confirm with a fresh
  one (a request made through the API): a person confirms it in the portal.

**What the day's sum counts** (``COUNTED_STATES``): every payment of the maker's payment
requests created that day, whatever their request's state, except the payments that were
never sent and never will be — ``cancelled`` (a request cancelled or rejected before sending,
the unsent rest of one cancelled midway, a bill gone stale before it left) and ``unsent``
(its tries used up without ever leaving). So a request cancelled or rejected before anything
was sent counts nothing; one cancelled midway counts what was sent or may still be. A
``failed`` payment counts: it was sent (Mobiquity refused it) — reading refusals as room for
more would let the wallet's errors raise the limit. An ``awaiting_approval`` request counts
in full (it may still be approved).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from bbp_common.core.domain.payments import PaymentState

#: The people paying work in Bangladesh: "a day" is a day there (UTC+6, no daylight saving).
DAY_ZONE = ZoneInfo("Asia/Dhaka")

#: Payments that never left and never will: they do not count toward the maker's day.
UNCOUNTED_STATES = frozenset({PaymentState.CANCELLED, PaymentState.UNSENT})
COUNTED_STATES = frozenset(PaymentState) - UNCOUNTED_STATES


class ApprovalReason(StrEnum):
    REQUEST_LIMIT = "request_limit"
    DAILY_LIMIT = "daily_limit"
    STEP_UP = "step_up"


@dataclass(frozen=True)
class ApprovalLimits:
    """The amounts (BDT) above which a payment request waits; ``None`` is no limit."""

    per_request: Decimal | None = None
    per_maker_day: Decimal | None = None


def maker_day(now_utc: datetime) -> date:
    """The Asia/Dhaka calendar day of ``now_utc`` (naive UTC, as the database gives it)."""
    return now_utc.replace(tzinfo=UTC).astimezone(DAY_ZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the Asia/Dhaka ``day`` in naive UTC (the database's columns)."""
    start = datetime.combine(day, time.min, DAY_ZONE)
    end = datetime.combine(day + timedelta(days=1), time.min, DAY_ZONE)
    return (
        start.astimezone(UTC).replace(tzinfo=None),
        end.astimezone(UTC).replace(tzinfo=None),
    )


def approval_reasons(
    total: Decimal,
    day_before: Decimal,
    limits: ApprovalLimits,
    *,
    step_up_missing: bool = False,
) -> tuple[ApprovalReason, ...]:
    """Why a new payment request of ``total`` waits for approval (empty: it does not).

    ``day_before``: what its maker's payment requests of the day already count (see the
    module's docstring). A limit is crossed when the amount is *above* it.
    """
    reasons = []
    if limits.per_request is not None and total > limits.per_request:
        reasons.append(ApprovalReason.REQUEST_LIMIT)
    if limits.per_maker_day is not None and day_before + total > limits.per_maker_day:
        reasons.append(ApprovalReason.DAILY_LIMIT)
    if step_up_missing:
        reasons.append(ApprovalReason.STEP_UP)
    return tuple(reasons)


def reasons_text(reasons: Iterable[ApprovalReason]) -> str | None:
    """How the reasons are stored (``bulk_requests.approval_reason``): comma-separated."""
    joined = ",".join(r.value for r in reasons)
    return joined or None


def parse_reasons(stored: str | None) -> tuple[ApprovalReason, ...]:
    """The stored reasons back; an unknown word (a newer version's) is left out."""
    known = {r.value for r in ApprovalReason}
    parts = [part.strip() for part in (stored or "").split(",")]
    return tuple(ApprovalReason(part) for part in parts if part in known)


__all__ = [
    "COUNTED_STATES",
    "DAY_ZONE",
    "UNCOUNTED_STATES",
    "ApprovalLimits",
    "ApprovalReason",
    "approval_reasons",
    "day_bounds",
    "maker_day",
    "parse_reasons",
    "reasons_text",
]
