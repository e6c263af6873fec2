"""What the reconciliation page and the API both do with an upload: take the ``file`` part
(spooled to disk by Werkzeug, handed on as a file — never read into memory whole), the column
mapping and the period from the form, and reconcile; a refusal is answered in the reader's
language (413 for a file too big in some way, 422 for its content).

The report may be larger than any other upload: :func:`install` raises the request's body
limit for the report endpoints only (``BBP_REPORT_MAX_BYTES``), before any hook parses the
form.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, request
from flask_babel import gettext

from bbp_common.platform.logging import get_logger
from bbp_portal.files.limits import UploadLimits, UploadRefused, reports
from bbp_portal.reconcile import service
from bbp_portal.reconcile.reading import ColumnMapping
from bbp_portal.service_errors import ServiceError, ValidationFailed
from bbp_portal.view_context import actor, engine, settings

log = get_logger(__name__)

#: The endpoints that take a report (their body may be as large as a report).
REPORT_ENDPOINTS = frozenset({"reconcile.upload", "api_v1.reconcile.upload_report"})
#: Room for the multipart envelope and the mapping fields.
ENVELOPE = 64 * 1024


def limits() -> UploadLimits:
    s = settings()
    return reports(max_bytes=s.report_max_bytes, max_rows=s.report_max_rows)


def install(app: Flask) -> None:
    """Before every other hook that reads the body: a report endpoint's body limit."""

    def report_body_limit() -> None:
        if request.endpoint in REPORT_ENDPOINTS:
            request.max_content_length = settings().report_max_bytes + ENVELOPE

    app.before_request_funcs.setdefault(None, []).insert(0, report_body_limit)


class Refused(ServiceError):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message, "file")
        self.status = status


def _day(name: str, value: str | None) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed("bad_date", f"{name}: not a date (YYYY-MM-DD).", name) from None


def upload_from_request(form: Any) -> dict[str, Any]:
    """Reconcile the uploaded report with the form's mapping and period."""
    storage = request.files.get("file")
    if storage is None or not storage.filename:
        raise ValidationFailed("missing", gettext("Choose the report (CSV or XLSX)."), "file")
    stream = storage.stream
    bounds = limits()
    period = service.Period(
        _day("period_from", form.get("period_from")), _day("period_to", form.get("period_to"))
    )
    if period.start and period.end and period.end < period.start:
        raise ValidationFailed("bad_period", "period_to: before period_from.", "period_to")
    try:
        return service.reconcile(
            engine(),
            actor(),
            stream,  # type: ignore[arg-type]
            storage.filename,
            mapping=ColumnMapping.of(form),
            limits=bounds,
            period=period,
        )
    except UploadRefused as exc:
        log.info("report_refused", code=exc.code, detail=exc.detail[:200])
        status = exc.status
        raise Refused(exc.code, gettext(exc.template, **exc.params), status) from None


__all__ = ["REPORT_ENDPOINTS", "install", "limits", "upload_from_request"]
