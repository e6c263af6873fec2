"""The audit log page (superadmins and auditors): filters and keyset pagination."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, render_template, request, url_for

from bbp_portal.audit import ACTIONS, OUTCOMES, AuditFilter
from bbp_portal.auth.access import role_required
from bbp_portal.context import services

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 50


@bp.app_template_filter("audit_details")
def audit_details(raw: str | None) -> str:
    """``{"reason": "disabled", "n": 3}`` → ``reason=disabled, n=3`` for the page."""
    if not raw:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(data, dict):
        return raw
    return ", ".join(f"{k}={v}" for k, v in data.items())


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@bp.get("/")
@role_required("superadmin", "auditor")
def index() -> Any:
    args = request.args
    since, until = _day(args.get("from")), _day(args.get("to"))
    filters = AuditFilter(
        actor=(args.get("actor") or "").strip() or None,
        action=args.get("action") if args.get("action") in ACTIONS else None,
        outcome=args.get("outcome") if args.get("outcome") in OUTCOMES else None,
        reference=(args.get("reference") or "").strip() or None,
        since=datetime.combine(since, datetime.min.time()) if since else None,
        # "to" is inclusive: everything before the next midnight (UTC)
        until=datetime.combine(until + timedelta(days=1), datetime.min.time()) if until else None,
    )
    size = min(_int(args.get("size")) or PAGE_SIZE, 200)
    entries, next_before = services().audit.search(
        filters, before_id=_int(args.get("before")), limit=size
    )
    kept: dict[str, Any] = {k: v for k, v in args.items() if k != "before" and v}
    next_url = url_for("audit.index", **kept, before=next_before) if next_before else None
    first_url = url_for("audit.index", **kept) if args.get("before") else None
    return render_template(
        "admin/audit.html",
        entries=entries,
        filters=filters,
        args=args,
        actions=ACTIONS,
        outcomes=OUTCOMES,
        next_url=next_url,
        first_url=first_url,
    )
