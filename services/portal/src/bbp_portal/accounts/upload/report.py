"""The report of a validated upload: its problems by line, a page at a time, and the whole
report as a CSV file (formula-safe), streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import Connection, select

from bbp_common.platform.db.tables import account_upload_errors
from bbp_portal.accounts.upload.service import CHUNK, get_upload
from bbp_portal.accounts.upload.validate import Problem
from bbp_portal.audit_trail import Actor

E = account_upload_errors.c


def upload_problems(
    conn: Connection, actor: Actor, upload_id: int, *, after: int = 0, limit: int = 200
) -> tuple[list[Problem], int | None]:
    """A page of the report (problems by line), and the cursor of the next page."""
    get_upload(conn, actor, upload_id)
    rows = conn.execute(
        select(E.id, E.line, E.column_name, E.column_letter, E.code, E.message, E.value)
        .where(E.upload_id == upload_id, E.id > after)
        .order_by(E.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    problems = [
        Problem(r.line, r.column_name, r.column_letter, r.code, r.message, r.value) for r in rows
    ]
    return problems, (rows[-1].id if more else None)


def _cell(value: object) -> str:
    """Neutralise spreadsheet formulas in the report (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_csv(conn: Connection, actor: Actor, upload_id: int) -> Iterator[str]:
    """The report as CSV lines (UTF-8 BOM first, so Excel reads it right), streamed."""
    summary = get_upload(conn, actor, upload_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(["line", "column", "field", "code", "message", "value"])
    yield out.getvalue()
    after = 0
    while True:
        rows = conn.execute(
            select(E.id, E.line, E.column_letter, E.column_name, E.code, E.message, E.value)
            .where(E.upload_id == summary.id, E.id > after)
            .order_by(E.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        out.seek(0)
        out.truncate()
        for r in rows:
            writer.writerow(
                [r.line, r.column_letter, r.column_name, r.code, _cell(r.message), _cell(r.value)]
            )
        yield out.getvalue()
        after = rows[-1].id


__all__ = ["report_csv", "upload_problems"]
