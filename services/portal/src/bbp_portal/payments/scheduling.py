"""The actions of scheduled payments and of "pay again", on a payment request's page:

* a scheduled payment whose amount changed at the fetch before paying waits for a person —
  another admin approves the new amounts (with a step-up, like approving a request), or
  someone cancels those payments;
* "pay again what failed" of a finished request starts a fetch of the bills it offers; the
  fetch's page leads to the usual confirmation (``views.confirm`` with ``again``).

``views`` routes to them (endpoints ``payments.*``); the writes are ``operations``'.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from bbp_portal.auth import OPERATORS, refused_or_step_up, role_required, step_up_fresh
from bbp_portal.bulk.publishing import relay
from bbp_portal.payments import operations, selection
from bbp_portal.service_errors import Forbidden, NotFound, ServiceError
from bbp_portal.view_context import actor, engine


def _page(request_id: int) -> Any:
    return redirect(url_for("requests.show", request_id=request_id))


@role_required(*OPERATORS)
def approve_changed(request_id: int) -> Any:
    """Approve the new amounts (a checker, with a step-up for this request)."""
    try:
        approved = operations.approve_changed(
            engine(),
            actor(),
            request_id,
            request.form.get("comment"),
            policy=selection.policy(),
            stepped_up=step_up_fresh("approve", str(request_id)),
        )
    except NotFound:
        abort(404)
    except Forbidden as exc:
        return refused_or_step_up(
            exc, "approve", request_id, url_for("requests.show", request_id=request_id)
        )
    except ServiceError as exc:
        flash(exc.message, "danger")
        return _page(request_id)
    flash(
        _(
            "New amounts approved for %(n)s payments: each bill is fetched once more and paid "
            "if its amount is still the one you approved.",
            n=f"{approved:,}",
        ),
        "success",
    )
    return _page(request_id)


@role_required(*OPERATORS)
def cancel_changed(request_id: int) -> Any:
    try:
        cancelled = operations.cancel_changed(
            engine(), actor(), request_id, request.form.get("comment")
        )
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.message, "danger")
        return _page(request_id)
    flash(
        ngettext(
            "%(count)s payment cancelled: its bill is free again.",
            "%(count)s payments cancelled: their bills are free again.",
            cancelled,
            count=f"{cancelled:,}",
        ),
        "success",
    )
    return _page(request_id)


@role_required(*OPERATORS)
def pay_again(request_id: int) -> Any:
    """Step one of "pay again": fetch the bills it offers again, then confirm on that page."""
    try:
        created = operations.pay_again(engine(), actor(), request_id, relay=relay())
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(
            _("Nothing of this request can be paid again.")
            if exc.code == "nothing_to_pay_again"
            else exc.message,
            "warning",
        )
        return _page(request_id)
    flash(
        _(
            "Fetching those bills again first. When it is done, confirm the new payment "
            "request here."
        ),
        "success",
    )
    return redirect(url_for("requests.show", request_id=created.request_id))


__all__ = ["approve_changed", "cancel_changed", "pay_again"]
