"""Forgotten and changed passwords (scope §2.3), steps of the ``auth`` blueprint that
``views`` routes to. As at sign-in, a password or OTP goes from the form to Mobiquity only,
and an unfinished step keeps nothing in the session but Mobiquity's resume id.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _

from bbp_common.platform.logging import get_logger
from bbp_portal.auth import sessions
from bbp_portal.auth.access import current_user, login_required, public
from bbp_portal.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    NewPasswordForm,
    OtpForm,
)
from bbp_portal.auth.steps import otp_refused, rate_limited, refusal_text, unavailable
from bbp_portal.context import record, services
from bbp_portal.device import device_id, device_info
from bbp_portal.mobiquity import with_system_token
from mobiquity_client import (
    MobiquityError,
    OtpRejected,
    OtpRequired,
    RequestRefused,
    ResumeRequestNotFound,
    TokenRejected,
)

log = get_logger(__name__)


@public
@rate_limited
def forgot_password() -> Any:
    device_id()
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        svc = services()
        timing = svc.reset_timing
        started = timing.now()
        typed: str = form.login_id.data or ""
        user = svc.users.get(typed)
        sent = _("If this login ID may use the portal, an OTP has been sent to its mobile number.")
        if user is None or not user.active:
            # Carry on as if an OTP had been sent: the page must not tell who is registered.
            record(
                "password_reset",
                actor=typed,
                outcome="failed",
                reason="unregistered" if user is None else "disabled",
            )
            timing.pad(started)
            sessions.set_pending("pending_reset", login_id=typed, resume=None, stage="otp", tries=0)
            flash(sent, "info")
            return redirect(url_for("auth.forgot_password_otp"))
        try:
            step = with_system_token(
                lambda: svc.mobiquity.start_password_reset(typed, device_info())
            )
        except RequestRefused as exc:
            # Answered like an unregistered id (the audit log keeps Mobiquity's reason): a
            # different page would tell who is registered with us.
            record(
                "password_reset",
                actor=user.login_id,
                outcome="failed",
                reason="mobiquity_refused",
                code=exc.error_code or exc.code,
            )
            timing.pad(started)
            sessions.set_pending("pending_reset", login_id=typed, resume=None, stage="otp", tries=0)
            flash(sent, "info")
            return redirect(url_for("auth.forgot_password_otp"))
        except MobiquityError as exc:
            record(
                "password_reset", actor=user.login_id, outcome="failed", error=type(exc).__name__
            )
            flash(unavailable(), "danger")
            return render_template("auth/forgot.html", form=form), 503
        timing.observe(timing.now() - started)
        sessions.set_pending(
            "pending_reset", login_id=user.login_id, resume=step.resume_id, stage="otp", tries=0
        )
        record("password_reset", actor=user.login_id, outcome="otp_sent")
        flash(sent, "info")
        return redirect(url_for("auth.forgot_password_otp"))
    return render_template("auth/forgot.html", form=form)


@public
@rate_limited
def forgot_password_otp() -> Any:
    step = sessions.pending("pending_reset")
    if step is None or step.get("stage") != "otp":
        flash(_("That password reset step has ended. Please start again."), "warning")
        return redirect(url_for("auth.forgot_password"))
    form = OtpForm()
    if form.validate_on_submit():
        svc = services()
        if step["resume"] is None:  # not a registered user: no OTP can be right
            svc.reset_timing.pad(svc.reset_timing.now())
            return otp_refused(
                "pending_reset", "password_reset", step, None, "auth.forgot_password"
            )
        otp: str = form.otp.data or ""
        try:
            nxt = with_system_token(
                lambda: svc.mobiquity.verify_password_reset_otp(step["resume"], otp)
            )
        except ResumeRequestNotFound as exc:
            session.pop("pending_reset", None)
            record("password_reset", actor=step["login_id"], outcome="failed", reason="resume_gone")
            flash(refusal_text(exc, _("That password reset step has ended.")), "warning")
            return redirect(url_for("auth.forgot_password"))
        except OtpRejected:
            # Our own words, not Mobiquity's: an unregistered id (no OTP was sent) sees these.
            return otp_refused(
                "pending_reset", "password_reset", step, None, "auth.forgot_password"
            )
        except MobiquityError as exc:
            record(
                "password_reset", actor=step["login_id"], outcome="failed", error=type(exc).__name__
            )
            flash(unavailable(), "danger")
            return render_template("auth/forgot_otp.html", form=form), 503
        sessions.set_pending(
            "pending_reset", login_id=step["login_id"], resume=nxt.resume_id, stage="new"
        )
        return redirect(url_for("auth.forgot_password_new"))
    return render_template("auth/forgot_otp.html", form=form)


@public
@rate_limited
def forgot_password_new() -> Any:
    step = sessions.pending("pending_reset")
    if step is None or step.get("stage") != "new":
        flash(_("That password reset step has ended. Please start again."), "warning")
        return redirect(url_for("auth.forgot_password"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        svc = services()
        new: str = form.new_password.data or ""
        confirm: str = form.confirm_password.data or ""
        try:
            with_system_token(
                lambda: svc.mobiquity.finish_password_reset(step["resume"], new, confirm)
            )
        except RequestRefused as exc:
            record(
                "password_reset",
                actor=step["login_id"],
                outcome="failed",
                reason="mobiquity_refused",
                code=exc.error_code or exc.code,
            )
            flash(refusal_text(exc, _("Mobiquity refused the new password.")), "danger")
            return render_template("auth/forgot_new.html", form=form), 400
        except MobiquityError as exc:
            record(
                "password_reset", actor=step["login_id"], outcome="failed", error=type(exc).__name__
            )
            flash(unavailable(), "danger")
            return render_template("auth/forgot_new.html", form=form), 503
        session.pop("pending_reset", None)
        record("password_reset", actor=step["login_id"])
        _tell_password_changed(step["login_id"], "reset")
        flash(_("Your password has been changed. Sign in with the new password."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_new.html", form=form)


# ---------------------------------------------------------------------------- change password


def _token_refused(exc: MobiquityError) -> bool:
    """Mobiquity refused the bearer token (expired or revoked), not the request itself."""
    return isinstance(exc, TokenRejected) or exc.http_status == 401


@login_required
@rate_limited  # it may sign in to Mobiquity with the typed password: no guessing from here
def change_password() -> Any:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("account/password.html", form=form)
    user = current_user()
    assert user is not None
    svc = services()
    mq_login = session.get("auth", {}).get("mq_login") or user.login_id
    old: str = form.old_password.data or ""
    new: str = form.new_password.data or ""
    confirm: str = form.confirm_password.data or ""

    def change(token: str) -> None:
        svc.mobiquity.change_password(token, mq_login, old, new, confirm)

    token = sessions.mobiquity_token()
    try:
        if token is not None:
            try:
                change(token)
            except RequestRefused as exc:
                if not _token_refused(exc):
                    raise
                sessions.forget_token()
                token = None
        if token is None:
            # The sign-in's token has expired (they live minutes): sign in to Mobiquity again
            # with the current password just typed, to get a fresh one.
            try:
                answer = with_system_token(
                    lambda: svc.mobiquity.login(mq_login, old, device_info())
                )
            except RequestRefused as exc:
                if _token_refused(exc):
                    raise
                record(
                    "password_change",
                    actor=user.login_id,
                    outcome="failed",
                    reason="reauth_refused",
                    code=exc.error_code or exc.code,
                )
                flash(refusal_text(exc, _("Your current password is not correct.")), "danger")
                return render_template("account/password.html", form=form), 400
            if isinstance(answer, OtpRequired):
                sessions.set_pending(
                    "pending_reauth", login_id=user.login_id, resume=answer.resume_id, tries=0
                )
                record("password_change", actor=user.login_id, outcome="otp_sent")
                flash(
                    _(
                        "Mobiquity asks for a one-time password first. Enter the OTP, then "
                        "your current and new password once more."
                    ),
                    "info",
                )
                return redirect(url_for("auth.change_password_otp"))
            sessions.keep_token(answer)
            change(answer.access_token)
    except RequestRefused as exc:
        if _token_refused(exc):
            return _change_unavailable(user.login_id, exc, form)
        record(
            "password_change",
            actor=user.login_id,
            outcome="failed",
            reason="mobiquity_refused",
            code=exc.error_code or exc.code,
        )
        flash(refusal_text(exc, _("Mobiquity refused the change.")), "danger")
        return render_template("account/password.html", form=form), 400
    except MobiquityError as exc:
        return _change_unavailable(user.login_id, exc, form)
    record("password_change", actor=user.login_id)
    _tell_password_changed(user.login_id, "changed")
    flash(_("Your password has been changed."), "success")
    return redirect(url_for("dashboard.home"))


def _tell_password_changed(login_id: str, how: str) -> None:
    """Ask for the "your password was changed" e-mail (``how``: changed or reset).

    The password already changed at Mobiquity: failing to queue the e-mail must not turn
    that into an error page, so a failure is logged (loudly) and the person carries on.
    """
    try:
        services().notices.password_changed(login_id, how)
    except Exception:
        log.exception("password_changed_notice_failed", login_id=login_id, how=how)


def _change_unavailable(actor: str, exc: MobiquityError, form: Any) -> tuple[str, int]:
    record("password_change", actor=actor, outcome="failed", error=type(exc).__name__)
    flash(unavailable(), "danger")
    return render_template("account/password.html", form=form), 503


@login_required
@rate_limited
def change_password_otp() -> Any:
    step = sessions.pending("pending_reauth")
    if step is None:
        return redirect(url_for("auth.change_password"))
    form = OtpForm()
    if form.validate_on_submit():
        svc = services()
        otp: str = form.otp.data or ""
        try:
            login = with_system_token(lambda: svc.mobiquity.confirm_login_otp(step["resume"], otp))
        except ResumeRequestNotFound:
            session.pop("pending_reauth", None)
            flash(_("That step has ended. Please start again."), "warning")
            return redirect(url_for("auth.change_password"))
        except OtpRejected as exc:
            return otp_refused(
                "pending_reauth", "password_change", step, exc, "auth.change_password"
            )
        except MobiquityError as exc:
            record(
                "password_change",
                actor=step["login_id"],
                outcome="failed",
                error=type(exc).__name__,
            )
            flash(unavailable(), "danger")
            return render_template("account/password_otp.html", form=form), 503
        session.pop("pending_reauth", None)
        sessions.keep_token(login)
        flash(_("Thank you. Now enter your current and new password once more."), "success")
        return redirect(url_for("auth.change_password"))
    return render_template("account/password_otp.html", form=form)


__all__ = [
    "change_password",
    "change_password_otp",
    "forgot_password",
    "forgot_password_new",
    "forgot_password_otp",
]
