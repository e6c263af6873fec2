"""Access decorators: the one place that decides who may call a view.

Deny by default: :func:`install_guard` refuses every request to a view that is not marked
:func:`public` unless someone is signed in, so a new route is protected even if its author
forgot :func:`login_required`. The decorators stay for readability and for role checks.

Someone is "signed in" through a session (the browser's cookie) or, under ``/api/``, through
an API token (``Authorization: Bearer …``; ``bbp_portal.api_tokens`` checks it before the
guard runs and leaves a :class:`TokenCaller` here). A token's caller has no session: no
step-up, no CSRF token, nothing the cookie's session holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, g, has_request_context, jsonify, redirect, request, session, url_for

ROLES = ("admin", "superadmin", "auditor")
#: The roles that fetch, pay and approve (an auditor only reads).
OPERATORS = ("admin", "superadmin")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SignedInUser:
    login_id: str
    role: str
    language: str = "en"

    @property
    def is_superadmin(self) -> bool:
        return self.role == "superadmin"

    @property
    def can_operate(self) -> bool:
        """Fetch, pay and approve: admins and superadmins; auditors only read."""
        return self.role in OPERATORS

    @property
    def can_read_audit(self) -> bool:
        """The audit log: superadmins and auditors."""
        return self.role in ("superadmin", "auditor")


@dataclass(frozen=True)
class TokenCaller:
    """The API token this request came with, once checked: whose, which, and the role it acts
    with now (at most its user's present role and the role it was made with)."""

    row_id: int
    token_id: str  # the public id (the part of the token before its secret)
    name: str
    login_id: str
    role: str
    language: str = "en"


#: Where ``bbp_portal.api_tokens`` leaves the checked token of a request.
TOKEN_KEY = "bbp_api_token"  # noqa: S105 - a name in flask.g, no secret


def current_token() -> TokenCaller | None:
    """The API token this request was made with, or ``None`` (a browser session, or nobody)."""
    if not has_request_context():
        return None
    found: TokenCaller | None = g.get(TOKEN_KEY)
    return found


def current_user() -> SignedInUser | None:
    token = current_token()
    if token is not None:
        return SignedInUser(token.login_id, token.role, token.language)
    data = session.get("user")
    if not data:
        return None
    return SignedInUser(data["login_id"], data["role"], data.get("language", "en"))


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else ``None`` (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def _refuse_anonymous() -> Any:
    if _wants_json():
        return jsonify(error={"code": "unauthenticated", "message": "Sign in first."}), 401
    target = request.full_path if request.method == "GET" else None
    if target and target.endswith("?"):
        target = target[:-1]
    return redirect(url_for("auth.login", next=target if target and target != "/" else None))


def public(view: F) -> F:
    """Mark a view as reachable without a session (login, forgot password, health)."""
    view.__bbp_public__ = True  # type: ignore[attr-defined]
    return view


def is_public(view: Callable[..., Any] | None) -> bool:
    return bool(view is not None and getattr(view, "__bbp_public__", False))


def login_required(view: F) -> F:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _refuse_anonymous()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def role_required(*roles: str) -> Callable[[F], F]:
    """Only these roles may call the view (403 for the others)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _refuse_anonymous()
            if user.role not in roles:
                if _wants_json():
                    return jsonify(
                        error={"code": "forbidden", "message": "Your role may not do this."}
                    ), 403
                abort(403)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def install_guard(app: Flask) -> None:
    """Refuse anonymous requests to every view not marked :func:`public` (deny by default)."""

    @app.before_request
    def _require_session() -> Any:
        if request.endpoint is None:  # 404/405: the error handlers answer
            return None
        if request.endpoint == "static" or is_public(app.view_functions.get(request.endpoint)):
            return None
        if current_user() is None:
            return _refuse_anonymous()
        return None
