"""Which bills a person chose to pay — read from a page's form or link, or from an API
body — and the pay policy of the settings they are checked against.

Ticked bill ids, "all matching" a pending-bills filter (at most the policy's ``max_bills``;
only bills fresh enough to pay), or — ``scope=selection`` — the person's server-side
selection (``basket``: what they ticked across pages, or "select all matching"). The pages'
messages are translated, the API's are not (its errors carry stable codes).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from bbp_common.core.domain.schedules import MAX_DAYS_BEFORE_DUE, Schedule
from bbp_portal.auth import current_token, step_up_fresh
from bbp_portal.bulk.publishing import relay
from bbp_portal.localtime import DHAKA
from bbp_portal.payments import basket, operations
from bbp_portal.payments import pending as pending_bills
from bbp_portal.service_errors import ServiceError, ValidationFailed
from bbp_portal.view_context import actor, engine, settings

#: When the payments of a new request go: at once, all at a time, or each some days before
#: its bill's due date (``when`` of the confirmation page and its form).
WHEN = ("now", "at", "before_due")
#: ``start_at`` as a page's ``datetime-local`` field sends it (Dhaka time).
MOMENT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def create_payment(
    ids: list[int], described: str, key: str, via: str, **more: Any
) -> operations.Created:
    """Pay these bills as the signed-in maker under :func:`policy`, with this session's
    step-up for ``key`` (a page and the API ask the same; ``more``: the schedule, pay-again…)."""
    return operations.create_payment(
        engine(),
        actor(),
        ids,
        key=key,
        policy=policy(),
        selection=described,
        via=via,
        relay=relay(),
        stepped_up=step_up_fresh("pay", key),
        **more,
    )


def policy() -> operations.PayPolicy:
    """The settings' pay policy; for a call made with an API token, step-up is on whatever
    ``BBP_STEP_UP`` says: a token has no session, never steps up, so a payment request it
    makes always waits for a person (reason ``step_up``; issue 18)."""
    found = operations.PayPolicy.from_settings(settings())
    if current_token() is not None:
        return replace(found, step_up=True)
    return found


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _money(text: str | None) -> Decimal | None:
    try:
        found = Decimal(text.strip()) if text and text.strip() else None
    except InvalidOperation:
        return None
    return found if found is not None and found.is_finite() and found >= 0 else None


def pending_filter(values: MultiDict[str, str]) -> pending_bills.PendingFilter:
    return pending_bills.PendingFilter(
        utility=values.get("utility", "")[:16],
        group_id=_int(values.get("group_id")),
        due_from=_day(values.get("due_from")),
        due_to=_day(values.get("due_to")),
        fetch_request_id=_int(values.get("request")),
        amount_min=_money(values.get("amount_min")),
        amount_max=_money(values.get("amount_max")),
        consumer=values.get("consumer", "").strip()[:64],
    )


def page_size(values: MultiDict[str, str]) -> int:
    """The pending page's size (``size``): one of :data:`pending.PAGE_SIZES`."""
    size = _int(values.get("size"))
    return size if size in pending_bills.PAGE_SIZES else pending_bills.PAGE_SIZES[0]


def login_id() -> str:
    """Whose selection: the signed-in person's."""
    return actor().login_id


def from_selection() -> tuple[list[int], str]:
    """The person's server-side selection (``scope=selection``)."""
    cap = policy().max_bills
    with engine().connect() as conn:
        ids = basket.chosen_ids(conn, login_id(), cap)
    if len(ids) > cap:
        raise ServiceError(
            "too_many_bills",
            _(
                "More than %(cap)s bills are selected: clear some before paying.",
                cap=f"{cap:,}",
            ),
        )
    return ids, f"{len(ids)} selected bills"


def from_form(values: MultiDict[str, str]) -> tuple[list[int], str]:
    """The bills a form or link chose: ticked ``ids``, or ``scope=filter`` (all matching)."""
    cap = policy().max_bills
    if values.get("scope") == "selection":
        return from_selection()
    if values.get("scope") == "filter":
        found_filter = pending_filter(values)
        with engine().connect() as conn:
            ids = pending_bills.pending_ids(
                conn, found_filter, cap, max_bill_age=policy().max_bill_age
            )
        if len(ids) > cap:
            raise ServiceError(
                "too_many_bills",
                _("More than %(cap)s bills match: narrow the filter.", cap=f"{cap:,}"),
            )
        return ids, found_filter.describe()
    raw = values.getlist("ids")
    if len(raw) == 1 and "," in raw[0]:
        raw = raw[0].split(",")
    ids = sorted({int(v) for v in raw if v.strip().isdigit()})
    if len(ids) > cap:
        raise ServiceError(
            "too_many_bills", _("At most %(cap)s bills in one payment request.", cap=f"{cap:,}")
        )
    described = values.get("selection", "")[:400]
    if not described:
        source = _int(values.get("request"))
        described = f"{len(ids)} chosen bills" + (
            f" of fetch request #{source}" if source is not None else ""
        )
    return ids, described


def dhaka_moment(text: str) -> datetime | None:
    """A page's ``YYYY-MM-DDTHH:MM`` (Dhaka time) as naive UTC; None if it is no moment."""
    for fmt in MOMENT_FORMATS:
        try:
            # Dhaka time, as the page says: the zone is attached right away.
            local = datetime.strptime(text.strip(), fmt).replace(tzinfo=DHAKA)
        except ValueError:
            continue
        return local.astimezone(UTC).replace(tzinfo=None)
    return None


def schedule_from(values: MultiDict[str, str]) -> Schedule | None:
    """When the person chose to pay (``when``, ``start_at`` in Dhaka time, ``days_before``):
    None for "at once"; :class:`ServiceError` (``invalid_schedule``) for a choice that names
    no time. Whether the time is ahead is decided where the request is created (the
    database's clock)."""
    when = values.get("when", "now") or "now"
    if when not in WHEN:
        raise ServiceError("invalid_schedule", _("Choose when to pay."), "when")
    if when == "now":
        return None
    start = dhaka_moment(values.get("start_at", ""))
    if start is None:
        raise ServiceError(
            "invalid_schedule", _("Give the day and time to start (Dhaka time)."), "start_at"
        )
    if when == "at":
        return Schedule(start)
    days = _int(values.get("days_before"))
    if days is None or days > MAX_DAYS_BEFORE_DUE:
        raise ServiceError(
            "invalid_schedule",
            _(
                "Give how many days before each bill's due date to pay it (0 to %(most)s).",
                most=MAX_DAYS_BEFORE_DUE,
            ),
            "days_before",
        )
    return Schedule(start, days)


def pending_filter_of(data: dict[str, Any]) -> pending_bills.PendingFilter:
    return pending_bills.PendingFilter(
        utility=data.get("utility") or "",
        group_id=data.get("group_id"),
        due_from=data.get("due_from"),
        due_to=data.get("due_to"),
        fetch_request_id=data.get("fetch_request_id"),
        amount_min=data.get("amount_min"),
        amount_max=data.get("amount_max"),
        consumer=(data.get("consumer") or "").strip(),
    )


def from_body(body: dict[str, Any]) -> tuple[list[int], str]:
    cap = policy().max_bills
    if body.get("filter") is not None:
        found_filter = pending_filter_of(body["filter"])
        with engine().connect() as conn:
            ids = pending_bills.pending_ids(
                conn, found_filter, cap, max_bill_age=policy().max_bill_age
            )
        if len(ids) > cap:
            raise ValidationFailed(
                "too_many_bills", f"More than {cap:,} bills match: narrow the filter.", "filter"
            )
        return ids, found_filter.describe()
    ids = sorted(set(body["bill_ids"]))
    if len(ids) > cap:
        raise ValidationFailed(
            "too_many_bills", f"At most {cap:,} bills in one payment request.", "bill_ids"
        )
    return ids, f"{len(ids)} chosen bills"


__all__ = [
    "WHEN",
    "create_payment",
    "dhaka_moment",
    "from_body",
    "from_form",
    "from_selection",
    "login_id",
    "page_size",
    "pending_filter",
    "pending_filter_of",
    "policy",
    "schedule_from",
]
