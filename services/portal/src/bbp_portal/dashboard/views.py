"""The dashboard page (``/``): each figure a link to the page that explains it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy.exc import SQLAlchemyError

from bbp_common.platform.logging import get_logger
from bbp_portal.auth import current_user, login_required
from bbp_portal.dashboard.queries import Dashboard, load
from bbp_portal.view_context import engine

bp = Blueprint("dashboard", __name__)
log = get_logger(__name__)


@bp.get("/")
@login_required
def home() -> Any:
    """The page. If the figures cannot be read (the database is unreachable), the page still
    opens, says so, and keeps its links: a person who just signed in is not shown an error."""
    user = current_user()
    try:
        with engine().connect() as conn:
            found: Dashboard | None = load(conn, user.login_id if user else "")
    except SQLAlchemyError as exc:
        log.warning("dashboard_figures_unavailable", error=type(exc).__name__)
        found = None
    return render_template("dashboard.html", d=found)


__all__ = ["bp", "home"]
