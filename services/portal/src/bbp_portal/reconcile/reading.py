"""Reading a transaction report: the column mapping, and the lines as the matching needs them.

The file is a seekable binary file (Werkzeug spools an upload over 500 KB to a temporary
file; the API and the page hand that file over, never its bytes). CSV is decoded a line at
a time and XLSX read through a memory map (``bbp_portal.files``), within ``REPORTS`` limits.

The mapping names the header of each column we read. The default fits the sandbox's report
(``sandbox/src/sandbox/mobiquity/report.py``) — Mobiquity's real layout is not in the scope
document, so every header is configurable. Our reference id travels in billpay's top-level
``externalReferenceId`` and, by default, in ``remarks`` too (``BBP_MOBIQUITY_REFERENCE_*``):
the mapping reads the first column and falls back to the second when the first is empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from bbp_portal.files.delimited import csv_records
from bbp_portal.files.limits import N_, UploadLimits, UploadRefused
from bbp_portal.files.xlsx import first_sheet

#: How the report's statuses read, by what they mean (upper-cased, compared whole).
PAID_WORDS = "SUCCEEDED,SUCCESS,SUCCESSFUL,TS,COMPLETED,PAID"
FAILED_WORDS = "FAILED,FAILURE,TF,REJECTED,DECLINED,REVERSED"
#: Longest reference id and transaction id kept (our ids are 20 characters).
MAX_ID = 64

_DATE_FORMATS = ("%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d/%m/%Y %H:%M")


@dataclass(frozen=True)
class ColumnMapping:
    """Which column holds what (by header, compared without case or surrounding blanks)."""

    reference: str = "External Reference ID"
    reference_fallback: str = "Remarks"
    transaction: str = "Transaction ID"
    status: str = "Transaction Status"
    amount: str = "Transaction Amount"
    when: str = "Transaction Date"
    paid_words: str = PAID_WORDS
    failed_words: str = FAILED_WORDS
    #: The time zone of the report's dates (the sandbox's default is UTC).
    tz: str = "UTC"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> ColumnMapping:
        """A mapping from form fields or JSON (``col_<name>``, or ``<name>``); blanks keep
        the default."""
        given: dict[str, str] = {}
        for f in fields(cls):
            value = values.get(f"col_{f.name}", values.get(f.name))
            if value is not None and str(value).strip():
                given[f.name] = str(value).strip()[:400]
        return cls(**given)

    def words(self) -> tuple[frozenset[str], frozenset[str]]:
        def split(text: str) -> frozenset[str]:
            return frozenset(w.strip().upper() for w in text.split(",") if w.strip())

        return split(self.paid_words), split(self.failed_words)


#: Mapping fields a person may set on the upload form, in order.
MAPPING_FIELDS = tuple(f.name for f in fields(ColumnMapping))


#: One report line as matched: (line number, our reference id (``""``: none), Mobiquity's
#: transaction id,
#: status — ``paid``, ``failed`` or ``pending`` (any other word: nothing definitive) —, the
#: amount, the time in the report's zone). A plain tuple: 200 000 of them are made per report.
Line = tuple[int, str, str | None, str, Decimal | None, datetime | None]


@dataclass
class ReadStats:
    lines: int = 0
    first: datetime | None = None
    last: datetime | None = None
    statuses: dict[str, int] = field(default_factory=dict)


def _missing_column(header: str) -> UploadRefused:
    return UploadRefused(
        "missing_column",
        N_(
            'The report has no column "%(column)s". Check the column names of the mapping '
            "against the report's first line."
        ),
        column=header[:80],
    )


def _bad_amount(line: int) -> UploadRefused:
    return UploadRefused(
        "bad_amount",
        N_("Line %(line)s: the amount is not a number of taka with at most 2 decimals."),
        line=f"{line:,}",
    )


def _bad_date(line: int) -> UploadRefused:
    return UploadRefused(
        "bad_date",
        N_(
            "Line %(line)s: the date is not a date and time (YYYY-MM-DD HH:MM:SS or "
            "DD-MM-YYYY HH:MM:SS)."
        ),
        line=f"{line:,}",
    )


_AMOUNT = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")


def parse_amount(text: str, line: int) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    if "," in text:
        text = text.replace(",", "")
    if not _AMOUNT.match(text):
        try:  # Excel's floats: 2416.2300000000001
            value = Decimal(text).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise _bad_amount(line) from None
        if abs(value - Decimal(text)) > Decimal("0.000001") or abs(value) >= Decimal(10**12):
            raise _bad_amount(line)
        return value
    return Decimal(text)


def parse_when(value: Any, line: int) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)  # noqa: DTZ001 (the report's zone)
    text = str(value).strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)  # noqa: DTZ007 (the report's zone)
        except ValueError:
            continue
    raise _bad_date(line)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _records(
    stream: BinaryIO, file_format: str, limits: UploadLimits
) -> Iterator[Iterator[tuple[int, list[Any]]]]:
    """Yields once: the records of the file (a generator so XLSX's context stays open)."""
    if file_format == "xlsx":
        with first_sheet(stream, limits) as lines:
            yield lines
    else:
        _, records = csv_records(stream, limits)
        yield records


def read_lines(
    stream: BinaryIO,
    file_format: str,
    mapping: ColumnMapping,
    limits: UploadLimits,
    stats: ReadStats,
) -> Iterator[Line]:
    """The report's data lines (the header found by the mapping's names); ``stats`` counts.

    The hot loop of a reconciliation (200 000 lines): plain indexing, no per-line objects
    beyond the line's tuple, and a date parsed once per distinct text (reports are in time
    order, so consecutive lines share their second)."""
    paid, failed = mapping.words()
    seen_when: dict[str, datetime | None] = {}
    counts = {"paid": 0, "failed": 0, "pending": 0}
    first: datetime | None = None
    last: datetime | None = None
    for records in _records(stream, file_format, limits):
        header: list[str] | None = None
        wide = 0
        i_ref = i_fallback = i_txn = i_status = i_amount = i_when = 0
        for number, raw in records:
            cells = raw if file_format == "csv" else [_text(c) for c in raw]
            if header is None:
                if not any(c.strip() for c in cells):
                    continue
                header = [c.strip().lower() for c in cells]
                at = {}
                for name in ("reference", "transaction", "status", "amount", "when"):
                    wanted = getattr(mapping, name).strip().lower()
                    if wanted not in header:
                        raise _missing_column(getattr(mapping, name))
                    at[name] = header.index(wanted)
                fallback = mapping.reference_fallback.strip().lower()
                i_fallback = header.index(fallback) if fallback in header else -1
                i_ref, i_txn, i_status = at["reference"], at["transaction"], at["status"]
                i_amount, i_when = at["amount"], at["when"]
                wide = max(i_ref, i_fallback, i_txn, i_status, i_amount, i_when) + 1
                continue
            if len(cells) < wide:
                if not any(c.strip() for c in cells):
                    continue
                cells = cells + [""] * (wide - len(cells))
            reference = cells[i_ref].strip()
            if not reference and i_fallback >= 0:
                reference = cells[i_fallback].strip()
            if not reference and not any(c.strip() for c in cells):
                continue  # a blank line
            word = cells[i_status].strip().upper()
            status = "paid" if word in paid else "failed" if word in failed else "pending"
            counts[status] += 1
            # XLSX: the cell itself (a date cell is a datetime, not text)
            text = cells[i_when] if file_format == "csv" or i_when >= len(raw) else raw[i_when]
            key = text if isinstance(text, str) else repr(text)
            if key in seen_when:
                when = seen_when[key]
            else:
                if len(seen_when) > 10_000:
                    seen_when.clear()
                when = seen_when[key] = parse_when(text, number)
            if when is not None:
                if first is None or when < first:
                    first = when
                if last is None or when > last:
                    last = when
            yield (
                number,
                reference[:MAX_ID],
                cells[i_txn].strip()[:MAX_ID] or None,
                status,
                parse_amount(cells[i_amount], number),
                when,
            )
        if header is None:
            raise UploadRefused(
                "empty_report", N_("The report is empty: it has no header line and no lines.")
            )
    stats.lines = sum(counts.values())
    stats.statuses = counts
    stats.first, stats.last = first, last


__all__ = ["MAPPING_FIELDS", "ColumnMapping", "Line", "ReadStats", "read_lines"]
