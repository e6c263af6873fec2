"""What the reconciliation pages and API both do: take a report, list and show
reconciliations and their items, export them, list and clear double-payment alarms — each
change audited in its own transaction.

Nothing here changes a payment. ``definitive_for_open`` items are resolved by a person
through bulk resolution (``payments.resolve_many``), which audits each payment itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, select

from bbp_common.platform.db.tables import (
    RECONCILIATION_CLASSES,
    payments,
    reconciliation_items,
    reconciliations,
)
from bbp_portal.audit_trail import Actor, record
from bbp_portal.files.limits import N_, UploadLimits, UploadRefused
from bbp_portal.reconcile import matching
from bbp_portal.reconcile.reading import ColumnMapping, ReadStats, read_lines
from bbp_portal.service_errors import NotFound, ValidationFailed

R = reconciliations.c
I = reconciliation_items.c  # noqa: E741
P = payments.c

CLASSES = RECONCILIATION_CLASSES
#: Items on one page of a reconciliation.
PAGE = 100


@dataclass(frozen=True)
class Period:
    """The days the report covers (inclusive, in the report's time zone): our posted and
    succeeded payments sent within them must appear in it. A missing end is the report's
    first or last line."""

    start: date | None = None
    end: date | None = None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            "bad_time_zone", f"{name[:40]!r} is not a time zone (e.g. UTC, Asia/Dhaka).", "tz"
        ) from None


def _utc(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _mib(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:,.0f}" if mib >= 10 else f"{mib:,.2f}"


def reconcile(
    engine: Engine,
    who: Actor,
    stream: BinaryIO,
    file_name: str,
    *,
    mapping: ColumnMapping,
    limits: UploadLimits,
    period: Period = Period(),
) -> dict[str, Any]:
    """Read the report, match it, raise the alarms; one transaction. An
    :class:`UploadRefused` (the file) or :class:`ValidationFailed` (the mapping) leaves
    nothing behind but its audit entry."""
    started = monotonic()
    file_format = "xlsx" if file_name.lower().endswith((".xlsx", ".xlsm")) else "csv"
    stats = ReadStats()
    try:
        zone = _zone(mapping.tz)
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        if size > limits.max_bytes:
            raise UploadRefused(
                "file_too_large",
                N_("The file is larger than %(limit)s MiB; split it into smaller files."),
                limit=_mib(limits.max_bytes),
            )
        with engine.begin() as conn:
            made = conn.execute(
                reconciliations.insert().values(
                    uploaded_by=who.login_id[:64],
                    file_name=file_name[:255],
                    file_format=file_format,
                    mapping=mapping.to_json(),
                    counts="{}",
                )
            )
            reconciliation_id = int(made.inserted_primary_key[0])  # type: ignore[index]
            count = matching.load_lines(
                conn, read_lines(stream, file_format, mapping, limits, stats)
            )
            start = datetime.combine(period.start, time()) if period.start else stats.first
            end = (
                datetime.combine(period.end + timedelta(days=1), time())
                if period.end
                else (stats.last + timedelta(microseconds=1) if stats.last else None)
            )
            window = None
            if start is not None and end is not None:
                window = (_utc(start, zone), _utc(end, zone))
            counts, raised = matching.classify(conn, reconciliation_id, window)
            duration_ms = int((monotonic() - started) * 1000)
            conn.execute(
                reconciliations.update()
                .where(R.id == reconciliation_id)
                .values(
                    report_lines=count,
                    period_from=window[0] if window else None,
                    period_to=window[1] if window else None,
                    counts=json.dumps(counts, sort_keys=True),
                    duration_ms=duration_ms,
                )
            )
            record(
                conn,
                who,
                "reconciliation.upload",
                target_type="reconciliation",
                target_id=reconciliation_id,
                file_name=file_name[:255],
                lines=count,
                alarms=raised,
                counts=counts,
            )
    except (UploadRefused, ValidationFailed) as exc:
        with engine.begin() as conn:
            record(
                conn,
                who,
                "reconciliation.upload",
                target_type="reconciliation",
                outcome="refused",
                file_name=file_name[:255],
                code=exc.code,
            )
        raise
    return {"id": reconciliation_id, "lines": count, "counts": counts, "alarms": raised}


def _summary(row: Any) -> dict[str, Any]:
    counts = json.loads(row.counts or "{}")
    return {
        "id": row.id,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": row.uploaded_at,
        "file_name": row.file_name,
        "file_format": row.file_format,
        "report_lines": row.report_lines,
        "period_from": row.period_from,
        "period_to": row.period_to,
        "duration_ms": row.duration_ms,
        "counts": {c: int(counts.get(c, 0)) for c in CLASSES},
        "mapping": json.loads(row.mapping or "{}"),
    }


def list_reconciliations(
    conn: Connection, *, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    query = select(reconciliations).order_by(R.id.desc()).limit(limit)
    if before is not None:
        query = query.where(R.id < before)
    return [_summary(r) for r in conn.execute(query)]


def get_reconciliation(conn: Connection, reconciliation_id: int) -> dict[str, Any]:
    row = conn.execute(select(reconciliations).where(R.id == reconciliation_id)).first()
    if row is None:
        raise NotFound(f"There is no reconciliation {reconciliation_id}.")
    return _summary(row)


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "class": row.klass,
        "reference_id": row.reference_id,
        "payment_id": row.payment_id,
        "request_id": row.request_id,
        "line_no": row.line_no,
        "report_lines": row.report_lines,
        "transaction_id": row.transaction_id,
        "report_status": row.report_status,
        "report_amount": row.report_amount,
        "report_at": row.report_at,
        "our_state": row.our_state,
        "current_state": row.current_state,
        "our_amount": row.our_amount,
        "outcome": row.outcome,
    }


def _items_query(reconciliation_id: int, klass: str | None) -> Any:
    query = (
        select(
            I.id,
            I["class"].label("klass"),
            I.reference_id,
            I.payment_id,
            P.request_id,
            I.line_no,
            I.report_lines,
            I.transaction_id,
            I.report_status,
            I.report_amount,
            I.report_at,
            I.our_state,
            P.state.label("current_state"),
            I.our_amount,
            I.outcome,
        )
        .select_from(reconciliation_items.outerjoin(payments, P.id == I.payment_id))
        .where(I.reconciliation_id == reconciliation_id)
    )
    if klass:
        query = query.where(I["class"] == klass)
    return query


def items(
    conn: Connection,
    reconciliation_id: int,
    *,
    klass: str | None = None,
    after: int | None = None,
    limit: int = PAGE,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a reconciliation's items (keyset by id, optionally one class), and the
    id to continue after (``None`` on the last page)."""
    get_reconciliation(conn, reconciliation_id)
    if klass is not None and klass not in CLASSES:
        raise ValidationFailed("bad_class", f"{klass[:40]!r} is not a class.", "class")
    query = _items_query(reconciliation_id, klass)
    if after is not None:
        query = query.where(I.id > after)
    rows = conn.execute(query.order_by(I.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [_item(r) for r in rows], (rows[-1].id if more and rows else None)


#: Payments one bulk resolution takes at most (``payments.uncleared.MAX_PAYMENTS``).
MAX_RESOLVE = 1_000


def open_payment_ids(conn: Connection, reconciliation_id: int, outcome: str) -> list[int]:
    """The payments of ``definitive_for_open`` items with that outcome that are uncleared
    now — what bulk resolution is given, preselected. (An ambiguous one is still being
    enquired: it settles by itself, or becomes uncleared and is offered then.)"""
    return list(
        conn.execute(
            select(I.payment_id)
            .select_from(reconciliation_items.join(payments, P.id == I.payment_id))
            .where(
                I.reconciliation_id == reconciliation_id,
                I["class"] == "definitive_for_open",
                I.outcome == outcome,
                P.state == "uncleared",
            )
            .order_by(I.payment_id)
        ).scalars()
    )


EXPORT_HEADERS = (
    "class",
    "reference_id",
    "payment_id",
    "request_id",
    "report_line",
    "report_lines",
    "transaction_id",
    "report_status",
    "report_amount",
    "report_at",
    "our_state_then",
    "our_state_now",
    "our_amount",
    "outcome",
)


def export_rows(engine: Engine, reconciliation_id: int, klass: str | None) -> Any:
    """Every item's values (``EXPORT_HEADERS``), read in id order a page at a time, each
    page on its own short connection (a long export holds no transaction open)."""
    after: int | None = None
    while True:
        with engine.connect() as conn:
            page, after = items(conn, reconciliation_id, klass=klass, after=after, limit=5000)
        for it in page:
            yield (
                it["class"],
                it["reference_id"],
                it["payment_id"],
                it["request_id"],
                it["line_no"],
                it["report_lines"],
                it["transaction_id"],
                it["report_status"],
                it["report_amount"],
                it["report_at"],
                it["our_state"],
                it["current_state"],
                it["our_amount"],
                it["outcome"],
            )
        if after is None:
            return


#: Words of the classes (for people; the page translates them).
CLASS_WORDS = {
    "matched": N_("Matched"),
    "amount_differs": N_("Amount differs"),
    "not_ours": N_("In the report, not ours"),
    "missing_from_report": N_("Ours, missing from the report"),
    "double_payment_alarm": N_("Double-payment alarm"),
    "definitive_for_open": N_("Definitive answer for an open payment"),
    "failed_in_report": N_("Ours posted, failed in the report"),
    "pending_in_report": N_("Open, still pending in the report"),
}

__all__ = [
    "CLASSES",
    "CLASS_WORDS",
    "EXPORT_HEADERS",
    "Period",
    "export_rows",
    "get_reconciliation",
    "items",
    "list_reconciliations",
    "open_payment_ids",
    "reconcile",
]
