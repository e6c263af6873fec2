"""The API-token pages: my tokens (make one after a step-up, see it once, revoke), and every
user's tokens for a superadmin (revoke).

Making a token: ``/tokens/new`` mints a key for this page; without a fresh step-up of this
session for that key (action ``token``, asked even when ``BBP_STEP_UP`` is off) the page
offers "Confirm it is you", which comes back here; then the form. Creating uses the step-up
up (one step-up, one token) and answers the one page that shows the token — the only place
it ever appears (the response is ``no-store``, like every page).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from bbp_portal.api_tokens import service
from bbp_portal.api_tokens.forms import ROLE_LABELS, NewTokenForm, RevokeForm
from bbp_portal.api_tokens.store import TokenRow
from bbp_portal.auth import (
    current_user,
    forget_step_up,
    login_required,
    role_required,
    safe_next,
    step_up_fresh,
    step_up_until,
)
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import actor, engine

bp = Blueprint("api_tokens", __name__, url_prefix="/tokens")

KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PAGE = 100

STATES = {
    "active": _l("active"),
    "expired": _l("expired"),
    "revoked": _l("revoked"),
    "user_disabled": _l("user disabled"),
    "role_withdrawn": _l("role withdrawn"),
}
REVOKED_BY = {
    "owner": _l("by its user"),
    "superadmin": _l("by a superadmin"),
    "user_disabled": _l("when its user was disabled"),
}


def _view(row: TokenRow) -> dict[str, Any]:
    """What a list shows of a token (never its hash)."""
    state = service.state(row)
    acting = service.effective_role(row.role, row.user_role)
    return {
        "id": row.id,
        "public_id": row.public_id,
        "login_id": row.login_id,
        "name": row.name,
        "role": ROLE_LABELS.get(row.role, row.role),
        "acting_role": ROLE_LABELS.get(acting, acting) if acting and acting != row.role else None,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "last_used_at": row.last_used_at,
        "last_used_ip": row.last_used_ip,
        "state": state,
        "state_label": STATES[state],
        "revoked_at": row.revoked_at,
        "revoked_by": row.revoked_by,
        "revoked_how": REVOKED_BY.get(row.revoked_reason or "", ""),
        "live": state == "active",
    }


@bp.get("/")
@login_required
def index() -> Any:
    user = actor()
    rows = service.mine(engine(), user.login_id)
    return render_template(
        "tokens/index.html",
        tokens=[_view(r) for r in rows],
        revoke=RevokeForm(),
        max_days=service.MAX_DAYS,
    )


def _step_up_url(key: str) -> str:
    return url_for("auth.step_up", action="token", target=key, next=url_for(".new", key=key))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    key = request.args.get("key", "")
    if not key:
        return redirect(url_for(".new", key=secrets.token_urlsafe(18)))
    if not KEY.match(key):
        abort(400)
    user = current_user()
    assert user is not None
    form = NewTokenForm()
    form.role.choices = [(r, ROLE_LABELS[r]) for r in service.grantable_roles(user.role)]
    if not form.role.data:
        form.role.data = user.role
    fresh = step_up_fresh("token", key)
    until = step_up_until("token", key)
    context = {
        "form": form,
        "key": key,
        "fresh": fresh,
        "fresh_until": datetime.fromtimestamp(until, UTC) if until else None,
        "step_up_url": _step_up_url(key),
        "max_days": service.MAX_DAYS,
    }
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("tokens/new.html", **context), (400 if form.errors else 200)
    if not fresh:
        return redirect(_step_up_url(key))
    try:
        created = service.create(
            engine(),
            actor(),
            name=form.name.data or "",
            days=int(form.expires_in_days.data or 0),
            role=form.role.data,
        )
    except ServiceError as exc:
        flash(_error(exc), "danger")
        return render_template("tokens/new.html", **context), exc.status
    forget_step_up()  # one step-up, one token
    return render_template(
        "tokens/created.html",
        created=created,
        role=ROLE_LABELS.get(created.role, created.role),
        api_base=request.host_url.rstrip("/") + "/api/v1",
    )


def _error(exc: ServiceError) -> str:
    """Our words for what ``service`` refuses (its own messages are the API's English)."""
    return {
        "name_required": _("Give the token a name."),
        "name_too_long": _(
            "A token's name has at most %(count)s characters.", count=service.NAME_MAX
        ),
        "bad_lifetime": _("A token lasts from 1 to %(days)s days.", days=service.MAX_DAYS),
        "role_not_allowed": _("A token carries at most your own role."),
        "too_many_tokens": _(
            "You have %(count)s live tokens: revoke one you no longer use first.",
            count=service.MAX_LIVE,
        ),
        "user_inactive": _("Only an active registered user may make a token."),
        "already_revoked": _("This token was already revoked."),
        "not_found": _("There is no such token."),
    }.get(exc.code, _("The portal could not complete the request."))


@bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> Any:
    back = safe_next(request.form.get("next")) or url_for(".index")
    if not RevokeForm().validate_on_submit():
        abort(400)
    try:
        row = service.revoke(engine(), actor(), token_id)
    except ServiceError as exc:
        flash(_error(exc), "warning" if exc.status == 409 else "danger")
        return redirect(back)
    flash(_("The token “%(name)s” is revoked: it no longer works.", name=row.name), "success")
    return redirect(back)


@bp.get("/all")
@role_required("superadmin")
def everyone() -> Any:
    before = request.args.get("before", "")
    live_only = request.args.get("live") == "1"
    rows, next_before = service.everyone(
        engine(),
        before_id=int(before) if before.isdigit() else None,
        limit=PAGE,
        live_only=live_only,
    )
    return render_template(
        "tokens/all.html",
        tokens=[_view(r) for r in rows],
        revoke=RevokeForm(),
        live_only=live_only,
        next_before=next_before,
    )


__all__ = ["bp"]
