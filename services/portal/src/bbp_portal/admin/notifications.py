"""Notifications that could not be delivered (superadmins): see why, and send one again.

"Send again" writes a new ``command.notify`` for the same notification (same recipient,
template and params) in one transaction with the row's move back to ``pending``, and is
audited. The list shows failed (permanent: a bad address, a broken template, a refusal) and
dead (the mail server or SMS gateway kept failing until the attempts ran out).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from bbp_portal.auth.access import current_user, role_required
from bbp_portal.context import record, services
from bbp_portal.notices import NotResendable

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE_SIZE = 50


class ResendForm(FlaskForm):
    """Only the CSRF token: sending again is a POST."""


@bp.get("/")
@role_required("superadmin")
def index() -> Any:
    before = request.args.get("before", "")
    notices, next_before = services().notices.undelivered(
        before_id=int(before) if before.isdigit() else None, limit=PAGE_SIZE
    )
    return render_template(
        "admin/notifications.html",
        notices=notices,
        form=ResendForm(),
        next_url=url_for("notifications.index", before=next_before) if next_before else None,
        first_url=url_for("notifications.index") if before else None,
    )


@bp.post("/<notification_id>/resend")
@role_required("superadmin")
def resend(notification_id: str) -> Any:
    if not ResendForm().validate_on_submit():
        abort(400)
    user = current_user()
    assert user is not None
    try:
        services().notices.resend(notification_id, user.login_id)
    except NotResendable:
        record(
            "notification_resend",
            actor=user.login_id,
            outcome="failed",
            target_type="notification",
            target_id=notification_id,
            reason="not_failed_or_dead",
        )
        flash(_("That notification is not failed or dead (any more)."), "warning")
        return redirect(url_for("notifications.index"))
    record(
        "notification_resend",
        actor=user.login_id,
        target_type="notification",
        target_id=notification_id,
    )
    flash(_("The notification will be sent again."), "success")
    return redirect(url_for("notifications.index"))
