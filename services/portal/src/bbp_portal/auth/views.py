"""Sign-in pages (placeholder until the sign-in feature lands)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from bbp_portal.auth.access import public

bp = Blueprint("auth", __name__)


@bp.get("/login")
@public
def login() -> Any:
    return "Sign-in is not built yet."
