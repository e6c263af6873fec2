"""Pages: bill accounts (list, add, edit, deactivate, delete), groups, bulk upload.

Thin: read the form, call a service, show its answer. Rules and errors come from the
services (the same ones the API uses); a :class:`ServiceError` becomes a message on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

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
from bbp_portal.accounts.upload import report
from bbp_portal.accounts.upload import service as uploads
from bbp_portal.auth import OPERATORS, current_user, login_required, role_required
from bbp_portal.billers.service import list_billers
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import actor, changing, engine, settings

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
REPORT_ROWS_SHOWN = 500


def _filter_from(args: Any) -> selection.AccountFilter:
    group = args.get("group_id", "")
    status = args.get("status", "all")
    return selection.AccountFilter(
        q=args.get("q", "")[:64],
        utility=args.get("utility", "")[:16],
        group_id=int(group) if group.isdigit() else None,
        status=status if status in ("active", "inactive", "all") else "all",
    )


@bp.get("")
@login_required
def index() -> Any:
    account_filter = _filter_from(request.args)
    sort = request.args.get("sort", "id")
    order = request.args.get("order", "asc")
    sort = sort if sort in listing.SORTS else "id"
    order = order if order in ("asc", "desc") else "asc"
    with engine().connect() as conn:
        try:
            page = listing.list_accounts(
                conn,
                account_filter,
                sort=sort,
                order=order,
                cursor=request.args.get("cursor"),
                limit=50,
            )
        except listing.InvalidCursor as exc:
            flash(str(exc), "warning")
            page = listing.list_accounts(conn, account_filter, sort=sort, order=order, limit=50)
        matching = selection.count_capped(conn, account_filter)
        billers = list_billers(conn)
        groups = group_service.list_groups(conn)
    keep = {k: v for k, v in account_filter.as_dict().items() if v not in ("", None, "all")}
    keep.update(sort=page.sort, order=page.order)
    user = current_user()
    return render_template(
        "accounts/list.html",
        page=page,
        filter=account_filter,
        keep=keep,
        matching=matching,
        billers=billers,
        groups=groups,
        sorts=list(listing.SORTS),
        can_edit=bool(user and user.can_operate),
    )


def _form_input() -> account_service.AccountInput:
    return account_service.AccountInput(
        utility_code=request.form.get("utility_code", ""),
        consumer_id=request.form.get("consumer_id", ""),
        mobile=request.form.get("mobile", ""),
        label=request.form.get("label", ""),
        group_ids=[int(g) for g in request.form.getlist("group_ids") if g.isdigit()],
    )


def _form(account: Any, error: ServiceError | None = None, status: int = 200) -> Any:
    with engine().connect() as conn:
        billers = [
            b
            for b in list_billers(conn)
            if b.active or (account and b.utility_code == account.get("utility_code"))
        ]
        groups = group_service.list_groups(conn)
    return render_template(
        "accounts/form.html", account=account, error=error, billers=billers, groups=groups
    ), status


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OPERATORS)
def new() -> Any:
    if request.method == "GET":
        return _form(None)
    data = _form_input()
    try:
        with engine().begin() as conn:
            created = account_service.create_account(conn, actor(), data)
    except ServiceError as exc:
        return _form(request.form | {"group_ids": data.group_ids}, exc, exc.status)
    flash(f"Added {created.utility_code} {created.consumer_id}.", "success")
    return redirect(url_for("accounts.index"))


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@role_required(*OPERATORS)
def edit(account_id: int) -> Any:
    with engine().connect() as conn:
        current = account_service.get_account(conn, account_id)
    if request.method == "GET":
        return _form({**current.__dict__, "group_ids": [g[0] for g in current.groups]})
    data = _form_input()
    try:
        with engine().begin() as conn:
            account_service.update_account(conn, actor(), account_id, data)
    except ServiceError as exc:
        return _form(
            {
                **request.form,
                "id": account_id,
                "active": current.active,
                "group_ids": data.group_ids,
            },
            exc,
            exc.status,
        )
    flash("Saved.", "success")
    return redirect(url_for("accounts.index"))


@bp.post("/<int:account_id>/<any(activate, deactivate):action>")
@role_required(*OPERATORS)
def set_active(account_id: int, action: str) -> Any:
    with engine().begin() as conn:
        account = account_service.set_account_active(
            conn, actor(), account_id, action == "activate"
        )
    flash(
        f"{account.utility_code} {account.consumer_id} "
        f"{'reactivated' if account.active else 'deactivated'}.",
        "success",
    )
    return redirect(request.referrer or url_for("accounts.index"))


@bp.post("/<int:account_id>/delete")
@role_required(*OPERATORS)
def delete(account_id: int) -> Any:
    with engine().begin() as conn:
        outcome = account_service.delete_account(conn, actor(), account_id)
    if outcome == "deleted":
        flash("Deleted.", "success")
    else:
        flash(
            "This account has fetches or payments, so it was deactivated instead of deleted.",
            "warning",
        )
    return redirect(url_for("accounts.index"))


# --------------------------------------------------------------------------- groups


@bp.get("/groups")
@login_required
def groups() -> Any:
    with engine().connect() as conn:
        found = group_service.list_groups(conn, with_counts=True)
    user = current_user()
    return render_template(
        "accounts/groups.html", groups=found, can_edit=bool(user and user.can_operate)
    )


@bp.post("/groups")
@role_required(*OPERATORS)
def create_group() -> Any:
    name = request.form.get("name", "")
    return _change_group(
        group_service.create_group, name, said=lambda g: f"Group {g.name!r} added."
    )


@bp.post("/groups/<int:group_id>/rename")
@role_required(*OPERATORS)
def rename_group(group_id: int) -> Any:
    name = request.form.get("name", "")
    return _change_group(group_service.rename_group, group_id, name, said=lambda _: "Renamed.")


def _change_group(change: Callable[..., Any], *args: Any, said: Callable[[Any], str]) -> Any:
    """Add or rename a group as the signed-in person, then back to the groups page saying
    what was done (``said`` of what the service answered) or why not."""
    try:
        flash(said(changing(change, *args)), "success")
    except ServiceError as exc:
        flash(exc.message, "danger")
    return redirect(url_for("accounts.groups"))


@bp.post("/groups/<int:group_id>/delete")
@role_required(*OPERATORS)
def delete_group(group_id: int) -> Any:
    with engine().begin() as conn:
        group_service.delete_group(conn, actor(), group_id)
    flash("Group deleted; its accounts stay.", "success")
    return redirect(url_for("accounts.groups"))


# --------------------------------------------------------------------------- uploads


@bp.get("/upload")
@role_required(*OPERATORS)
def upload() -> Any:
    with engine().connect() as conn:
        recent = uploads.list_uploads(conn, actor())
    return render_template(
        "accounts/upload.html", recent=recent, max_rows=settings().upload_max_rows
    )


@bp.post("/upload")
@role_required(*OPERATORS)
def upload_post() -> Any:
    try:
        summary = stage(*read_upload_file())
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("accounts.upload"))
    return redirect(url_for("accounts.upload_report", upload_id=summary.id))


@bp.get("/template.<any(csv, xlsx):fmt>")
@role_required(*OPERATORS)
def template(fmt: str) -> Any:
    return template_response(fmt)


@bp.get("/uploads/<int:upload_id>")
@role_required(*OPERATORS)
def upload_report(upload_id: int) -> Any:
    with engine().connect() as conn:
        try:
            summary = uploads.get_upload(conn, actor(), upload_id)
        except ServiceError:
            abort(404)
        problems, more = report.upload_problems(conn, actor(), upload_id, limit=REPORT_ROWS_SHOWN)
    return render_template(
        "accounts/report.html", upload=summary, problems=problems, more=more is not None
    )


@bp.get("/uploads/<int:upload_id>/report.csv")
@role_required(*OPERATORS)
def upload_report_csv(upload_id: int) -> Any:
    return report_response(upload_id)


@bp.post("/uploads/<int:upload_id>/<any(import, discard):action>")
@role_required(*OPERATORS)
def upload_finish(upload_id: int, action: str) -> Any:
    try:
        summary = finish(upload_id, do_import=action == "import")
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("accounts.upload_report", upload_id=upload_id))
    if action == "import":
        flash(f"Imported {summary.imported_rows} accounts from {summary.file_name}.", "success")
        return redirect(url_for("accounts.index"))
    flash(f"Discarded {summary.file_name}: nothing was imported.", "info")
    return redirect(url_for("accounts.upload"))
