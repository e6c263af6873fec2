"""The confirmation page of a new payment request and its confirm button: what it will pay
(the bills chosen on the pending page, or — "pay again" — the bills a fresh fetch found for
what a finished request offers), when (at once, at a time, or each payment some days before
its bill's due date), why it may wait for approval, and the step-up. ``views`` routes to
them (endpoints ``payments.confirm`` and ``payments.create``).

The confirm button cannot create a request twice: the confirmation page mints an
idempotency key that travels in its form, and the same key returns the request it created
(double click, back button, a second tab showing the same confirmation). A new visit to the
confirmation page mints a new key — a deliberate second request of the same bills is refused
anyway, because a bill can be in one live payment only.

Step-up (``bbp_portal.auth.stepup``): the confirmation page of a request that would be paid
without approval sends the person to the step-up pages first, for this confirmation's key;
the step-up brings them back with the same key (and the schedule they chose: it travels in
the page's address).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from bbp_portal.auth import OPERATORS, role_required, safe_next, step_up_until
from bbp_portal.localtime import dhaka
from bbp_portal.payments import again, approvals, basket, queries, selection
from bbp_portal.payments import pending as pending_bills
from bbp_portal.service_errors import Forbidden, NotFound, Refused, ServiceError
from bbp_portal.view_context import actor, engine, settings

#: Problems listed in a flash message before "and N more".
FLASH_PROBLEMS = 5
#: Bills listed per page of the confirmation.
BILLS_PER_PAGE = 50
#: The pending filter's parameters, kept for the way back.
FILTER_KEYS = (
    "utility",
    "group_id",
    "due_from",
    "due_to",
    "request",
    "amount_min",
    "amount_max",
    "consumer",
)
#: A confirmation key as the page mints it (``secrets.token_urlsafe(24)``).
KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def step_up_url(key: str, back: str) -> str:
    return url_for("auth.step_up", action="pay", target=key, next=back)


def step_up_ends(key: str) -> datetime | None:
    """When this session's step-up for this confirmation ends (UTC), if it is fresh."""
    until = step_up_until("pay", key)
    return datetime.fromtimestamp(until, UTC) if until else None


def _again_of(values: Any) -> int | None:
    text = values.get("again", "")
    return int(text) if text.isdigit() else None


def _chosen(values: Any) -> tuple[list[int], str, int | None]:
    """The bills a confirmation pays: chosen on the pending page, or — ``again`` — the bills a
    "pay again" fetch (``request``) found for what its source request offers."""
    again_of = _again_of(values)
    if again_of is None:
        ids, described = selection.from_form(values)
        return ids, described, None
    fetch_id = int(values.get("request", "0") or 0)
    with engine().connect() as conn:
        ids, gone = again.fetched_bills(conn, again_of, fetch_id)
    if gone:
        flash(
            _(
                "%(n)s of the bills that failed are no longer pending: they are left out.",
                n=f"{gone:,}",
            ),
            "info",
        )
    return ids, f"pay again: bills that failed in payment request #{again_of}", again_of


def _schedule_or_none(values: Any) -> tuple[Any, str | None]:
    """The schedule chosen (None: at once), and a message when the choice is unusable."""
    try:
        return selection.schedule_from(values), None
    except ServiceError as exc:
        return None, exc.message


@role_required(*OPERATORS)
def confirm() -> Any:
    kept: dict[str, Any] = {k: v for k, v in request.args.items() if k in FILTER_KEYS}
    back = url_for("payments.pending", **kept)
    if _again_of(request.args) is not None:
        back = url_for("requests.show", request_id=_again_of(request.args))
    try:
        ids, described, again_of = _chosen(request.args)
    except (NotFound, ValueError):
        abort(404)
    except ServiceError as exc:
        flash(exc.message, "warning")
        return redirect(back)
    if not ids:
        flash(_("Tick at least one bill to pay."), "warning")
        return redirect(back)
    schedule, schedule_problem = _schedule_or_none(request.args)
    if schedule_problem:
        flash(schedule_problem, "warning")
    # The key of this confirmation: kept when the step-up brings the person back here.
    key = request.args.get("key", "")
    if not KEY.match(key):
        key = secrets.token_urlsafe(24)
    args: dict[str, Any] = request.args.to_dict(flat=False)
    args["key"] = [key]
    here = url_for("payments.confirm", **args)
    policy = selection.policy()
    user = actor()
    with engine().connect() as conn:
        summary = pending_bills.summarise(
            conn,
            ids,
            max_bill_age=policy.max_bill_age,
            approval_threshold=policy.approval_threshold,
        )
        outlook = approvals.outlook(conn, user.login_id, summary.total, policy.limits)
        moments = pending_bills.due_moments(conn, ids, schedule) if schedule else None
        listing = _listing(conn, summary, request.args)
        uncharged = basket.uncharged_billers(conn, {b.utility_code for b in summary.billers})
    return render_template(
        "payments/confirm.html",
        summary=summary,
        listing=listing,
        bills_page_url=lambda n: url_for("payments.confirm", **{**args, "bills_page": [str(n)]}),
        uncharged=uncharged,
        from_selection=request.args.get("scope") == "selection",
        described=described,
        again_of=again_of,
        schedule=schedule,
        moments=moments,
        when=request.args.get("when", "now") if schedule else "now",
        start_value=request.args.get("start_at", "") if schedule else "",
        days_value=request.args.get("days_before", "") if schedule else "",
        kept_args=[
            (k, v)
            for k, v in request.args.items(multi=True)
            if k not in ("when", "start_at", "days_before")
        ],
        key=key,
        here=here,
        payer=queries.mask_label(settings().payer_label) or _("the configured paying wallet"),
        threshold=policy.approval_threshold,
        outlook=outlook,
        step_up_needed=policy.step_up and not outlook.needs_approval,
        step_up_until=step_up_ends(key),
        step_up_url=step_up_url(key, here),
        back=back,
    )


def _listing(conn: Any, summary: pending_bills.Summary, values: Any) -> dict[str, Any]:
    """One page of the chosen bills (``bills_page``, 50 a page, bill id order), each with the
    problem that keeps it from being paid, if any."""
    pages = max(1, -(-len(summary.bill_ids) // BILLS_PER_PAGE))
    text = values.get("bills_page", "1")
    number = min(max(int(text) if text.isdigit() else 1, 1), pages)
    chunk = summary.bill_ids[(number - 1) * BILLS_PER_PAGE : number * BILLS_PER_PAGE]
    problems = {p.bill_id: p.problem for p in summary.problems}
    return {
        "bills": basket.bills_of(conn, chunk),
        "problems": problems,
        "page": number,
        "pages": pages,
        "first": (number - 1) * BILLS_PER_PAGE + 1,
        "last": (number - 1) * BILLS_PER_PAGE + len(chunk),
    }


def _problem_text(exc: Refused) -> str:
    listed = list(exc.details.items())
    parts = [f"bill {bill_id}: {problem}" for bill_id, problem in listed[:FLASH_PROBLEMS]]
    more = len(listed) - FLASH_PROBLEMS
    text = exc.message + " " + "; ".join(parts)
    return text + (" " + _("and %(n)s more.", n=more) if more > 0 else "")


@role_required(*OPERATORS)
def create() -> Any:
    key = request.form.get("idempotency_key", "")
    try:
        again_of = _again_of(request.form)
        ids, described = selection.from_form(request.form)
        created = selection.create_payment(
            ids,
            described,
            key,
            "page",
            refuse_without_step_up=True,
            schedule=selection.schedule_from(request.form),
            again=again_of,
        )
    except Refused as exc:
        flash(_problem_text(exc), "danger")
        return redirect(url_for("payments.pending"))
    except Forbidden as exc:
        if exc.code != "step_up_required":
            raise
        # The step-up ended (or was never made): make it, then come back to this confirmation.
        here = safe_next(request.form.get("confirm_url")) or url_for("payments.pending")
        flash(_("Confirm it is you first: a step-up lasts a few minutes only."), "warning")
        return redirect(step_up_url(key, here) if KEY.match(key) else here)
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("payments.pending"))
    # The bills paid leave the person's selection (their payments hold them now). The
    # confirmation posts the very ids it listed, so a tick in another tab meanwhile changes
    # nothing of what is paid.
    with engine().begin() as conn:
        basket.remove(conn, selection.login_id(), ids)
    if created.existing:
        flash(_("This confirmation was already submitted: here is its request."), "info")
    elif created.start_at is not None:
        flash(
            _(
                "Payment request scheduled: it starts at %(time)s (Dhaka time). Each bill is "
                "fetched again just before it is paid.",
                time=f"{dhaka(created.start_at):%Y-%m-%d %H:%M}",
            )
            + (
                " " + _("It waits for another admin's approval first.")
                if created.awaiting_approval
                else ""
            ),
            "success",
        )
    elif created.awaiting_approval:
        flash(
            _(
                "Payment request created: it is over an approval limit, so it waits for "
                "another admin's approval. Nothing is paid before that."
            ),
            "warning",
        )
    else:
        flash(
            ngettext(
                "Paying %(count)s bill.",
                "Paying %(count)s bills.",
                created.items,
                count=f"{created.items:,}",
            ),
            "success",
        )
    return redirect(url_for("requests.show", request_id=created.request_id))


__all__ = ["confirm", "create"]
