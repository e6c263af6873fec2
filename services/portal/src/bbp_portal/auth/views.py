"""The ``auth`` blueprint: sign-in, OTP, sign-out (scope §2.1), and the routes of the
forgotten- and changed-password steps (``passwords``, scope §2.3).

Passwords and OTPs travel from the form to Mobiquity and nowhere else: they are never put
in the session, the database, an audit entry or a log line. Unfinished steps keep only
Mobiquity's resume id in the session.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from bbp_common.platform.logging import get_logger
from bbp_portal.auth import passwords, sessions
from bbp_portal.auth.access import current_user, login_required, public, safe_next
from bbp_portal.auth.forms import (
    LoginForm,
    OtpForm,
)
from bbp_portal.auth.steps import (
    generic_failure,
    otp_refused,
    rate_limited,
    refusal_text,
    unavailable,
)
from bbp_portal.context import record, services
from bbp_portal.device import device_id, device_info
from bbp_portal.directory import UserRecord
from bbp_portal.mobiquity import with_system_token
from mobiquity_client import (
    LoginSucceeded,
    MobiquityError,
    OtpRejected,
    OtpRequired,
    RequestRefused,
    ResumeRequestNotFound,
    TokenRejected,
)

bp = Blueprint("auth", __name__)
log = get_logger(__name__)


def _next() -> str | None:
    return safe_next(request.args.get("next"))


def _complete_sign_in(user: UserRecord, login: LoginSucceeded, typed: str, otp: bool) -> Response:
    sessions.begin(user, login)
    session["auth"]["mq_login"] = typed
    session.modified = True
    record("login", actor=user.login_id, second_factor=otp)
    flash(_("Welcome, %(name)s.", name=user.login_id), "success")
    return redirect(_next() or url_for("dashboard.home"))


# ---------------------------------------------------------------------------- sign-in


@bp.route("/login", methods=["GET", "POST"])
@public
@rate_limited
def login() -> Any:
    if current_user() is not None:
        return redirect(_next() or url_for("dashboard.home"))
    if request.args.get("restart"):
        session.pop("pending_login", None)
    device_id()  # the device cookie is given on the first visit
    form = LoginForm()
    if form.validate_on_submit():
        answer = _attempt_login(form)
        if answer is not None:
            return answer
    return render_template("auth/login.html", form=form, next=_next())


def _attempt_login(form: LoginForm) -> Response | tuple[str, int] | None:
    """Check registration, then Mobiquity; ``None`` re-renders the form with a message."""
    svc = services()
    timing = svc.timing
    started = timing.now()
    typed: str = form.login_id.data or ""
    user = svc.users.get(typed)
    if user is None or not user.active:
        record(
            "login",
            actor=typed,
            outcome="failed",
            reason="unregistered" if user is None else "disabled",
        )
        timing.pad(started)
        flash(generic_failure(), "danger")
        return None
    password: str = form.password.data or ""
    try:
        answer = with_system_token(lambda: svc.mobiquity.login(typed, password, device_info()))
    except RequestRefused as exc:
        if isinstance(exc, TokenRejected):
            return _mobiquity_down("login", user.login_id, exc, form)
        timing.observe(timing.now() - started)
        record(
            "login",
            actor=user.login_id,
            outcome="failed",
            reason="mobiquity_refused",
            code=exc.error_code or exc.code,
        )
        timing.pad(started)
        flash(generic_failure(), "danger")
        return None
    except MobiquityError as exc:
        return _mobiquity_down("login", user.login_id, exc, form)
    if isinstance(answer, OtpRequired):
        sessions.set_pending(
            "pending_login", login_id=user.login_id, typed=typed, resume=answer.resume_id, tries=0
        )
        record("login", actor=user.login_id, outcome="otp_sent")
        return redirect(url_for("auth.login_otp", next=_next()))
    return _complete_sign_in(user, answer, typed, otp=False)


def _mobiquity_down(action: str, actor: str, exc: MobiquityError, form: Any) -> tuple[str, int]:
    record(
        action, actor=actor, outcome="failed", reason="mobiquity_error", error=type(exc).__name__
    )
    flash(unavailable(), "danger")
    return render_template("auth/login.html", form=form, next=_next()), 503


@bp.route("/login/otp", methods=["GET", "POST"])
@public
@rate_limited
def login_otp() -> Any:
    step = sessions.pending("pending_login")
    if step is None:
        flash(_("That sign-in step has ended. Please start again."), "warning")
        return redirect(url_for("auth.login", next=_next()))
    form = OtpForm()
    if form.validate_on_submit():
        svc = services()
        otp: str = form.otp.data or ""
        try:
            login = with_system_token(lambda: svc.mobiquity.confirm_login_otp(step["resume"], otp))
        except ResumeRequestNotFound as exc:
            session.pop("pending_login", None)
            record("login_otp", actor=step["login_id"], outcome="failed", reason="resume_gone")
            flash(
                refusal_text(exc, _("That sign-in step has ended. Please start again.")), "warning"
            )
            return redirect(url_for("auth.login", next=_next()))
        except OtpRejected as exc:
            return otp_refused("pending_login", "login_otp", step, exc, "auth.login")
        except MobiquityError as exc:
            record("login_otp", actor=step["login_id"], outcome="failed", error=type(exc).__name__)
            flash(unavailable(), "danger")
            return render_template("auth/otp.html", form=form, next=_next()), 503
        session.pop("pending_login", None)
        user = svc.users.get(step["login_id"])
        if user is None or not user.active:
            record("login_otp", actor=step["login_id"], outcome="denied", reason="disabled")
            flash(generic_failure(), "danger")
            return redirect(url_for("auth.login"))
        return _complete_sign_in(user, login, step["typed"], otp=True)
    return render_template("auth/otp.html", form=form, next=_next())


@bp.post("/logout")
@login_required
def logout() -> Any:
    user = current_user()
    assert user is not None
    record("logout", actor=user.login_id)
    sessions.end(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


# ---------------------------------------------------------------------------- passwords

# The forgotten- and changed-password steps (passwords.py) are on this blueprint too: their
# endpoints are auth.<view>, like the sign-in's.
for _rule, _view in (
    ("/forgot-password", passwords.forgot_password),
    ("/forgot-password/otp", passwords.forgot_password_otp),
    ("/forgot-password/new", passwords.forgot_password_new),
    ("/account/password", passwords.change_password),
    ("/account/password/otp", passwords.change_password_otp),
):
    bp.add_url_rule(_rule, view_func=_view, methods=["GET", "POST"])


__all__ = ["bp", "login", "login_otp", "logout"]
