"""What the pages say about a payment waiting on Mobiquity's answer: "waiting for
Mobiquity's answer — next check at 14:05 (2 of 5)", a person's extra check and its answer.

Read from the payment's own columns, which the payment store keeps: ``enquiry_count`` (done),
``enquiry_total`` (how many the scheduler's schedule holds — written by the scheduler with
each enquiry's bookkeeping, so the portal never reads the scheduler's setting and cannot
disagree with it), ``enquiry_due_at`` and ``enquiry_sent_at``, and ``check_*`` for "check
now". Times are shown in Dhaka time (``bbp_portal.localtime``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from bbp_portal.localtime import clock

#: Payment states a person's "check now" may ask about.
CHECKABLE = ("ambiguous", "uncleared")


@dataclass(frozen=True)
class EnquiryStatus:
    """``text``: where the enquiries stand, one sentence; ``last_check``: the answer to the
    latest extra check, if any; ``can_check``: "check now" may be asked now."""

    text: str | None
    last_check: str | None
    can_check: bool
    checking: bool


def _answer(outcome: str) -> str:
    return {
        "succeeded": _("Mobiquity says it succeeded."),
        "failed": _("Mobiquity says it failed."),
        "pending": _("Mobiquity says it is still being processed."),
        "not_found": _("Mobiquity has no record of it."),
    }.get(outcome, _("no answer came."))


def _position(done: int, total: int | None) -> str:
    if total:
        return _("%(n)s of %(total)s", n=min(done + 1, total), total=total)
    return _("check %(n)s", n=done + 1)


def status(p: Any, now: datetime) -> EnquiryStatus:
    """The enquiry status of payment row ``p`` (a row with the enquiry and check columns)."""
    state = p.state
    asked = p.check_requested_at is not None
    out = p.enquiry_sent_at is not None
    who = p.check_requested_by or ""
    text = None
    if state == "ambiguous":
        if asked and out:
            text = _(
                "waiting for Mobiquity's answer — checking now (an extra check asked by %(who)s)",
                who=who,
            )
        elif asked:
            text = _(
                "waiting for Mobiquity's answer — an extra check asked by %(who)s goes out "
                "within seconds",
                who=who,
            )
        elif out:
            text = _(
                "waiting for Mobiquity's answer — checking now (%(position)s)",
                position=_position(p.enquiry_count, p.enquiry_total),
            )
        elif p.enquiry_due_at is not None and p.enquiry_due_at > now:
            text = _(
                "waiting for Mobiquity's answer — next check at %(time)s (%(position)s)",
                time=clock(p.enquiry_due_at, now),
                position=_position(p.enquiry_count, p.enquiry_total),
            )
        else:
            text = _(
                "waiting for Mobiquity's answer — next check any moment (%(position)s)",
                position=_position(p.enquiry_count, p.enquiry_total),
            )
    elif state == "uncleared":
        if asked:
            text = _(
                "no final answer after every check — an extra check asked by %(who)s is on "
                "its way; its answer will be shown here",
                who=who,
            )
        else:
            text = _("no final answer after every check — a person decides")
    last = None
    if p.check_outcome and p.check_answered_at is not None:
        last = _(
            "Last extra check (%(time)s, asked by %(who)s): %(answer)s",
            time=clock(p.check_answered_at, now),
            who=who,
            answer=_answer(p.check_outcome),
        )
    return EnquiryStatus(text, last, state in CHECKABLE and not asked and not out, asked or out)


__all__ = ["CHECKABLE", "EnquiryStatus", "status"]
