"""The dashboard: what a person needs on arrival — what is running, what waits for a person,
and their own latest requests — each figure a link to the page that explains it.

Every query here is served by an index on its condition (``bulk_requests (state, id)``,
``(created_by, id)``, the needs-attention indexes) and touches only the few rows of live
requests, so the page stays instant however many finished requests and payments there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from bbp_common.db.tables import bulk_requests
from bbp_common.logging import get_logger
from bbp_portal.auth import current_user
from bbp_portal.bulk.queries import RequestRow
from bbp_portal.payments.queries import Attention, attention
from bbp_portal.requests.queries import RequestFilter, list_requests
from bbp_portal.view_context import engine

#: Request states that are not over, in the order the dashboard shows them.
LIVE_STATES = ("running", "queued", "paused", "awaiting_approval")
RECENT = 5
log = get_logger(__name__)


@dataclass(frozen=True)
class Dashboard:
    live: dict[str, int]
    attention: Attention
    recent: list[RequestRow]


def load(conn: Connection, login_id: str) -> Dashboard:
    """The figures of one person's dashboard, read in one connection."""
    counts = dict.fromkeys(LIVE_STATES, 0)
    for state, n in conn.execute(
        select(bulk_requests.c.state, func.count())
        .where(bulk_requests.c.state.in_(LIVE_STATES))
        .group_by(bulk_requests.c.state)
    ):
        counts[state] = int(n)
    recent = list_requests(conn, RequestFilter(created_by=login_id), limit=RECENT).items
    return Dashboard(counts, attention(conn), recent)


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
