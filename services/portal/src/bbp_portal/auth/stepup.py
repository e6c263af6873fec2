"""Step-up: the signed-in person proves again that it is them before an action that moves
money — confirming a payment request, approving one — through Mobiquity's login flow, the
same as sign-in (password, then the OTP when Mobiquity asks for one).

A step-up is recorded in the session only (``sessions.record_step_up``): for one action on
one target (a confirmation's key, a request id), for ``BBP_STEP_UP_TTL`` seconds. The
password and the OTP go from the form to Mobiquity and nowhere else — not the session, the
database, the audit log or a log line; the unfinished OTP step keeps Mobiquity's resume id
only. A refused password or OTP is answered in our words and audited; both steps are
rate-limited like sign-in (per IP and per login id).

Nothing here knows payments: the pages that need a step-up link here with ``action``,
``target`` and ``next`` (where to come back to), and ask ``sessions.step_up_fresh``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from bbp_portal.auth import sessions
from bbp_portal.auth.access import SignedInUser, current_user, login_required, safe_next
from bbp_portal.auth.forms import OtpForm, StepUpForm
from bbp_portal.auth.steps import MAX_OTP_TRIES, rate_limited, unavailable
from bbp_portal.context import record, services
from bbp_portal.device import device_info
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

PENDING = "pending_step_up"
#: The actions a step-up is made for, and what their target looks like.
TARGETS = {
    "pay": re.compile(r"^[A-Za-z0-9_-]{8,64}$"),  # the confirmation page's key
    "approve": re.compile(r"^[0-9]{1,18}$"),  # the payment request's id
    "token": re.compile(r"^[A-Za-z0-9_-]{8,64}$"),  # the new-token page's key (issue 18)
    "resolve": re.compile(r"^[A-Za-z0-9_-]{16,64}$"),  # a bulk resolution's confirmation key
    "resolution": re.compile(r"^[0-9]{1,18}$"),  # the bulk resolution to approve (its id)
}
#: Actions that need a step-up even when ``BBP_STEP_UP`` is off: an API token acts without
#: a person for up to 30 days, so it is made only right after Mobiquity checked the person.
ALWAYS = frozenset({"token"})


def _purpose(action: str, target: str) -> str:
    if action == "approve":
        return _("You are about to approve payment request #%(id)s.", id=target)
    if action == "token":
        return _("You are about to make an API token, which acts in your name.")
    if action == "resolve":
        return _("You are about to resolve the uncleared payments you chose.")
    if action == "resolution":
        return _("You are about to approve bulk resolution #%(id)s.", id=target)
    return _("You are about to pay the bills you are confirming.")


def _args() -> tuple[str, str, str]:
    """``(action, target, next)`` of this step-up, from the query string; 400 if malformed."""
    action = request.args.get("action", "")
    target = request.args.get("target", "")
    pattern = TARGETS.get(action)
    if pattern is None or not pattern.match(target):
        abort(400)
    back = safe_next(request.args.get("next")) or url_for("dashboard.home")
    return action, target, back


def _audit_target(step: dict[str, Any]) -> dict[str, Any]:
    """What the audit entry says the step-up was for: the request or bulk resolution to
    approve, or "pay"/"resolve" (a confirmation's key is not written down)."""
    target = step["target"] if step["action"] in ("approve", "resolution") else None
    return {"target_type": step["action"], "target_id": target}


def _done(user: SignedInUser, login: LoginSucceeded, step: dict[str, Any], otp: bool) -> Response:
    sessions.keep_token(login)
    sessions.record_step_up(step["action"], step["target"])
    record("step_up", actor=user.login_id, second_factor=otp, **_audit_target(step))
    minutes = max(1, round(float(services().settings.step_up_ttl) / 60))
    flash(
        _("Thank you: it is you. Go ahead within %(minutes)s minutes.", minutes=minutes),
        "success",
    )
    return redirect(step["next"])


def _refused(user: SignedInUser, step: dict[str, Any], reason: str, **details: Any) -> None:
    record(
        "step_up",
        actor=user.login_id,
        outcome="failed",
        reason=reason,
        **_audit_target(step),
        **details,
    )


def _down(
    user: SignedInUser, step: dict[str, Any], exc: MobiquityError, page: str, **context: Any
) -> tuple[str, int]:
    _refused(user, step, "mobiquity_error", error=type(exc).__name__)
    flash(unavailable(), "danger")
    return render_template(page, **context), 503


@login_required
@rate_limited
def step_up() -> Any:
    action, target, back = _args()
    if action not in ALWAYS and not sessions.step_up_required():
        return redirect(back)
    user = current_user()
    assert user is not None
    step = {"action": action, "target": target, "next": back}
    form = StepUpForm()
    context = {"form": form, "purpose": _purpose(action, target), "back": back, "user": user}
    if not form.validate_on_submit():
        return render_template("auth/step_up.html", **context)
    svc = services()
    mq_login = (session.get("auth") or {}).get("mq_login") or user.login_id
    password: str = form.password.data or ""
    try:
        answer = with_system_token(lambda: svc.mobiquity.login(mq_login, password, device_info()))
    except RequestRefused as exc:
        if isinstance(exc, TokenRejected):
            return _down(user, step, exc, "auth/step_up.html", **context)
        _refused(user, step, "password_refused", code=exc.error_code or exc.code)
        flash(_("That password is not correct. Type the password you sign in with."), "danger")
        return render_template("auth/step_up.html", **context), 400
    except MobiquityError as exc:
        return _down(user, step, exc, "auth/step_up.html", **context)
    if isinstance(answer, OtpRequired):
        sessions.set_pending(
            PENDING, login_id=user.login_id, resume=answer.resume_id, tries=0, **step
        )
        record("step_up", actor=user.login_id, outcome="otp_sent", **_audit_target(step))
        return redirect(url_for("auth.step_up_otp"))
    return _done(user, answer, step, otp=False)


def _again(step: dict[str, Any]) -> Response:
    return redirect(
        url_for("auth.step_up", action=step["action"], target=step["target"], next=step["next"])
    )


@login_required
@rate_limited
def step_up_otp() -> Any:
    user = current_user()
    assert user is not None
    step = sessions.pending(PENDING)
    if step is None or step.get("login_id") != user.login_id:
        session.pop(PENDING, None)
        flash(_("That step has ended. Please start again."), "warning")
        return redirect(url_for("dashboard.home"))
    form = OtpForm()
    context = {"form": form, "purpose": _purpose(step["action"], step["target"]), "step": step}
    if not form.validate_on_submit():
        return render_template("auth/step_up_otp.html", **context)
    svc = services()
    otp: str = form.otp.data or ""
    try:
        login = with_system_token(lambda: svc.mobiquity.confirm_login_otp(step["resume"], otp))
    except ResumeRequestNotFound:
        session.pop(PENDING, None)
        _refused(user, step, "resume_gone")
        flash(_("That step has ended. Please start again."), "warning")
        return _again(step)
    except OtpRejected:
        tries = int(step.get("tries", 0)) + 1
        _refused(user, step, "otp_rejected", tries=tries)
        message = _("That one-time password is not correct.")
        if tries >= MAX_OTP_TRIES:
            session.pop(PENDING, None)
            flash(message + " " + _("Please start again."), "danger")
            return _again(step)
        session[PENDING] = {**step, "tries": tries}
        flash(message, "danger")
        return render_template("auth/step_up_otp.html", **context), 400
    except MobiquityError as exc:
        return _down(user, step, exc, "auth/step_up_otp.html", **context)
    session.pop(PENDING, None)
    return _done(user, login, step, otp=True)


__all__ = ["ALWAYS", "PENDING", "TARGETS", "step_up", "step_up_otp"]
