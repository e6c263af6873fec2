"""Our own sessions: begun at sign-in (new id), checked on every request, ended at sign-out.

The session lives in Redis (Flask-Session); the browser's cookie holds only its random id.
Besides the Redis expiry (idle timeout plus a minute of grace) every request checks the
idle and absolute limits itself, so the person is told why they were signed out, and
re-reads the user's row, so that disabling a user or changing a role takes effect at once.
The Mobiquity token of the sign-in is kept sealed (Fernet) for the calls that need it
(change password); our session does not depend on its five-minute life.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _

from bbp_portal.context import record, services
from bbp_portal.directory import UserRecord
from bbp_portal.service_errors import Forbidden
from mobiquity_client import LoginSucceeded

#: Renew a Mobiquity token this long before Mobiquity says it expires.
TOKEN_MARGIN = 30.0
#: Session keys of unfinished sign-in steps (none holds a password or an OTP).
PENDING_KEYS = ("pending_login", "pending_reset", "pending_reauth", "pending_step_up")
#: Session key of the last step-up: which action, for what, valid until when.
STEP_UP_KEY = "step_up"


def _regenerate() -> None:
    """Give the session a new id and drop the old one from the store (fixation defence)."""
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if regenerate is not None:
        regenerate(session)


def begin(user: UserRecord, login: LoginSucceeded) -> None:
    """Sign ``user`` in: a fresh session under a new id, holding who they are."""
    language = session.get("lang") or user.language
    session.clear()
    now = time.time()
    session["user"] = {"login_id": user.login_id, "role": user.role, "language": language}
    session["auth"] = {"at": now, "seen": now}
    keep_token(login)
    _regenerate()
    services().users.record_sign_in(user.login_id)


def keep_token(login: LoginSucceeded) -> None:
    """Keep the Mobiquity access token of ``login``, sealed, with its expiry."""
    auth = session.setdefault("auth", {})
    lifetime = float(login.expires_in or 0)
    auth["mq"] = services().vault.seal(login.access_token)
    auth["mq_exp"] = time.time() + max(0.0, lifetime - TOKEN_MARGIN)
    session.modified = True


def mobiquity_token() -> str | None:
    """The signed-in user's Mobiquity token, if it is still fresh."""
    auth = session.get("auth") or {}
    if float(auth.get("mq_exp") or 0) <= time.time():
        return None
    return services().vault.open(auth.get("mq"))


def forget_token() -> None:
    auth = session.get("auth") or {}
    auth.pop("mq", None)
    auth.pop("mq_exp", None)
    session.modified = True


def end(message: str | None = None, category: str = "info") -> None:
    """End the session: nothing of it stays in the store; the browser gets a new, empty id."""
    language = (session.get("user") or {}).get("language") or session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    if message:
        flash(message, category)
    _regenerate()


def pending(key: str) -> dict[str, Any] | None:
    """An unfinished sign-in step, if it has not timed out."""
    step = session.get(key)
    if not step:
        return None
    if time.time() - float(step.get("at", 0)) > services().settings.signin_step_timeout:
        session.pop(key, None)
        return None
    return dict(step)


def set_pending(key: str, **values: Any) -> None:
    session[key] = {**values, "at": time.time()}


# ---------------------------------------------------------------------------- step-up


def step_up_required() -> bool:
    """Whether confirming a payment and approving one need a step-up (the setting)."""
    return bool(services().settings.step_up)


def record_step_up(action: str, target: str) -> float:
    """This session's person just proved it is them, for ``action`` on ``target`` (a
    confirmation's key, a request id): valid for ``step_up_ttl`` seconds, in this session
    only, for that one action. A new step-up replaces the previous one. Returns its end."""
    until = time.time() + float(services().settings.step_up_ttl)
    session[STEP_UP_KEY] = {"action": action, "target": str(target), "until": until}
    return until


def step_up_until(action: str, target: str) -> float | None:
    """When this session's step-up for ``action`` on ``target`` ends; ``None`` if there is
    none, it has ended, or it was made for another action or target."""
    found = session.get(STEP_UP_KEY) or {}
    if found.get("action") != action or found.get("target") != str(target):
        return None
    until = float(found.get("until") or 0)
    return until if until > time.time() else None


def step_up_fresh(action: str, target: str) -> bool:
    """A fresh step-up of this session for ``action`` on ``target``."""
    return step_up_until(action, target) is not None


def refused_or_step_up(
    exc: Forbidden, action: str, target: object, back: str, message: str = ""
) -> Any:
    """Where a refused decision leads: without a fresh step-up for ``action`` on ``target``,
    to the step-up (then back to ``back``); refused for another reason, back to ``back`` with
    why (``message``, else the refusal's own)."""
    if exc.code != "step_up_required":
        flash(message or exc.message, "danger")
        return redirect(back)
    flash(_("Confirm it is you first: a step-up lasts a few minutes only."), "warning")
    return redirect(url_for("auth.step_up", action=action, target=str(target), next=back))


def forget_step_up() -> None:
    session.pop(STEP_UP_KEY, None)


#: Set by the portal's own background polls; such requests do not count as activity.
BACKGROUND_HEADER = "X-BBP-Background"


def install(app: Flask) -> None:
    """Check every signed-in request against the idle and absolute limits and the registry."""

    @app.before_request
    def _check_session() -> None:
        if request.endpoint == "static" or "user" not in session:
            return
        settings = services().settings
        user = session["user"]
        auth = session.get("auth") or {}
        now = time.time()
        login_id = user["login_id"]
        if now - float(auth.get("seen", 0)) > settings.session_idle_timeout:
            record("session_expired", actor=login_id, reason="idle")
            end(_("You were signed out after a time without activity. Please sign in again."))
            return
        if now - float(auth.get("at", 0)) > settings.session_absolute_lifetime:
            record("session_expired", actor=login_id, reason="lifetime")
            end(_("Your session has reached its maximum length. Please sign in again."))
            return
        row = services().users.get(login_id)
        if row is None or not row.active:
            record("session_expired", actor=login_id, outcome="denied", reason="disabled")
            end(_("Your access to the portal has been withdrawn."), "warning")
            return
        if row.role != user["role"]:
            user["role"] = row.role
            session["user"] = user
        if request.headers.get(BACKGROUND_HEADER) == "1":
            # A page polling by itself (request progress) is not a person at the keyboard:
            # it reads, but does not move the idle clock.
            return
        auth["seen"] = now
        session["auth"] = auth
