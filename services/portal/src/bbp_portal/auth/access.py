"""Access decorators: the one place that decides who may call a view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import abort, jsonify, redirect, request, session, url_for

ROLES = ("admin", "superadmin", "auditor")

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
        return self.role in ("admin", "superadmin")


def current_user() -> SignedInUser | None:
    data = session.get("user")
    if not data:
        return None
    return SignedInUser(data["login_id"], data["role"], data.get("language", "en"))


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _refuse_anonymous() -> Any:
    if _wants_json():
        return jsonify(error={"code": "unauthenticated", "message": "Sign in first."}), 401
    return redirect(url_for("auth.login", next=request.full_path))


def public(view: F) -> F:
    """Mark a view as reachable without a session (login, forgot password, health)."""
    view.__bbp_public__ = True  # type: ignore[attr-defined]
    return view


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
