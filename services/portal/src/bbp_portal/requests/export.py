"""A request's results file (CSV or XLSX), safe to open in a spreadsheet.

The rows are the request's kind's (``bulk.kinds``): one per bill found for a fetch request,
one per payment for a payment request.

Formula injection: a cell whose text begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return, which some spreadsheets skip before reading a formula) is run as a formula
by Excel and LibreOffice — and consumer ids, labels and Mobiquity's error messages are text
we do not control. Every text cell that starts so gets a leading apostrophe, which the
spreadsheet shows as text. Numbers (amounts, counts) stay numbers: only text is touched.

Both writers stream: the CSV goes out row by row as the rows are read; the XLSX is written
by openpyxl's write-only mode (near constant memory) to a temporary file, which is then sent
and removed. A sheet holds 1 048 576 rows; past that the results continue on another sheet.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Response, stream_with_context

from bbp_portal.bulk.kinds import kind_of
from bbp_portal.bulk.metrics import EXPORTS
from bbp_portal.bulk.queries import get_request
from bbp_portal.view_context import engine

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: Rows per sheet, the header included (Excel's limit).
SHEET_ROWS = 1_048_576


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | Decimal | int):
        return str(value)
    return neutralise(str(value))


def csv_chunks(header: Iterable[str], rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """The CSV file in pieces (UTF-8 with a BOM, so Excel reads Bangla right; CRLF lines)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, 1):
        writer.writerow([_csv_value(v) for v in row])
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value  # a number; openpyxl writes it as one
    if isinstance(value, str):
        return neutralise(value)
    return value


def write_xlsx(
    path: str, header: Iterable[str], rows: Iterable[tuple[Any, ...]], *, title: str = "results"
) -> int:
    """Write the rows to an XLSX file at ``path`` (write-only mode); returns data rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    head = [neutralise(h) for h in header]
    sheet: Any = None
    on_sheet = SHEET_ROWS
    written = 0
    sheets = 0
    for row in rows:
        if on_sheet >= SHEET_ROWS:
            sheets += 1
            sheet = workbook.create_sheet(title if sheets == 1 else f"{title} ({sheets})")
            sheet.append(head)
            on_sheet = 1
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=_xlsx_value(value))
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula, whatever it starts with
            cells.append(cell)
        sheet.append(cells)
        on_sheet += 1
        written += 1
    if sheet is None:
        workbook.create_sheet(title).append(head)
    workbook.save(path)
    return written


def xlsx_file(header: Iterable[str], rows: Iterable[tuple[Any, ...]], title: str) -> str:
    """A temporary XLSX file of the rows; the caller sends and removes it."""
    handle, path = tempfile.mkstemp(prefix="bbp-export-", suffix=".xlsx")
    os.close(handle)
    try:
        write_xlsx(path, header, rows, title=title)
    except BaseException:
        os.unlink(path)
        raise
    return path


def file_chunks(path: str, size: int = 256 * 1024) -> Iterator[bytes]:
    """The file's bytes in pieces; the file is removed once sent (or the client left)."""
    try:
        with open(path, "rb") as handle:
            while piece := handle.read(size):
                yield piece
    finally:
        os.unlink(path)


def export_response(request_id: int, fmt: str) -> Response:
    """Any request's results file, with its kind's rows: CSV streamed as read, XLSX written
    to a temporary file then sent. :class:`NotFound` if there is no such request."""
    with engine().connect() as conn:
        kind = kind_of(get_request(conn, request_id).kind)
    rows = kind.export_rows(engine().connect, request_id)
    header = kind.export_header
    name = kind.export_name.format(id=request_id) + f".{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    EXPORTS.labels(fmt).inc()
    if fmt == "csv":
        return Response(
            stream_with_context(csv_chunks(header, rows)),
            mimetype="text/csv",
            headers=headers,
        )
    path = xlsx_file(header, rows, title=f"request {request_id}")
    return Response(
        file_chunks(path),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers,
    )


__all__ = [
    "TRIGGERS",
    "csv_chunks",
    "export_response",
    "file_chunks",
    "neutralise",
    "write_xlsx",
    "xlsx_file",
]
