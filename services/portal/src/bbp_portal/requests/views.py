"""Pages: the request list, confirming and starting a fetch, the request page, export, cancel.

A fetch starts from the bill-accounts list (ticked accounts, or "all matching" its filter,
a group being one such filter) or from the groups page; the confirmation page shows how many
active accounts will be fetched, and creating redirects to the request page at once.

A request's page is live: its rows, progress and state come again every 1.5 s from
``/requests/<id>/live`` (htmx polling a small HTML fragment: each poll is one short request,
so no worker thread is held by an open page), until the request is settled. No inline
script: the CSP forbids it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from bbp_portal.accounts.selection import AccountFilter, AccountSelection
from bbp_portal.auth import OPERATORS, current_user, login_required, role_required
from bbp_portal.billers.service import list_billers
from bbp_portal.bulk.kinds import LIVE_HEADER, RequestKind, kind_of, live_url
from bbp_portal.bulk.queries import CANCELLABLE, KINDS, STATES, RequestRow, get_request
from bbp_portal.requests import actions, items, queries, service
from bbp_portal.requests.export import export_response
from bbp_portal.service_errors import NotFound, ServiceError
from bbp_portal.view_context import actor, engine

bp = Blueprint("requests", __name__, url_prefix="/requests")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.get("")
@login_required
def index() -> Any:
    args = request.args
    kind = args.get("kind", "")
    state = args.get("state", "")
    try:
        request_filter = queries.RequestFilter(
            kind=kind if kind in KINDS else "",
            state=state if state in STATES else "",
            created_by=args.get("created_by", "")[:64],
            created_from=_day(args.get("created_from", "")),
            created_to=_day(args.get("created_to", "")),
        )
    except ServiceError as exc:
        flash(exc.message, "warning")
        request_filter = queries.RequestFilter()
    with engine().connect() as conn:
        try:
            page = queries.list_requests(conn, request_filter, cursor=args.get("cursor"))
        except ServiceError as exc:
            flash(exc.message, "warning")
            page = queries.list_requests(conn, request_filter)
        people = queries.creators(conn)
    keep = {k: v for k, v in request_filter.as_dict().items() if v}
    return render_template(
        "requests/list.html",
        page=page,
        filter=request_filter,
        keep=keep,
        people=people,
        kinds=KINDS,
        states=STATES,
    )


# --------------------------------------------------------------------------- starting a fetch


def _selection_from(values: MultiDict[str, str]) -> AccountSelection:
    """The selection a form or link carries: ``scope`` = ids | group | filter."""
    scope = values.get("scope", "ids")
    if scope == "ids":
        ids = [int(v) for v in values.getlist("ids") if v.strip().isdigit()]
        if not ids:
            raise ServiceError("nothing_selected", _("Tick at least one bill account."), "ids")
        return actions.selection_of(ids=ids)
    group = values.get("group_id", "")
    if scope == "group":
        if not group.isdigit():
            raise ServiceError("invalid_selection", _("Choose a group."), "group_id")
        return actions.selection_of(group_id=int(group))
    status = values.get("status", "all")
    return actions.selection_of(
        account_filter=AccountFilter(
            q=values.get("q", "")[:64],
            utility=values.get("utility", "")[:16],
            group_id=int(group) if group.isdigit() else None,
            status=status if status in ("active", "inactive", "all") else "all",  # type: ignore[arg-type]
        )
    )


def _hidden_fields(values: MultiDict[str, str]) -> list[tuple[str, str]]:
    """The selection again, as hidden fields of the confirmation form."""
    names = ("scope", "ids", "group_id", "q", "utility", "status")
    return [(name, v) for name in names for v in values.getlist(name)]


@bp.get("/fetch/new")
@role_required(*OPERATORS)
def confirm_fetch() -> Any:
    try:
        selection = _selection_from(request.args)
    except ServiceError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("accounts.index"))
    with engine().connect() as conn:
        count = actions.count_selected(conn, selection)
        described = actions.describe(conn, selection)
    return render_template(
        "requests/confirm.html",
        count=count,
        described=described,
        hidden=_hidden_fields(request.args),
    )


@bp.post("/fetch")
@role_required(*OPERATORS)
def create_fetch() -> Any:
    try:
        selection = _selection_from(request.form)
        created = actions.start_fetch(actor(), selection, via="page")
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("accounts.index"))
    flash(
        ngettext(
            "Fetching the pending bills of %(count)s account.",
            "Fetching the pending bills of %(count)s accounts.",
            created.items,
            count=f"{created.items:,}",
        ),
        "success",
    )
    return redirect(url_for("requests.show", request_id=created.request_id))


# --------------------------------------------------------------------------- one request


@bp.get("/<int:request_id>")
@login_required
def show(request_id: int) -> Any:
    """Any request's page: read the request, hand it to its kind's page."""
    with engine().connect() as conn:
        try:
            found = get_request(conn, request_id)
        except NotFound:
            abort(404)
    return kind_of(found.kind).page(found)


@bp.get("/<int:request_id>/live")
@login_required
def live(request_id: int) -> Any:
    """The live fragment of a request's page (polled by its page; same query string)."""
    with engine().connect() as conn:
        try:
            found = get_request(conn, request_id)
        except NotFound:
            abort(404)
    answer: Response = make_response(kind_of(found.kind).live(found))
    answer.headers[LIVE_HEADER] = "1"
    return answer


def render_fetch(found: RequestRow) -> Any:
    """A fetch request's page: progress, pending bills per biller, per-account results."""
    return render_template("requests/show.html", **_fetch_context(found))


def render_fetch_live(found: RequestRow) -> Any:
    """A fetch request's live fragment: its rows, state and progress."""
    return render_template("requests/fetch_live.html", oob=True, **_fetch_context(found, live=True))


def _fetch_context(found: RequestRow, *, live: bool = False) -> dict[str, Any]:
    """The fetch page's context; ``live`` (the polled fragment) never flashes: a background
    poll writes nothing to the session."""
    request_id = found.id
    args = request.args
    status = args.get("status", "")
    item_filter = items.ItemFilter(
        status=status if status in items.ITEM_STATUSES else "",
        utility=args.get("utility", "")[:16],
        q=args.get("q", "")[:64],
    )
    with engine().connect() as conn:
        try:
            page = items.list_items(conn, request_id, item_filter, cursor=args.get("cursor"))
        except ServiceError as exc:
            if not live:
                flash(exc.message, "warning")
            page = items.list_items(conn, request_id, item_filter)
        billers = list_billers(conn)
    user = current_user()
    keep = {k: v for k, v in item_filter.as_dict().items() if v}
    return {
        "req": found,
        "progress": found.progress,
        "page": page,
        "filter": item_filter,
        "keep": keep,
        "live_url": live_url(request_id, keep),
        "billers": billers,
        "statuses": items.ITEM_STATUSES,
        "can_cancel": bool(user and user.can_operate) and found.state in CANCELLABLE,
    }


@bp.post("/<int:request_id>/cancel")
@role_required(*OPERATORS)
def cancel(request_id: int) -> Any:
    with engine().connect() as conn:
        try:
            found = get_request(conn, request_id)
        except NotFound:
            abort(404)
    try:
        done = actions.cancel(actor(), request_id, found.kind)
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(
            _(
                "Request cancelled: %(count)s items that were not sent yet will not be; "
                "those already sent finish.",
                count=f"{done.cancelled_items:,}",
            ),
            "success",
        )
    return redirect(url_for("requests.show", request_id=request_id))


@bp.get("/<int:request_id>/export.<any(csv, xlsx):fmt>")
@login_required
def export(request_id: int, fmt: str) -> Any:
    try:
        return export_response(request_id, fmt)
    except NotFound:
        abort(404)


FETCH = RequestKind(
    name="fetch",
    page=render_fetch,
    live=render_fetch_live,
    cancel=service.cancel_fetch_request,
    export_header=items.EXPORT_HEADER,
    export_rows=items.export_rows,
    export_name="fetch-request-{id}-results",
)
"""Fetch requests on the pages every request shares (registered by ``create_app``)."""


__all__ = ["FETCH", "bp", "render_fetch", "render_fetch_live"]
