"""Pages: pending bills, the confirmation page, a payment request's page and its actions,
one payment (resolve), search, needs-attention, the wallet breaker.

The confirm button cannot create a request twice: the confirmation page mints an
idempotency key that travels in its form, and the same key returns the request it created
(double click, back button, a second tab showing the same confirmation). A new visit to the
confirmation page mints a new key — a deliberate second request of the same bills is refused
anyway, because a bill can be in one live payment only.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bbp_portal.auth import current_user, login_required, role_required
from bbp_portal.billers.service import list_billers
from bbp_portal.bulk.kinds import RequestKind
from bbp_portal.bulk.publishing import relay
from bbp_portal.bulk.queries import CANCELLABLE, RequestRow
from bbp_portal.payments import attention as needs_attention
from bbp_portal.payments import export, operations, queries, selection, service
from bbp_portal.payments import pending as pending_bills
from bbp_portal.service_errors import NotFound, Refused, ServiceError
from bbp_portal.view_context import actor, engine, settings

bp = Blueprint("payments", __name__)
OPERATORS = ("admin", "superadmin")
#: Problems listed in a flash message before "and N more".
FLASH_PROBLEMS = 5


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
    with engine().connect() as conn:
        summary = pending_bills.summarise(
            conn,
            ids,
            max_bill_age=selection.policy().max_bill_age,
            approval_threshold=selection.policy().approval_threshold,
        )
    return render_template(
        "payments/confirm.html",
        summary=summary,
        described=described,
        key=secrets.token_urlsafe(24),
        payer=queries.mask_label(settings().payer_label) or _("the configured paying wallet"),
        threshold=selection.policy().approval_threshold,
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
    try:
        ids, described = selection.from_form(request.form)
        created = operations.create_payment(
            engine(),
            actor(),
            ids,
            key=request.form.get("idempotency_key", ""),
            policy=selection.policy(),
            selection=described,
            via="page",
            relay=relay(),
        )
    except Refused as exc:
        flash(_problem_text(exc), "danger")
        return redirect(url_for("payments.pending"))
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("payments.pending"))
    if created.existing:
        flash(_("This confirmation was already submitted: here is its request."), "info")
    elif created.awaiting_approval:
        flash(
            _(
                "Payment request created: its total is over the approval threshold, so it waits "
                "for another admin's approval."
            ),
            "warning",
        )
    else:
        flash(_("Paying %(count)s bills.", count=f"{created.items:,}"), "success")
    return redirect(url_for("requests.show", request_id=created.request_id))


# --------------------------------------------------------------------------- a payment request


def render_request(found: RequestRow) -> Any:
    """The payment request's page (``requests.show`` hands payment requests here)."""
    args = request.args
    state = args.get("state", "")
    try:
        payment_filter = queries.PaymentFilter(
            state=state if state in queries.STATES else "", q=args.get("q", "")[:64]
        )
    except ServiceError as exc:
        flash(exc.message, "warning")
        payment_filter = queries.PaymentFilter()
    with engine().connect() as conn:
        try:
            page = queries.list_payments(conn, found.id, payment_filter, cursor=args.get("cursor"))
        except ServiceError as exc:
            flash(exc.message, "warning")
            page = queries.list_payments(conn, found.id, payment_filter)
        entries = queries.history(conn, found.id)
    user = current_user()
    operates = bool(user and user.can_operate)
    keep = {k: v for k, v in payment_filter.as_dict().items() if v}
    return render_template(
        "requests/payment.html",
        req=found,
        progress=found.progress,
        page=page,
        filter=payment_filter,
        keep=keep,
        states=queries.STATES,
        buckets=queries.PAYMENT_BUCKETS,
        history=entries,
        can_decide=operates
        and found.state == "awaiting_approval"
        and user is not None
        and user.login_id.lower() != found.created_by.lower(),
        is_maker=bool(user and user.login_id.lower() == found.created_by.lower()),
        can_pause=operates and found.state in ("queued", "running"),
        can_resume=operates and found.state == "paused",
        can_cancel=operates and found.state in CANCELLABLE,
        can_resolve=bool(user and user.is_superadmin),
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


@bp.post("/requests/<int:request_id>/approve")
@role_required(*OPERATORS)
def approve(request_id: int) -> Any:
    return _request_action(
        request_id,
        _("Approved: the payments start now."),
        lambda: operations.approve(
            engine(),
            actor(),
            request_id,
            request.form.get("comment"),
            max_bill_age=selection.policy().max_bill_age,
            relay=relay(),
        ),
    )


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
    user = current_user()
    return render_template(
        "payments/show.html",
        d=detail,
        p=detail.payment,
        can_resolve=bool(user and user.is_superadmin) and detail.payment.state == "uncleared",
        can_acknowledge=bool(user and user.is_superadmin),
    )


@bp.post("/payments/<int:payment_id>/resolve")
@role_required("superadmin")
def resolve(payment_id: int) -> Any:
    try:
        state = operations.resolve(
            engine(),
            actor(),
            payment_id,
            request.form.get("resolution", ""),
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


@bp.post("/wallet/close")
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


PAYMENT = RequestKind(
    name="payment",
    page=render_request,
    cancel=service.cancel_request,
    export_header=export.EXPORT_HEADER,
    export_rows=export.export_rows,
    export_name="payment-request-{id}-payments",
)
"""Payment requests on the pages every request shares (registered by ``create_app``)."""


__all__ = ["PAYMENT", "bp", "render_request"]
