"""The pages of a decision that moves money or judges it: approving a payment request (its
page says why it waits and what approving does, and asks for the step-up), resolving an
uncleared payment and closing the wallet breaker (each shows what will happen, on a page of
its own, before anything changes). ``views`` routes to them (endpoints ``payments.*``).

The step-up itself is ``bbp_portal.auth.stepup``: these views send the person there, for this
action on this target, and ask ``step_up_fresh`` when they come back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bbp_portal.auth import (
    OPERATORS,
    refused_or_step_up,
    role_required,
    step_up_fresh,
    step_up_until,
)
from bbp_portal.bulk.publishing import relay
from bbp_portal.payments import approvals, operations, queries, selection
from bbp_portal.payments import attention as needs_attention
from bbp_portal.service_errors import Forbidden, NotFound, ServiceError
from bbp_portal.view_context import actor, engine, settings


def step_up_url(action: str, target: object, back: str) -> str:
    return url_for("auth.step_up", action=action, target=str(target), next=back)


def until(action: str, target: object) -> datetime | None:
    """When this session's step-up for the action ends (UTC), if it is fresh."""
    until = step_up_until(action, str(target))
    return datetime.fromtimestamp(until, UTC) if until else None


# --------------------------------------------------------------------------- approving


@role_required(*OPERATORS)
def decide(request_id: int) -> Any:
    """The approve page: what approving starts, why it waits, the step-up, the decision."""
    with engine().connect() as conn:
        try:
            found = approvals.waiting(conn, request_id)
        except NotFound:
            abort(404)
    if found.state != "awaiting_approval":
        flash(_("This request is not waiting for approval."), "info")
        return redirect(url_for("requests.show", request_id=request_id))
    user = actor()
    is_maker = user.login_id.lower() == found.created_by.lower()
    # Its maker may confirm a request that waits only for their step-up (made via the API).
    maker_confirms = is_maker and found.reasons == ("step_up",) and selection.policy().step_up
    here = url_for("payments.decide", request_id=request_id)
    return render_template(
        "payments/approve.html",
        w=found,
        is_maker=is_maker,
        maker_confirms=maker_confirms,
        can_decide=not is_maker or maker_confirms,
        limits=selection.policy().limits,
        payer=queries.mask_label(settings().payer_label) or _("the configured paying wallet"),
        step_up_needed=selection.policy().step_up,
        step_up_until=until("approve", request_id),
        step_up_url=step_up_url("approve", request_id, here),
    )


@role_required(*OPERATORS)
def approve(request_id: int) -> Any:
    here = url_for("payments.decide", request_id=request_id)
    try:
        operations.approve(
            engine(),
            actor(),
            request_id,
            request.form.get("comment"),
            max_bill_age=selection.policy().max_bill_age,
            relay=relay(),
            step_up_required=selection.policy().step_up,
            stepped_up=step_up_fresh("approve", str(request_id)),
        )
    except NotFound:
        abort(404)
    except Forbidden as exc:
        return refused_or_step_up(exc, "approve", request_id, here)
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(here)
    with engine().connect() as conn:
        scheduled = approvals.waiting(conn, request_id).start_at is not None
    flash(
        _("Approved: it starts at its time.")
        if scheduled
        else _("Approved: the payments start now."),
        "success",
    )
    return redirect(url_for("requests.show", request_id=request_id))


# --------------------------------------------------------------------------- resolving


@role_required("superadmin")
def resolve(payment_id: int) -> Any:
    """Two steps: the form on the payment's page shows what will happen (nothing changes);
    that page's button, with ``confirmed``, resolves it."""
    resolution = request.form.get("resolution", "")
    if request.form.get("confirmed") != "1":
        return _resolve_confirmation(payment_id, resolution)
    try:
        state = operations.resolve(
            engine(),
            actor(),
            payment_id,
            resolution,
            request.form.get("comment"),
            payment_sms=settings(),
            relay=relay(),
        )
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        if state == "failed":
            flash(_("Resolved as not paid: the bill can be paid again."), "success")
        else:
            flash(_("Resolved as paid."), "success")
    return redirect(url_for("payments.show", payment_id=payment_id))


def _resolve_confirmation(payment_id: int, resolution: str) -> Any:
    """The confirm step of resolving: what "paid" or "not paid" will do to this payment."""
    back = redirect(url_for("payments.show", payment_id=payment_id) + "#resolve")
    with engine().connect() as conn:
        try:
            detail = queries.get_payment(conn, payment_id)
        except NotFound:
            abort(404)
    if detail.payment.state != "uncleared":
        flash(_("Only an uncleared payment is resolved by a person."), "warning")
        return back
    if resolution not in operations.RESOLUTIONS:
        flash(_('Choose "It was paid" or "It was not paid".'), "warning")
        return back
    comment = " ".join((request.form.get("comment") or "").split())
    if not comment:
        flash(_("Say what Mobiquity's report shows: a comment is required."), "warning")
        return back
    if len(comment) > operations.COMMENT_MAX:
        flash(_("The comment is at most %(n)s characters.", n=operations.COMMENT_MAX), "warning")
        return back
    return render_template(
        "payments/resolve_confirm.html",
        d=detail,
        p=detail.payment,
        resolution=resolution,
        comment=comment,
        payment_sms=settings().notify_payment_sms,
    )


# --------------------------------------------------------------------------- the wallet breaker


@role_required("superadmin")
def close_breaker_confirm() -> Any:
    """The confirm step of closing the breaker: what it was opened for, what closing does."""
    with engine().connect() as conn:
        found = needs_attention.breaker(conn)
    if found.state != "open":
        flash(_("The breaker is not open: there is nothing to close."), "info")
        return redirect(url_for("payments.wallet"))
    return render_template(
        "payments/wallet_close.html", b=found, payer=queries.mask_label(settings().payer_label)
    )


@role_required("superadmin")
def close_breaker() -> Any:
    try:
        operations.close_wallet_breaker(engine(), actor(), request.form.get("comment"))
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(
            _("Breaker closed: payments resume one at a time until one proves the wallet."),
            "success",
        )
    return redirect(url_for("payments.wallet"))


__all__ = [
    "approve",
    "close_breaker",
    "close_breaker_confirm",
    "decide",
    "resolve",
    "step_up_url",
    "until",
]
