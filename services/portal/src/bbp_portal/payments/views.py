"""Pages: pending bills, a payment request's page and its actions, one payment, search,
needs-attention, the wallet breaker; and the routes of the confirmation page
(``confirming``), the decisions (``decisions``: the approve page, resolving, closing the
breaker) and of scheduled payments and "pay again" (``scheduling``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bbp_portal.auth import OPERATORS, current_user, login_required, role_required
from bbp_portal.billers.service import list_billers
from bbp_portal.bulk.kinds import RequestKind
from bbp_portal.bulk.publishing import relay
from bbp_portal.bulk.queries import CANCELLABLE, RequestRow
from bbp_portal.payments import attention as needs_attention
from bbp_portal.payments import (
    basket,
    choosing,
    confirming,
    decisions,
    export,
    live,
    operations,
    queries,
    resolving,
    scheduling,
    selection,
    service,
    uncleared,
)
from bbp_portal.payments import pending as pending_bills
from bbp_portal.service_errors import NotFound, ServiceError
from bbp_portal.view_context import actor, engine, settings

bp = Blueprint("payments", __name__)


# --------------------------------------------------------------------------- pending bills


@bp.get("/payments/pending")
@login_required
def pending() -> Any:
    """Pending bills, filtered and paged; an operator's ticks go to their server-side
    selection (``choosing``), whose running count and total the sticky bar shows."""
    try:
        found_filter = selection.pending_filter(request.args)
    except ServiceError as exc:
        flash(exc.message, "warning")
        found_filter = pending_bills.PendingFilter()
    size = selection.page_size(request.args)
    user = current_user()
    operates = bool(user and user.can_operate)
    with engine().connect() as conn:
        try:
            page = pending_bills.list_pending(
                conn,
                found_filter,
                max_bill_age=selection.policy().max_bill_age,
                cursor=request.args.get("cursor"),
                limit=size,
            )
        except ServiceError as exc:
            flash(exc.message, "warning")
            page = pending_bills.list_pending(
                conn, found_filter, max_bill_age=selection.policy().max_bill_age, limit=size
            )
        billers = list_billers(conn)
        group_rows = pending_bills.groups(conn)
        ticked = (
            basket.ticked_among(conn, selection.login_id(), [b.id for b in page.items])
            if operates
            else set()
        )
        in_payments = (
            pending_bills.already_in_payments(conn, found_filter.fetch_request_id)
            if found_filter.fetch_request_id is not None
            else 0
        )
    # Billers on this page that take no service charge with the bill: the page says why.
    on_page = {b.utility_code for b in page.items}
    uncharged = [b for b in billers if b.utility_code in on_page and not b.pays_service_charge]
    keep = {k: v for k, v in found_filter.as_dict().items() if v not in (None, "")}
    if size != pending_bills.PAGE_SIZES[0]:
        keep["size"] = size
    return render_template(
        "payments/pending.html",
        page=page,
        filter=found_filter,
        keep=keep,
        size=size,
        sizes=sorted(pending_bills.PAGE_SIZES),
        billers=billers,
        groups=group_rows,
        ticked=ticked,
        in_payments=in_payments,
        uncharged=uncharged,
        max_age_hours=round(selection.policy().max_bill_age.total_seconds() / 3600, 1),
        **(choosing.bar_context(selection.login_id()) if operates else {}),
    )


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
    counts = found.progress.buckets if found.progress else {}
    context = live.request_context(found)
    return render_template(
        "requests/payment.html",
        **context,
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
        # Something failed or was never sent: "pay again" looks at which bills it offers.
        can_pay_again=operates
        and found.state == "finished"
        and bool(counts.get("failed", 0) or counts.get("unsent", 0)),
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
        waiting = uncleared.pending_in(conn, [payment_id]).get(payment_id)
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
        waiting_resolution=waiting,
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


# The confirmation (confirming.py), the decisions (decisions.py), bulk resolution
# (resolving.py) and scheduled payments and "pay again" (scheduling.py), on this blueprint:
# endpoints payments.<view> (``resolutions_index`` is ``payments.resolutions``).
for _rule, _view, _methods in (
    ("/payments/new", confirming.confirm, ["GET"]),
    ("/payments/selection", choosing.choose, ["POST"]),
    ("/payments", confirming.create, ["POST"]),
    ("/requests/<int:request_id>/approve", decisions.decide, ["GET"]),
    ("/requests/<int:request_id>/approve", decisions.approve, ["POST"]),
    ("/payments/<int:payment_id>/resolve", decisions.resolve, ["POST"]),
    ("/payments/resolve-many", resolving.resolve_many, ["GET", "POST"]),
    ("/payments/resolve-many/<key>", resolving.resolve_many_confirm, ["GET"]),
    ("/payments/resolve-many/<key>", resolving.resolve_many_apply, ["POST"]),
    ("/payments/resolutions", resolving.resolutions_index, ["GET"]),
    ("/payments/resolutions/<int:resolution_id>", resolving.resolution, ["GET"]),
    ("/payments/resolutions/<int:resolution_id>/approve", resolving.approve_resolution, ["POST"]),
    ("/payments/resolutions/<int:resolution_id>/reject", resolving.reject_resolution, ["POST"]),
    ("/wallet/close", decisions.close_breaker_confirm, ["GET"]),
    ("/wallet/close", decisions.close_breaker, ["POST"]),
    ("/requests/<int:request_id>/pay-again", scheduling.pay_again, ["POST"]),
    ("/requests/<int:request_id>/changed/approve", scheduling.approve_changed, ["POST"]),
    ("/requests/<int:request_id>/changed/cancel", scheduling.cancel_changed, ["POST"]),
):
    _name = "resolutions" if _view is resolving.resolutions_index else _view.__name__
    bp.add_url_rule(_rule, endpoint=_name, view_func=_view, methods=_methods)


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
