"""The dashboard's figures: live requests by state, what needs attention, the person's own
latest requests — read over both request kinds and the payments.

Every query here is served by an index on its condition (``bulk_requests (state, id)``,
``(created_by, id)``, the needs-attention indexes) and touches only the few rows of live
requests, so the page stays instant however many finished requests and payments there are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from bbp_common.platform.db.tables import bulk_requests
from bbp_portal.bulk.queries import RequestRow
from bbp_portal.payments.attention import Attention, attention
from bbp_portal.requests.queries import RequestFilter, list_requests

#: Request states that are not over, in the order the dashboard shows them.
LIVE_STATES = ("running", "enquiring", "queued", "paused", "awaiting_approval")
RECENT = 5


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


__all__ = ["LIVE_STATES", "RECENT", "Dashboard", "load"]
