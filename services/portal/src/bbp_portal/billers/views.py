"""The biller catalogue page: superadmins add, edit, deactivate and reactivate billers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bbp_portal.auth import role_required
from bbp_portal.billers import service
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import actor, engine

bp = Blueprint("billers", __name__, url_prefix="/billers")


def _form_input(utility_code: str | None = None) -> service.BillerInput:
    form = request.form
    product = form.get("product_id", "").strip()
    return service.BillerInput(
        utility_code=utility_code or form.get("utility_code", ""),
        name=form.get("name", ""),
        receiver_wallet=form.get("receiver_wallet", ""),
        product_id=int(product) if product.isdigit() else 0,
        biller_code=form.get("biller_code", ""),
        pays_service_charge=form.get("pays_service_charge") == "on",
        supports_fetch=form.get("supports_fetch") == "on",
        active=form.get("active") == "on",
    )


@bp.get("")
@role_required("superadmin")
def index() -> Any:
    with engine().connect() as conn:
        billers = service.list_billers(conn)
    return render_template("billers/list.html", billers=billers)


@bp.route("/new", methods=["GET", "POST"])
@role_required("superadmin")
def new() -> Any:
    if request.method == "GET":
        return render_template("billers/form.html", biller=None, error=None)
    try:
        with engine().begin() as conn:
            biller = service.create_biller(conn, actor(), _form_input())
    except ServiceError as exc:
        return render_template("billers/form.html", biller=request.form, error=exc), exc.status
    flash(f"Biller {biller.utility_code} added.", "success")
    return redirect(url_for("billers.index"))


@bp.route("/<utility_code>/edit", methods=["GET", "POST"])
@role_required("superadmin")
def edit(utility_code: str) -> Any:
    with engine().connect() as conn:
        current = service.get_biller(conn, utility_code)
    if request.method == "GET":
        return render_template("billers/form.html", biller=current.__dict__, error=None)
    try:
        with engine().begin() as conn:
            service.update_biller(conn, actor(), utility_code, _form_input(current.utility_code))
    except ServiceError as exc:
        return render_template(
            "billers/form.html",
            biller={**request.form, "utility_code": current.utility_code, "id": current.id},
            error=exc,
        ), exc.status
    flash("Saved.", "success")
    return redirect(url_for("billers.index"))


@bp.post("/<utility_code>/<any(activate, deactivate):action>")
@role_required("superadmin")
def set_active(utility_code: str, action: str) -> Any:
    with engine().begin() as conn:
        biller = service.set_biller_active(conn, actor(), utility_code, action == "activate")
    flash(f"{biller.utility_code} {'reactivated' if biller.active else 'deactivated'}.", "success")
    return redirect(url_for("billers.index"))
