"""The ledger as Mobiquity's transaction report: `GET /__sandbox__/report` (CSV or XLSX).

The scope says the truth about a payment is in Mobiquity's reports; their layout is not in
the document, so this one is ours, shaped like an operator's transaction report (one line per
billpay order, accepted or failed). The reconciliation upload's default column mapping
follows `COLUMNS`; the sandbox README lists them.

Streamed: rows are made while the response is sent (CSV), or written by openpyxl's write-only
mode to a temporary file that is then sent in chunks (XLSX), so 200 000 lines never sit in
memory as one document.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SERVICE_TYPE = "BILLPAY"
CURRENCY = "BDT"
CHUNK_ROWS = 1000
STATUSES = ("SUCCEEDED", "PENDING", "FAILED")


@dataclass(frozen=True)
class Column:
    """One report column: its header and how a ledger entry fills it."""

    header: str
    value: Callable[[dict[str, Any], str, tzinfo], str]
    meaning: str


def _field(name: str) -> Callable[[dict[str, Any], str, tzinfo], str]:
    return lambda entry, _status, _tz: "" if entry.get(name) is None else str(entry[name])


def _when(entry: dict[str, Any], _status: str, tz: tzinfo) -> str:
    return datetime.fromtimestamp(entry["ts"], tz).strftime("%Y-%m-%d %H:%M:%S")


COLUMNS: tuple[Column, ...] = (
    Column("Transaction ID", _field("order_id"), "Mobiquity's orderId"),
    Column("Service Request ID", _field("service_request_id"), "Mobiquity's serviceRequestId"),
    Column(
        "Transaction Date",
        _when,
        "when Mobiquity received the order, `YYYY-MM-DD HH:MM:SS` in the report's time zone",
    ),
    Column("Service Type", lambda _e, _s, _t: SERVICE_TYPE, "always `BILLPAY`"),
    Column(
        "Transaction Status",
        lambda _e, status, _t: status,
        "`SUCCEEDED`, `PENDING` or `FAILED`: what an enquiry answers now",
    ),
    Column("Transaction Amount", _field("amount"), "the amount paid, 2 decimals (`2416.23`)"),
    Column("Currency", lambda _e, _s, _t: CURRENCY, "always `BDT`"),
    Column("Sender MSISDN", _field("sender"), "the paying wallet (billpay `sender.idValue`)"),
    Column("Receiver MSISDN", _field("receiver"), "the biller's wallet (`receiver.idValue`)"),
    Column("Biller Code", _field("biller_code"), "`partnerData.billerCode`"),
    Column(
        "Bill Account Number",
        _field("consumer_id"),
        "the consumer id (`partnerData.billAccountNumber`)",
    ),
    Column("Bill Number", _field("bill_number"), "`partnerData.billNumber`"),
    Column(
        "External Reference ID",
        _field("external_reference_id"),
        "billpay's top-level `externalReferenceId`: our reference id",
    ),
    Column("Remarks", _field("remarks"), "billpay's `remarks`: our reference id too, by default"),
    Column("Error Code", _field("error_code"), "a failed order's `errorCode` (`TXN01`, …)"),
    Column("Error Message", _field("error_user_msg"), "a failed order's `errorUserMsg`"),
)
HEADERS = [c.header for c in COLUMNS]


class ReportError(ValueError):
    """A query parameter the report cannot use (answered 400, naming the parameter)."""


@dataclass(frozen=True)
class ReportQuery:
    """A parsed `GET /__sandbox__/report` query."""

    start: float | None
    end: float | None
    tz: tzinfo
    statuses: frozenset[str]
    fmt: str

    def filename(self, start_text: str, end_text: str) -> str:
        """`mobiquity-transactions-<from>-<to>.<format>`."""
        span = "-".join(t for t in (start_text, end_text) if t) or "all"
        return f"mobiquity-transactions-{span.replace(':', '')}.{self.fmt}"


def _zone(name: str) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"tz: unknown time zone {name!r} (e.g. UTC, Asia/Dhaka)") from None


def _bound(name: str, text: str, tz: tzinfo, *, end: bool) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time())
            return moment.replace(tzinfo=tz).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            f"{name}: {text!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM:SS)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp() + (1e-6 if end else 0.0)


def parse_query(args: Any) -> ReportQuery:
    """`from`, `to` (dates or times, inclusive; a date alone covers its whole day), `tz`
    (default UTC), `status` (comma-separated), `format` (csv or xlsx)."""
    tz = _zone(args.get("tz", "UTC"))
    start = _bound("from", args.get("from", ""), tz, end=False)
    end = _bound("to", args.get("to", ""), tz, end=True)
    if start is not None and end is not None and end <= start:
        raise ReportError("to: must not be before from")
    fmt = args.get("format", "csv").strip().lower() or "csv"
    if fmt not in ("csv", "xlsx"):
        raise ReportError(f"format: {fmt!r} is not csv or xlsx")
    raw_statuses = [s.strip().upper() for s in args.get("status", "").split(",") if s.strip()]
    unknown = [s for s in raw_statuses if s not in STATUSES]
    if unknown:
        raise ReportError(f"status: {', '.join(unknown)} is not one of {', '.join(STATUSES)}")
    return ReportQuery(start, end, tz, frozenset(raw_statuses or STATUSES), fmt)


def rows(
    ledger: Sequence[dict[str, Any]],
    count: int,
    query: ReportQuery,
    status_of: Callable[[dict[str, Any]], str],
) -> Iterator[list[str]]:
    """The report's lines for the first `count` entries of `ledger` (oldest first).

    The ledger is append-only and its entries never change, so it is read without the
    state lock (a reset replaces the list; this one keeps the list it was given).
    """
    for index in range(count):
        entry = ledger[index]
        ts = entry["ts"]
        if query.start is not None and ts < query.start:
            continue
        if query.end is not None and ts >= query.end:
            continue
        status = status_of(entry)
        if status not in query.statuses:
            continue
        yield [c.value(entry, status, query.tz) for c in COLUMNS]


def csv_chunks(lines: Iterator[list[str]]) -> Iterator[bytes]:
    """The header and the lines as UTF-8 CSV (RFC 4180: commas, quotes, CRLF), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    pending = 0
    for line in lines:
        writer.writerow(line)
        pending += 1
        if pending >= CHUNK_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def xlsx_chunks(lines: Iterator[list[str]], chunk_size: int = 1 << 16) -> Iterator[bytes]:
    """The header and the lines as one XLSX sheet (every cell text), sent in chunks.

    openpyxl's write-only workbook streams rows to disk; the finished file is then read back
    in chunks and deleted.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    with tempfile.TemporaryFile(prefix="sandbox-report-", suffix=".xlsx") as spool:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Transactions")
        sheet.append(HEADERS)

        def text(value: str) -> Any:
            # Every value is a str, which openpyxl writes as text, except one starting with
            # "=" (a formula): that one is typed as text by hand. Plain values stay plain:
            # a cell object for each would make the sheet a third slower.
            if not value:
                return None
            if value.startswith("="):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                return cell
            return value

        for line in lines:
            sheet.append([text(v) for v in line])
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(chunk_size):
            yield chunk
