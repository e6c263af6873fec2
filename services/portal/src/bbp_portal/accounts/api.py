"""``/api/v1`` accounts, groups and uploads: thin views over the services."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bbp_portal.accounts import groups as group_service
from bbp_portal.accounts import listing, selection
from bbp_portal.accounts import service as account_service
from bbp_portal.accounts.actions import (
    finish,
    read_upload_file,
    report_response,
    stage,
    template_response,
)
from bbp_portal.accounts.schemas import (
    AccountInSchema,
    AccountListQuery,
    AccountPatchSchema,
    AccountSchema,
    DeleteOutcomeSchema,
    GroupListQuery,
    GroupSchema,
    ProblemPageSchema,
    ProblemQuery,
    SelectionCountSchema,
    SelectionSchema,
    TemplateQuery,
    UploadSchema,
)
from bbp_portal.accounts.upload import report
from bbp_portal.accounts.upload import service as uploads
from bbp_portal.api import changing, endpoint, endpoints, keyset_page, page_of, reading
from bbp_portal.api.operation import CSV_OR_XLSX
from bbp_portal.auth import OPERATORS
from bbp_portal.view_context import actor, engine

api = Blueprint("accounts", __name__)
"""Bill accounts, groups and uploads under ``/api/v1`` (mounted by ``create_app``)."""

account_changes = endpoints(tags=["accounts"], roles=OPERATORS, tokens=True)
group_changes = endpoints(tags=["groups"], roles=OPERATORS, tokens=True)
upload_reads = endpoints(tags=["uploads"], roles=OPERATORS)
upload_changes = endpoints(tags=["uploads"], roles=OPERATORS, tokens=True)


# --------------------------------------------------------------------------- accounts


@api.get("/accounts")
@endpoint(
    "List bill accounts (search, filters, sorting, keyset pages)",
    query=AccountListQuery,
    response=page_of(AccountSchema),
    tags=["accounts"],
)
def list_accounts(query: dict[str, Any]) -> Any:
    page = reading(
        listing.list_accounts,
        query["filter"],
        sort=query["sort"],
        order=query["order"],
        cursor=query["cursor"],
        limit=query["limit"],
    )
    return keyset_page(page, limit=query["limit"], sort=page.sort, order=page.order)


@api.post("/accounts/selection/count")
@endpoint(
    "Count the active accounts a selection holds (capped at 10 000)",
    body=SelectionSchema,
    response=SelectionCountSchema,
    tags=["accounts"],
    tokens=True,
)
def count_selection(body: selection.AccountSelection) -> Any:
    cap = 10_000
    with engine().connect() as conn:
        if body.ids:
            count = len(selection.resolve_selection(conn, body))
        else:
            active = selection.AccountFilter(
                **{**(body.filter or selection.AccountFilter()).as_dict(), "status": "active"}
            )
            count = selection.count_capped(conn, active, cap)
    return {"count": min(count, cap), "capped": count > cap, "description": body.describe()}


@api.get("/accounts/<int:account_id>")
@endpoint("Read one bill account", response=AccountSchema, tags=["accounts"])
def get_account(account_id: int) -> Any:
    return reading(account_service.get_account, account_id)


@api.post("/accounts")
@account_changes("Add a bill account", body=AccountInSchema, response=AccountSchema, status=201)
def create_account(body: account_service.AccountInput) -> Any:
    return changing(account_service.create_account, body)


@api.patch("/accounts/<int:account_id>")
@account_changes(
    "Change, deactivate (active=false) or reactivate a bill account",
    body=AccountPatchSchema,
    response=AccountSchema,
)
def update_account(account_id: int, body: dict[str, Any]) -> Any:
    who = actor()
    with engine().begin() as conn:
        current = account_service.get_account(conn, account_id)
        active = body.pop("active", None)
        if body:
            values: dict[str, Any] = {
                "utility_code": current.utility_code,
                "consumer_id": current.consumer_id,
                "mobile": current.mobile,
                "label": current.label,
                "group_ids": [g[0] for g in current.groups],
            }
            values.update(body)
            current = account_service.update_account(
                conn, who, account_id, account_service.AccountInput(**values)
            )
        if active is not None:
            current = account_service.set_account_active(conn, who, account_id, active)
        return current


@api.delete("/accounts/<int:account_id>")
@account_changes(
    "Delete a bill account (deactivated instead when fetches or payments refer to it)",
    response=DeleteOutcomeSchema,
)
def delete_account(account_id: int) -> Any:
    with engine().begin() as conn:
        outcome = account_service.delete_account(conn, actor(), account_id)
        account = (
            account_service.get_account(conn, account_id) if outcome == "deactivated" else None
        )
    return {"outcome": outcome, "account": account}


# --------------------------------------------------------------------------- groups


@api.get("/groups")
@endpoint(
    "List account groups", query=GroupListQuery, response=GroupSchema, many=True, tags=["groups"]
)
def list_groups(query: dict[str, Any]) -> Any:
    return reading(group_service.list_groups, with_counts=query["counts"])


@api.post("/groups")
@group_changes("Add a group", body=GroupSchema, response=GroupSchema, status=201)
def create_group(body: dict[str, Any]) -> Any:
    return changing(group_service.create_group, body["name"])


@api.patch("/groups/<int:group_id>")
@group_changes("Rename a group", body=GroupSchema, response=GroupSchema)
def rename_group(group_id: int, body: dict[str, Any]) -> Any:
    return changing(group_service.rename_group, group_id, body["name"])


@api.delete("/groups/<int:group_id>")
@group_changes("Delete a group (its accounts stay)", status=204)
def delete_group(group_id: int) -> Any:
    changing(group_service.delete_group, group_id)
    return Response(status=204)


# --------------------------------------------------------------------------- uploads


@api.get("/uploads/template")
@upload_reads("Download the upload template", query=TemplateQuery, content_type=CSV_OR_XLSX)
def upload_template(query: dict[str, Any]) -> Any:
    return template_response(query["format"])


@api.post("/uploads")
@upload_changes(
    "Validate a CSV or XLSX file of accounts; nothing is stored until import",
    response=UploadSchema,
    status=201,
    multipart={"file": "binary"},
)
def create_upload() -> Any:
    return stage(*read_upload_file())


@api.get("/uploads")
@upload_reads("My recent uploads (not expired)", response=UploadSchema, many=True)
def list_uploads() -> Any:
    return reading(uploads.list_uploads, actor())


@api.get("/uploads/<int:upload_id>")
@upload_reads("One of my uploads", response=UploadSchema)
def get_upload(upload_id: int) -> Any:
    return reading(uploads.get_upload, actor(), upload_id)


@api.get("/uploads/<int:upload_id>/problems")
@upload_reads(
    "The report: every problem by line and column", query=ProblemQuery, response=ProblemPageSchema
)
def upload_problems(upload_id: int, query: dict[str, Any]) -> Any:
    items, next_after = reading(
        report.upload_problems, actor(), upload_id, after=query["after"], limit=query["limit"]
    )
    return {"items": items, "next_after": next_after}


@api.get("/uploads/<int:upload_id>/report.csv")
@upload_reads("The report as CSV", content_type="text/csv")
def upload_report(upload_id: int) -> Any:
    return report_response(upload_id)


@api.post("/uploads/<int:upload_id>/import")
@upload_changes(
    "Import the valid rows (all of them, or none if anything changed since)", response=UploadSchema
)
def import_upload(upload_id: int) -> Any:
    return finish(upload_id, do_import=True)


@api.post("/uploads/<int:upload_id>/discard")
@upload_changes("Import none: discard the upload", response=UploadSchema)
def discard_upload(upload_id: int) -> Any:
    return finish(upload_id, do_import=False)
