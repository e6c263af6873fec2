"""``/api/v1/requests``: create a fetch, read progress and results, export, cancel, list.

Thin views over :mod:`~bbp_portal.requests.queries` (reading) and
:mod:`~bbp_portal.requests.actions` (creating, cancelling); the request page's script polls
``GET /requests/{id}/progress``. Auditors read everything and change nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import Connection

from bbp_portal.api import endpoints, keyset_page, page_of, reading
from bbp_portal.api.operation import CSV_OR_XLSX
from bbp_portal.auth import OPERATORS
from bbp_portal.bulk import queries as bulk
from bbp_portal.bulk.schemas import ProgressSchema, RequestSchema
from bbp_portal.requests import actions, items, queries
from bbp_portal.requests.export import export_response
from bbp_portal.requests.schemas import (
    BillerTotalsSchema,
    CancelledSchema,
    ExportQuery,
    FetchCreateSchema,
    ItemListQuery,
    ItemSchema,
    RequestListQuery,
)
from bbp_portal.requests.totals import TotalsCache
from bbp_portal.service_errors import NotFound
from bbp_portal.view_context import actor, engine

api = Blueprint("requests", __name__)
"""Requests under ``/api/v1`` (mounted by ``create_app``)."""

TAGS = ["requests"]
reads = endpoints(tags=TAGS)
operator_changes = endpoints(roles=OPERATORS, tags=TAGS, tokens=True)


@api.post("/requests/fetch")
@operator_changes(
    "Fetch the pending bills of bill accounts: ticked ids, a group, or a filter",
    body=FetchCreateSchema,
    response=RequestSchema,
    status=201,
    description="Creates the request and its items at once and answers with the request; "
    "the fetching runs in the background (poll the progress).",
)
def create_fetch(body: dict[str, Any]) -> Any:
    selection = actions.selection_of(body["ids"], body["group_id"], body["filter"])
    created = actions.start_fetch(actor(), selection, via="api")
    return reading(bulk.get_request, created.request_id)


@api.get("/requests")
@reads(
    "List requests (fetch and payment), newest first, keyset pages",
    query=RequestListQuery,
    response=page_of(RequestSchema),
)
def list_requests(query: dict[str, Any]) -> Any:
    page = reading(
        queries.list_requests, query["filter"], cursor=query["cursor"], limit=query["limit"]
    )
    return keyset_page(page, sort="id")


@api.get("/requests/<int:request_id>")
@reads("Read a request with its progress", response=RequestSchema)
def get_request(request_id: int) -> Any:
    return reading(bulk.get_request, request_id)


@api.get("/requests/<int:request_id>/progress")
@reads(
    "A request's progress from its tallies (what the request page polls)", response=ProgressSchema
)
def get_progress(request_id: int) -> Any:
    return reading(bulk.get_progress, request_id).as_dict()


def _fetch_request(conn: Connection, request_id: int) -> bulk.RequestRow:
    found = bulk.get_request(conn, request_id)
    if found.kind != "fetch":
        # The sub-resource does not exist for a request of the other kind: 404.
        raise NotFound(
            f"Request {request_id} is a {found.kind} request, not a fetch.", "not_a_fetch"
        )
    return found


@api.get("/requests/<int:request_id>/items")
@reads(
    "Per-account results of a fetch request (filters, keyset pages), with the bills found",
    query=ItemListQuery,
    response=page_of(ItemSchema),
)
def list_items(request_id: int, query: dict[str, Any]) -> Any:
    with engine().connect() as conn:
        _fetch_request(conn, request_id)
        page = items.list_items(
            conn, request_id, query["filter"], cursor=query["cursor"], limit=query["limit"]
        )
    return keyset_page(page, sort="id")


def biller_totals(conn: Connection, request_id: int) -> dict[str, Any]:
    """Bills found per biller and overall (cached once the request is settled)."""
    progress = bulk.get_progress(conn, request_id)
    cache: TotalsCache = current_app.extensions["bbp.biller_totals"]
    totals = cache.get(conn, progress)
    return {
        "request_id": request_id,
        "settled": progress.settled,
        "billers": totals,
        "bills": sum(t.bills for t in totals),
        "amount": sum((t.amount for t in totals), Decimal("0")),
        "service_charge": sum((t.service_charge for t in totals), Decimal("0")),
    }


@api.get("/requests/<int:request_id>/billers")
@reads(
    "Pending bills found, totalled per biller",
    response=BillerTotalsSchema,
    description="Reads every bill of the request: cheap once settled (cached), slower on a "
    "large running request — poll progress, not this.",
)
def get_biller_totals(request_id: int) -> Any:
    with engine().connect() as conn:
        _fetch_request(conn, request_id)
        return biller_totals(conn, request_id)


@api.post("/requests/<int:request_id>/cancel")
@operator_changes(
    "Cancel a queued or running request: undispatched items are cancelled, dispatched finish",
    response=CancelledSchema,
)
def cancel_request(request_id: int) -> Any:
    found = reading(bulk.get_request, request_id)
    done = actions.cancel(actor(), request_id, found.kind)
    with engine().connect() as conn:
        return {
            "request_id": request_id,
            "cancelled_items": done.cancelled_items,
            "request": bulk.get_request(conn, request_id),
        }


@api.get("/requests/<int:request_id>/export")
@reads(
    "Download a request's results: fetch — one row per bill, plus accounts without one; "
    "payment — one row per payment (reference id, orderId, state, Mobiquity's message)",
    query=ExportQuery,
    content_type=CSV_OR_XLSX,
    description="format=csv (UTF-8 with BOM) or xlsx. Text cells that a spreadsheet would run "
    "as a formula (starting =, +, -, @, tab, CR) begin with an apostrophe.",
)
def export(request_id: int, query: dict[str, Any]) -> Any:
    return export_response(request_id, query["format"])


__all__ = ["biller_totals"]
