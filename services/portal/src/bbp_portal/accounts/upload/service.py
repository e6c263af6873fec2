"""Staging and importing bulk uploads of bill accounts (their report: ``report``).

Two steps, as the admin sees them: **validate** (parse, check every row, keep the outcome
server-side in ``account_uploads`` / ``…_rows`` / ``…_errors``, show the report) and
**import** (store the valid rows, or discard the upload). The staged upload belongs to its
uploader and expires. The import stores exactly the rows the report called valid: if the
catalogue, the groups or the stored accounts changed meanwhile so that any of them would now
be refused, nothing is stored and the admin is asked to validate again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from bbp_common.platform.db import db_now
from bbp_common.platform.db.tables import (
    account_groups,
    account_upload_errors,
    account_upload_rows,
    account_uploads,
    bill_accounts,
    billers,
)
from bbp_portal.accounts.groups import groups_by_name
from bbp_portal.accounts.upload.parse import Limits, UploadRefused, parse_upload
from bbp_portal.accounts.upload.validate import Catalogue, Validation, validate
from bbp_portal.audit_trail import Actor, record
from bbp_portal.billers.service import active_billers
from bbp_portal.service_errors import Conflict, NotFound

U = account_uploads.c
R = account_upload_rows.c
E = account_upload_errors.c
CHUNK = 2000

__all__ = ["UploadRefused", "UploadSummary", "import_upload", "validate_upload"]


@dataclass(frozen=True)
class UploadSummary:
    id: int
    file_name: str
    file_format: str
    state: str
    total_rows: int
    valid_rows: int
    error_rows: int
    error_count: int
    imported_rows: int | None
    created_by: str
    created_at: datetime
    expires_at: datetime


def _summary(row: Any) -> UploadSummary:
    return UploadSummary(
        row.id,
        row.file_name,
        row.file_format,
        row.state,
        row.total_rows,
        row.valid_rows,
        row.error_rows,
        row.error_count,
        row.imported_rows,
        row.created_by,
        row.created_at,
        row.expires_at,
    )


def _stored_lookup(conn: Connection) -> Any:
    def stored(keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        keys = list(keys)
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            consumers = sorted({c for _, c in chunk})
            query = select(bill_accounts.c.utility_code, bill_accounts.c.consumer_id).where(
                bill_accounts.c.consumer_id.in_(consumers)
            )
            found.update((u, c) for u, c in conn.execute(query))
        return found

    return stored


def _safe_name(file_name: str) -> str:
    name = file_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable())[:255] or "upload"


def validate_upload(
    conn: Connection,
    actor: Actor,
    file_name: str,
    data: bytes,
    *,
    limits: Limits,
    ttl: timedelta,
) -> UploadSummary:
    """Parse and check the file, stage the outcome for ``actor``, audit it; store no account.

    A file refused as a whole raises :class:`UploadRefused`; this transaction then rolls
    back, so the caller records the refusal in the audit log in a transaction of its own.
    """
    name = _safe_name(file_name)
    purge_expired(conn)
    parsed = parse_upload(data, name, limits)  # UploadRefused: the caller audits the refusal
    catalogue = Catalogue(billers=active_billers(conn), groups=groups_by_name(conn))
    result = validate(parsed, catalogue, _stored_lookup(conn))
    now = db_now(conn)
    upload_id = conn.execute(
        insert(account_uploads).values(
            created_by=actor.login_id,
            file_name=name,
            file_format=parsed.file_format,
            file_size=len(data),
            state="validated",
            total_rows=result.total,
            valid_rows=result.valid_rows,
            error_rows=result.error_rows,
            error_count=len(result.problems),
            created_at=now,
            expires_at=now + ttl,
        )
    ).lastrowid
    _stage(conn, upload_id, result)
    record(
        conn,
        actor,
        "accounts.upload.validate",
        target_type="upload",
        target_id=upload_id,
        file_name=name,
        size=len(data),
        format=parsed.file_format,
        rows=result.total,
        valid=result.valid_rows,
        invalid=result.error_rows,
        problems=len(result.problems),
    )
    return get_upload(conn, actor, upload_id)


_INSERT_ROWS = (
    "INSERT INTO account_upload_rows (upload_id, line, valid, utility_code, consumer_id,"
    " mobile, label, group_ids) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_PROBLEMS = (
    "INSERT INTO account_upload_errors (upload_id, line, column_letter, column_name,"
    " code, message, value) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


def _stage(conn: Connection, upload_id: int, result: Validation) -> None:
    """Write the rows and problems with the driver's multi-row INSERT.

    Plain tuples through ``exec_driver_sql`` skip SQLAlchemy's per-row compilation, which
    is most of the time of staging 50 000 rows.
    """
    rows = [
        (
            upload_id,
            r.line,
            r.valid,
            r.utility_code,
            r.consumer_id[:64],
            r.mobile[:15],
            r.label[:120],
            ",".join(str(g) for g in r.group_ids),
        )
        for r in result.rows
    ]
    _insert_chunks(conn, _INSERT_ROWS, rows)
    problems = [
        (upload_id, p.line, p.letter, p.column, p.code, p.message[:255], p.value[:255])
        for p in result.problems
    ]
    _insert_chunks(conn, _INSERT_PROBLEMS, problems)


def _insert_chunks(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Run the driver's multi-row ``sql`` on ``rows``, ``CHUNK`` rows at a time."""
    for start in range(0, len(rows), CHUNK):
        conn.exec_driver_sql(sql, rows[start : start + CHUNK])


def get_upload(
    conn: Connection, actor: Actor, upload_id: int, *, lock: bool = False
) -> UploadSummary:
    """The upload, if ``actor`` made it and it has not expired (else :class:`NotFound`)."""
    query = select(account_uploads).where(
        U.id == upload_id, U.created_by == actor.login_id, U.expires_at > func.utc_timestamp(6)
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(
            "No such upload (uploads expire; validate the file again).", "upload_not_found"
        )
    return _summary(row)


def list_uploads(conn: Connection, actor: Actor, limit: int = 20) -> list[UploadSummary]:
    rows = conn.execute(
        select(account_uploads)
        .where(U.created_by == actor.login_id, U.expires_at > func.utc_timestamp(6))
        .order_by(U.id.desc())
        .limit(limit)
    )
    return [_summary(r) for r in rows]


def import_upload(conn: Connection, actor: Actor, upload_id: int) -> UploadSummary:
    """Store the valid rows of a validated upload, all or none; audit it.

    Raises :class:`Conflict` ``upload_stale`` when anything the report relied on changed.
    """
    summary = get_upload(conn, actor, upload_id, lock=True)
    if summary.state != "validated":
        raise Conflict("upload_finished", f"This upload was already {summary.state}.")
    valid = and_(R.upload_id == upload_id, R.valid.is_(True))

    inactive = conn.execute(
        select(func.count())
        .select_from(account_upload_rows)
        .outerjoin(
            billers, and_(billers.c.utility_code == R.utility_code, billers.c.active.is_(True))
        )
        .where(valid, billers.c.id.is_(None))
    ).scalar_one()
    taken = conn.execute(
        select(func.count())
        .select_from(account_upload_rows)
        .join(
            bill_accounts,
            and_(
                bill_accounts.c.utility_code == R.utility_code,
                bill_accounts.c.consumer_id == R.consumer_id,
            ),
        )
        .where(valid)
    ).scalar_one()
    group_ids = {
        int(g)
        for (text,) in conn.execute(select(R.group_ids).where(valid, R.group_ids != "").distinct())
        for g in text.split(",")
    }
    existing_groups = (
        set(
            conn.execute(
                select(account_groups.c.id).where(account_groups.c.id.in_(group_ids))
            ).scalars()
        )
        if group_ids
        else set()
    )
    reasons = []
    if inactive:
        reasons.append(f"{inactive} rows name a biller deactivated since")
    if taken:
        reasons.append(f"{taken} accounts were added by someone else since")
    if group_ids - existing_groups:
        reasons.append("a group was deleted since")
    if reasons:
        _stale(conn, actor, summary, reasons)

    try:
        with conn.begin_nested():
            imported = conn.execute(
                insert(bill_accounts).from_select(
                    ["utility_code", "consumer_id", "mobile", "label", "created_by"],
                    select(
                        R.utility_code,
                        R.consumer_id,
                        R.mobile,
                        R.label,
                        literal(actor.login_id, String(64)),
                    )
                    .where(valid)
                    .order_by(R.line),
                )
            ).rowcount
            memberships = [
                (account_id, int(g))
                for account_id, text in conn.execute(
                    select(bill_accounts.c.id, R.group_ids)
                    .join(
                        bill_accounts,
                        and_(
                            bill_accounts.c.utility_code == R.utility_code,
                            bill_accounts.c.consumer_id == R.consumer_id,
                        ),
                    )
                    .where(valid, R.group_ids != "")
                )
                for g in text.split(",")
            ]
            for start in range(0, len(memberships), CHUNK):
                conn.exec_driver_sql(
                    "INSERT INTO bill_account_groups (bill_account_id, group_id) VALUES (%s, %s)",
                    memberships[start : start + CHUNK],
                )
    except IntegrityError:
        _stale(conn, actor, summary, ["an account was added by someone else meanwhile"])
    if imported != summary.valid_rows:  # the checks above make this impossible; be sure
        raise RuntimeError(f"upload {upload_id}: imported {imported} of {summary.valid_rows}")
    conn.execute(
        update(account_uploads)
        .where(U.id == upload_id)
        .values(state="imported", imported_rows=imported, finished_at=func.utc_timestamp(6))
    )
    record(
        conn,
        actor,
        "accounts.upload.import",
        target_type="upload",
        target_id=upload_id,
        file_name=summary.file_name,
        imported=imported,
        skipped_invalid=summary.error_rows,
        memberships=len(memberships),
    )
    return get_upload(conn, actor, upload_id)


def _stale(conn: Connection, actor: Actor, summary: UploadSummary, reasons: list[str]) -> None:
    """Refuse the import (the caller's transaction rolls back; the view audits the refusal)."""
    message = (
        "Nothing was imported: "
        + "; ".join(reasons)
        + ". Validate the file again to see the current report."
    )
    raise Conflict("upload_stale", message)


def discard_upload(conn: Connection, actor: Actor, upload_id: int) -> UploadSummary:
    """The admin chose "import none": mark the upload discarded and drop its staged rows."""
    summary = get_upload(conn, actor, upload_id, lock=True)
    if summary.state != "validated":
        raise Conflict("upload_finished", f"This upload was already {summary.state}.")
    conn.execute(delete(account_upload_rows).where(R.upload_id == upload_id))
    conn.execute(
        update(account_uploads)
        .where(U.id == upload_id)
        .values(state="discarded", finished_at=func.utc_timestamp(6))
    )
    record(
        conn,
        actor,
        "accounts.upload.discard",
        target_type="upload",
        target_id=upload_id,
        file_name=summary.file_name,
        rows=summary.total_rows,
    )
    return get_upload(conn, actor, upload_id)


def purge_expired(conn: Connection) -> int:
    """Drop expired uploads (their rows and errors go with them, ON DELETE CASCADE)."""
    return conn.execute(
        delete(account_uploads).where(U.expires_at <= func.utc_timestamp(6))
    ).rowcount
