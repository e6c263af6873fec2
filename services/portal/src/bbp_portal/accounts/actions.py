"""What the upload pages and the upload API both do: read the file, stage it, import or
discard it, answer its report and the template — each refusal audited — so a page and an
API call do exactly the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, request, stream_with_context
from flask_babel import gettext

from bbp_common.platform.logging import get_logger
from bbp_portal.accounts.upload import report
from bbp_portal.accounts.upload import service as uploads
from bbp_portal.accounts.upload.template import template_csv, template_xlsx
from bbp_portal.audit_trail import record
from bbp_portal.files.limits import UploadLimits, bill_accounts
from bbp_portal.service_errors import ServiceError, ValidationFailed
from bbp_portal.view_context import actor, engine, settings

log = get_logger(__name__)


def _limits() -> UploadLimits:
    s = settings()
    return bill_accounts(max_bytes=s.upload_max_bytes, max_rows=s.upload_max_rows)


def read_upload_file() -> tuple[str, bytes]:
    """The ``file`` part of a multipart request, read up to the size limit (+1 byte)."""
    storage = request.files.get("file")
    if storage is None or not storage.filename:
        raise ValidationFailed("missing", "Choose a CSV or XLSX file to upload.", "file")
    data = storage.stream.read(settings().upload_max_bytes + 1)
    return storage.filename, data


def stage(file_name: str, data: bytes) -> uploads.UploadSummary:
    """Validate and stage an upload; a refused file is audited and answered 422."""
    who = actor()
    try:
        with engine().begin() as conn:
            return uploads.validate_upload(
                conn,
                who,
                file_name,
                data,
                limits=_limits(),
                ttl=timedelta(seconds=settings().upload_ttl),
            )
    except uploads.UploadRefused as exc:
        with engine().begin() as conn:
            record(
                conn,
                who,
                "accounts.upload.validate",
                target_type="upload",
                outcome="refused",
                file_name=file_name[:255],
                size=len(data),
                code=exc.code,
            )
        log.info("upload_refused", code=exc.code, detail=exc.detail[:200], size=len(data))
        status = exc.status
        message = gettext(exc.template, **exc.params)  # in the reader's language
        raise _Refused(exc.code, message, "file", status) from None


class _Refused(ServiceError):
    def __init__(self, code: str, message: str, field: str, status: int) -> None:
        super().__init__(code, message, field)
        self.status = status


def finish(upload_id: int, *, do_import: bool) -> uploads.UploadSummary:
    """Import or discard; a refusal (stale, already done) is audited too."""
    who = actor()
    action = "accounts.upload.import" if do_import else "accounts.upload.discard"
    try:
        with engine().begin() as conn:
            if do_import:
                return uploads.import_upload(conn, who, upload_id)
            return uploads.discard_upload(conn, who, upload_id)
    except ServiceError as exc:
        with engine().begin() as conn:
            record(
                conn,
                who,
                action,
                target_type="upload",
                target_id=upload_id,
                outcome="refused",
                code=exc.code,
                reason=exc.message,
            )
        raise


def report_response(upload_id: int) -> Response:
    who = actor()
    with engine().connect() as conn:
        summary = uploads.get_upload(conn, who, upload_id)  # 404 before streaming starts

    def lines() -> Any:
        with engine().connect() as conn:
            yield from report.report_csv(conn, who, upload_id)

    stem = summary.file_name.rsplit(".", 1)[0].replace('"', "")[:80] or "upload"
    return Response(
        stream_with_context(lines()),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stem}-report.csv"'},
    )


def template_response(fmt: str) -> Response:
    """The upload template as CSV or XLSX."""
    if fmt == "xlsx":
        return Response(
            template_xlsx(),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": "attachment; filename=accounts-template.xlsx"},
        )
    return Response(
        template_csv(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=accounts-template.csv"},
    )


__all__ = ["finish", "read_upload_file", "report_response", "stage", "template_response"]
