"""Reading a transaction report (``bbp_portal.reconcile.reading``): the column mapping, the
reference id's fallback column, statuses, amounts and dates, CSV and XLSX alike, refusals
with their line — and a report read from disk is never held whole in memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from bbp_portal.files.limits import REPORTS, UploadRefused
from bbp_portal.reconcile.reading import ColumnMapping, ReadStats, read_lines
from sandbox.mobiquity.report import HEADERS

BASE = dict.fromkeys(HEADERS, "")


def line(**values: str) -> list[str]:
    row = {**BASE, "Transaction Date": "2026-12-01 10:00:00", **values}
    return [row[h] for h in HEADERS]


def as_csv(rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


def as_xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Transactions")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read(data: bytes, fmt: str = "csv", mapping: ColumnMapping | None = None) -> list:
    return list(read_lines(io.BytesIO(data), fmt, mapping or ColumnMapping(), REPORTS, ReadStats()))


ROWS = [
    line(
        **{
            "External Reference ID": "BBPA",
            "Transaction Status": "SUCCEEDED",
            "Transaction Amount": "2,416.23",
            "Transaction ID": "T1",
        }
    ),
    line(**{"Remarks": "BBPB", "Transaction Status": "failed", "Transaction Amount": "10"}),
    line(**{"External Reference ID": "BBPC", "Transaction Status": "TI", "Transaction Amount": ""}),
    line(),  # a line without any reference: still read (not ours)
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_default_mapping_reads_the_sandboxs_report(fmt: str) -> None:
    data = as_csv(ROWS) if fmt == "csv" else as_xlsx(ROWS)
    found = read(data, fmt)
    assert [(n, ref, status) for n, ref, _, status, _, _ in found] == [
        (2, "BBPA", "paid"),
        (3, "BBPB", "failed"),  # the reference from Remarks, the word in any case
        (4, "BBPC", "pending"),  # a word that is neither: nothing definitive
        (5, "", "pending"),
    ]
    assert found[0][2] == "T1" and found[0][4] == Decimal("2416.23")
    assert found[2][4] is None
    assert found[0][5] == datetime(2026, 12, 1, 10, 0)


def test_another_layout_through_the_mapping_and_a_semicolon_csv() -> None:
    data = (
        b"Txn;When;State;Amt;Ref\r\n"
        b"9;05-12-2026 23:59:59;TS;1.5;BBPZ\r\n"
        b"\r\n"
        b"10;05/12/2026 23:59;TF;2;BBPY\r\n"
    )
    mapping = ColumnMapping.of(
        {
            "col_reference": "ref",
            "col_reference_fallback": "",
            "col_transaction": "Txn",
            "col_status": "State",
            "col_amount": "Amt",
            "col_when": "When",
        }
    )
    found = read(data, mapping=mapping)
    assert [(r[1], r[3], r[4], r[5]) for r in found] == [
        ("BBPZ", "paid", Decimal("1.5"), datetime(2026, 12, 5, 23, 59, 59)),
        ("BBPY", "failed", Decimal("2"), datetime(2026, 12, 5, 23, 59)),
    ]


def test_an_xlsx_date_cell_and_a_float_amount() -> None:
    rows: list[list[object]] = [line(**{"External Reference ID": "BBPX"})]
    rows[0][HEADERS.index("Transaction Date")] = datetime(2026, 12, 2, 8, 30)
    rows[0][HEADERS.index("Transaction Amount")] = 2416.23
    found = read(as_xlsx(rows), "xlsx")
    assert found[0][4] == Decimal("2416.23") and found[0][5] == datetime(2026, 12, 2, 8, 30)


@pytest.mark.parametrize(
    ("data", "code", "line_no"),
    [
        (as_csv([line(**{"Transaction Amount": "12.345"})]), "bad_amount", "2"),
        (as_csv([line(), line(**{"Transaction Amount": "ten"})]), "bad_amount", "3"),
        (as_csv([line(**{"Transaction Date": "yesterday"})]), "bad_date", "2"),
        (b"Some,Other,Columns\r\n1,2,3\r\n", "missing_column", None),
        (b"", "empty_report", None),
        (b"\xff\xfeT\x00", "not_utf8", None),
    ],
)
def test_a_bad_report_is_refused_naming_the_line(data: bytes, code: str, line_no: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        read(data)
    assert refused.value.code == code
    if line_no:
        assert refused.value.params["line"] == line_no


def test_a_report_on_disk_is_read_a_line_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    row = line(
        **{
            "External Reference ID": "BBP0000000000000001",
            "Transaction Status": "SUCCEEDED",
            "Transaction Amount": "100.00",
            "Remarks": "x" * 200,
        }
    )
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(HEADERS)
        for _ in range(60_000):
            writer.writerow(row)
    size = path.stat().st_size
    assert size > 15_000_000
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            count = 0
            for _ in read_lines(stream, "csv", ColumnMapping(), REPORTS, ReadStats()):
                count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < size / 10, f"peak {peak:,} bytes for a {size:,}-byte file"
