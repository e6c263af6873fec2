"""The reconciliation pages: the uploads (and the form to upload a report), one
reconciliation (counts per class, its items a page at a time, filtered by class; the open
payments a definitive line settled, handed to bulk resolution), its CSV export, and the
double-payment alarms (a superadmin clears one with a comment).

Bulk resolution (``payments.resolve_many``, another feature) is reached by a form posting
the payments' ``ids`` with this reconciliation and the outcome its lines say; until that
page exists here, the page links each payment's own page instead.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _

from bbp_portal.auth import OPERATORS, current_user, login_required, role_required
from bbp_portal.reconcile import actions, alarms, service
from bbp_portal.reconcile.reading import MAPPING_FIELDS, ColumnMapping
from bbp_portal.requests.export import csv_chunks
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import actor, engine

bp = Blueprint("reconcile", __name__, url_prefix="/reconciliations")

READERS = ("admin", "superadmin", "auditor")
RESOLVE_MANY = "payments.resolve_many"


def _class_words() -> dict[str, str]:
    return {c: _(w) for c, w in service.CLASS_WORDS.items()}


def _mapping_labels() -> dict[str, str]:
    return {
        "reference": _("Our reference id (column)"),
        "reference_fallback": _("Our reference id when that one is empty (column)"),
        "transaction": _("Mobiquity's transaction id (column)"),
        "status": _("Status (column)"),
        "amount": _("Amount (column)"),
        "when": _("Date and time (column)"),
        "paid_words": _("Statuses that mean paid (comma-separated)"),
        "failed_words": _("Statuses that mean failed (comma-separated)"),
        "tz": _("Time zone of the report's dates"),
    }


@bp.get("/")
@login_required
@role_required(*READERS)
def index() -> Any:
    before = request.args.get("before", type=int)
    with engine().connect() as conn:
        rows = service.list_reconciliations(conn, before=before, limit=50)
        standing = alarms.count_alarms(conn)
    user = current_user()
    return render_template(
        "reconcile/index.html",
        rows=rows,
        next_before=rows[-1]["id"] if len(rows) == 50 else None,
        standing=standing,
        can_upload=user is not None and user.role in OPERATORS,
        mapping=ColumnMapping(),
        mapping_fields=MAPPING_FIELDS,
        mapping_labels=_mapping_labels(),
        words=_class_words(),
        classes=service.CLASSES,
        max_mib=actions.limits().max_bytes // (1024 * 1024),
        max_rows=actions.limits().max_rows,
    )


@bp.post("/")
@login_required
@role_required(*OPERATORS)
def upload() -> Any:
    try:
        done = actions.upload_from_request(request.form)
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("reconcile.index")), 303
    flash(
        _("The report was matched: %(lines)s lines.", lines=f"{done['lines']:,}"),
        "success",
    )
    return redirect(url_for("reconcile.show", reconciliation_id=done["id"])), 303


@bp.get("/<int:reconciliation_id>")
@login_required
@role_required(*READERS)
def show(reconciliation_id: int) -> Any:
    klass = request.args.get("class") or None
    after = request.args.get("after", type=int)
    with engine().connect() as conn:
        summary = service.get_reconciliation(conn, reconciliation_id)
        rows, next_after = service.items(conn, reconciliation_id, klass=klass, after=after)
        to_resolve = {
            outcome: service.open_payment_ids(conn, reconciliation_id, outcome)
            for outcome in ("paid", "not_paid")
        }
    user = current_user()
    return render_template(
        "reconcile/show.html",
        r=summary,
        rows=rows,
        klass=klass,
        next_after=next_after,
        words=_class_words(),
        classes=service.CLASSES,
        to_resolve=to_resolve,
        can_resolve=user is not None and user.role == "superadmin",
        resolve_many=RESOLVE_MANY in current_app.view_functions,
        max_resolve=service.MAX_RESOLVE,
    )


@bp.get("/<int:reconciliation_id>/export.csv")
@login_required
@role_required(*READERS)
def export(reconciliation_id: int) -> Any:
    klass = request.args.get("class") or None
    with engine().connect() as conn:
        service.get_reconciliation(conn, reconciliation_id)  # 404 before streaming starts
    rows = service.export_rows(engine(), reconciliation_id, klass)
    name = f"reconciliation-{reconciliation_id}{'-' + klass if klass else ''}.csv"
    return Response(
        stream_with_context(csv_chunks(service.EXPORT_HEADERS, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/alarms")
@login_required
@role_required(*READERS)
def alarm_list() -> Any:
    with engine().connect() as conn:
        standing = alarms.list_alarms(conn)
        cleared = alarms.list_alarms(conn, cleared=True, limit=50)
    user = current_user()
    return render_template(
        "reconcile/alarms.html",
        standing=standing,
        cleared=cleared,
        can_clear=user is not None and user.role == "superadmin",
    )


@bp.post("/alarms/<int:alarm_id>/clear")
@login_required
@role_required("superadmin")
def clear_alarm(alarm_id: int) -> Any:
    try:
        alarms.clear_alarm(engine(), actor(), alarm_id, request.form.get("comment", ""))
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("The alarm is cleared: its bill may be paid again."), "success")
    return redirect(url_for("reconcile.alarm_list")), 303


__all__ = ["bp"]
