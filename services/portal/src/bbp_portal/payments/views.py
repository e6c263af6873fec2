"""Pages: pending bills, the confirmation page, a payment request's page and its actions,
one payment, search, needs-attention, the wallet breaker; and the routes of the decisions
(``decisions``: the approve page, resolving, closing the breaker).

The confirm button cannot create a request twice: the confirmation page mints an
idempotency key that travels in its form, and the same key returns the request it created
(double click, back button, a second tab showing the same confirmation). A new visit to the
confirmation page mints a new key — a deliberate second request of the same bills is refused
anyway, because a bill can be in one live payment only.

Step-up (``bbp_portal.auth.stepup``): the confirmation page of a request that would be sent
at once sends the person to the step-up pages first, for this confirmation's key; the step-up
brings them back with the same key.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bbp_portal.auth import current_user, login_required, role_required, safe_next, step_up_fresh
from bbp_portal.billers.service import list_billers
from bbp_portal.bulk.kinds import RequestKind
from bbp_portal.bulk.publishing import relay
from bbp_portal.bulk.queries import CANCELLABLE, RequestRow
from bbp_portal.payments import (
    approvals,
    decisions,
    export,
    live,
    operations,
    queries,
    selection,
    service,
)
from bbp_portal.payments import attention as needs_attention
from bbp_portal.payments import pending as pending_bills
from bbp_portal.service_errors import Forbidden, NotFound, Refused, ServiceError
from bbp_portal.view_context import actor, engine, settings

bp = Blueprint("payments", __name__)
OPERATORS = ("admin", "superadmin")
#: Problems listed in a flash message before "and N more".
FLASH_PROBLEMS = 5
#: A confirmation key as the page mints it (``secrets.token_urlsafe(24)``).
KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# --------------------------------------------------------------------------- pending bills


@bp.get("/payments/pending")
@login_required
def pending() -> Any:
    try:
        found_filter = selection.pending_filter(request.args)
    except ServiceError as exc:
        flash(exc.message, "warning")
        found_filter = pending_bills.PendingFilter()
    with engine().connect() as conn:
        try:
            page = pending_bills.list_pending(
                conn,
                found_filter,
                max_bill_age=selection.policy().max_bill_age,
                cursor=request.args.get("cursor"),
            )
        except ServiceError as exc:
            flash(exc.message, "warning")
            page = pending_bills.list_pending(
                conn, found_filter, max_bill_age=selection.policy().max_bill_age
            )
        billers = list_billers(conn)
        group_rows = pending_bills.groups(conn)
    keep = {k: v for k, v in found_filter.as_dict().items() if v not in (None, "")}
    return render_template(
        "payments/pending.html",
        page=page,
        filter=found_filter,
        keep=keep,
        billers=billers,
        groups=group_rows,
        max_age_hours=round(selection.policy().max_bill_age.total_seconds() / 3600, 1),
    )


@bp.get("/payments/new")
@role_required(*OPERATORS)
def confirm() -> Any:
    kept: dict[str, Any] = {
        k: v
        for k, v in request.args.items()
        if k in ("utility", "group_id", "due_from", "due_to", "request")
    }
    back = url_for("payments.pending", **kept)
    try:
        ids, described = selection.from_form(request.args)
    except ServiceError as exc:
        flash(exc.message, "warning")
        return redirect(back)
    if not ids:
        flash(_("Tick at least one bill to pay."), "warning")
        return redirect(back)
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
    return render_template(
        "payments/confirm.html",
        summary=summary,
        described=described,
        key=key,
        here=here,
        payer=queries.mask_label(settings().payer_label) or _("the configured paying wallet"),
        threshold=policy.approval_threshold,
        outlook=outlook,
        step_up_needed=policy.step_up and not outlook.needs_approval,
        step_up_until=decisions.until("pay", key),
        step_up_url=decisions.step_up_url("pay", key, here),
        back=back,
    )


def _problem_text(exc: Refused) -> str:
    listed = list(exc.details.items())
    parts = [f"bill {bill_id}: {problem}" for bill_id, problem in listed[:FLASH_PROBLEMS]]
    more = len(listed) - FLASH_PROBLEMS
    text = exc.message + " " + "; ".join(parts)
    return text + (" " + _("and %(n)s more.", n=more) if more > 0 else "")


@bp.post("/payments")
@role_required(*OPERATORS)
def create() -> Any:
    key = request.form.get("idempotency_key", "")
    try:
        ids, described = selection.from_form(request.form)
        created = operations.create_payment(
            engine(),
            actor(),
            ids,
            key=key,
            policy=selection.policy(),
            selection=described,
            via="page",
            relay=relay(),
            stepped_up=step_up_fresh("pay", key),
            refuse_without_step_up=True,
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
        return redirect(decisions.step_up_url("pay", key, here) if KEY.match(key) else here)
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("payments.pending"))
    if created.existing:
        flash(_("This confirmation was already submitted: here is its request."), "info")
    elif created.awaiting_approval:
        flash(
            _(
                "Payment request created: it is over an approval limit, so it waits for "
                "another admin's approval. Nothing is paid before that."
            ),
            "warning",
        )
    else:
        flash(_("Paying %(count)s bills.", count=f"{created.items:,}"), "success")
    return redirect(url_for("requests.show", request_id=created.request_id))


# --------------------------------------------------------------------------- a payment request


def render_request(found: RequestRow) -> Any:
    """The payment request's page (``requests.show`` hands payment requests here); its live
    part (rows, progress, why it waits) is ``live.request_context``'s, polled after."""
    with engine().connect() as conn:
        entries = queries.history(conn, found.id)
        reasons = operations.approval_reasons_of(conn, found.id)
    user = current_user()
    operates = bool(user and user.can_operate)
    is_maker = bool(user and user.login_id.lower() == found.created_by.lower())
    return render_template(
        "requests/payment.html",
        **live.request_context(found),
        history=entries,
        can_decide=operates
        and found.state == "awaiting_approval"
        and user is not None
        and user.login_id.lower() != found.created_by.lower(),
        is_maker=is_maker,
        maker_confirms=operates
        and is_maker
        and found.state == "awaiting_approval"
        and reasons == ("step_up",)
        and selection.policy().step_up,
        can_pause=operates and found.state in ("queued", "running"),
        can_resume=operates and found.state == "paused",
        can_cancel=operates and found.state in CANCELLABLE,
    )


def _request_action(request_id: int, done: str, run: Any) -> Any:
    try:
        run()
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(done, "success")
    return redirect(url_for("requests.show", request_id=request_id))


@bp.post("/requests/<int:request_id>/reject")
@role_required(*OPERATORS)
def reject(request_id: int) -> Any:
    return _request_action(
        request_id,
        _("Rejected: none of its payments will be made; the bills are free again."),
        lambda: operations.reject(engine(), actor(), request_id, request.form.get("comment")),
    )


@bp.post("/requests/<int:request_id>/pause")
@role_required(*OPERATORS)
def pause(request_id: int) -> Any:
    return _request_action(
        request_id,
        _("Paused: nothing more is sent; payments already on their way finish."),
        lambda: operations.pause(
            engine(), actor(), request_id, request.form.get("comment"), relay=relay()
        ),
    )


@bp.post("/requests/<int:request_id>/resume")
@role_required(*OPERATORS)
def resume(request_id: int) -> Any:
    return _request_action(
        request_id,
        _("Resumed."),
        lambda: operations.resume(
            engine(), actor(), request_id, request.form.get("comment"), relay=relay()
        ),
    )


# --------------------------------------------------------------------------- one payment


@bp.get("/payments/<int:payment_id>")
@login_required
def show(payment_id: int) -> Any:
    with engine().connect() as conn:
        try:
            detail = queries.get_payment(conn, payment_id)
        except NotFound:
            abort(404)
        enquiry = live.payment_enquiry(detail.payment, conn)
    user = current_user()
    return render_template(
        "payments/show.html",
        d=detail,
        p=detail.payment,
        enquiry=enquiry,
        shown=detail.payment.state,
        can_check=bool(user and user.is_superadmin) and enquiry.can_check,
        can_resolve=bool(user and user.is_superadmin) and detail.payment.state == "uncleared",
        can_acknowledge=bool(user and user.is_superadmin),
    )


# --------------------------------------------------------------------------- search


@bp.get("/payments/search")
@login_required
def search() -> Any:
    q = request.args.get("q", "")
    found: list[Any] = []
    if q.strip():
        with engine().connect() as conn:
            try:
                found = queries.search(conn, q)
            except ServiceError as exc:
                flash(exc.message, "warning")
    return render_template("payments/search.html", q=q, found=found)


# --------------------------------------------------------------------------- attention, wallet


@bp.get("/attention")
@login_required
def attention() -> Any:
    with engine().connect() as conn:
        found = needs_attention.attention(conn)
    user = current_user()
    return render_template(
        "payments/attention.html",
        a=found,
        can_acknowledge=bool(user and user.is_superadmin),
    )


@bp.post("/attention/anomalies/<int:anomaly_id>/acknowledge")
@role_required("superadmin")
def acknowledge(anomaly_id: int) -> Any:
    try:
        operations.acknowledge_anomaly(engine(), actor(), anomaly_id, request.form.get("comment"))
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Acknowledged."), "success")
    return redirect(url_for("payments.attention"))


@bp.get("/wallet")
@login_required
def wallet() -> Any:
    with engine().connect() as conn:
        found = needs_attention.breaker(conn)
    user = current_user()
    return render_template(
        "payments/wallet.html",
        b=found,
        payer=queries.mask_label(settings().payer_label),
        can_close=bool(user and user.is_superadmin) and found.state == "open",
    )


# The decisions (decisions.py), on this blueprint: endpoints payments.<view>.
for _rule, _view, _methods in (
    ("/requests/<int:request_id>/approve", decisions.decide, ["GET"]),
    ("/requests/<int:request_id>/approve", decisions.approve, ["POST"]),
    ("/payments/<int:payment_id>/resolve", decisions.resolve, ["POST"]),
    ("/wallet/close", decisions.close_breaker_confirm, ["GET"]),
    ("/wallet/close", decisions.close_breaker, ["POST"]),
):
    bp.add_url_rule(_rule, view_func=_view, methods=_methods)


PAYMENT = RequestKind(
    name="payment",
    page=render_request,
    live=live.render_request_live,
    cancel=service.cancel_request,
    export_header=export.EXPORT_HEADER,
    export_rows=export.export_rows,
    export_name="payment-request-{id}-payments",
)
"""Payment requests on the pages every request shares (registered by ``create_app``)."""


__all__ = ["PAYMENT", "bp", "render_request"]
