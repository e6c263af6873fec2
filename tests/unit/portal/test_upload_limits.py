"""Bounded uploads: crafted XLSX zip bombs and hostile CSV files are refused while reading,
each by the limit it breaks, in well under a second of CPU and 50 MiB of memory.

CPU is measured with ``time.process_time`` on a run of its own, and the memory peak with
``tracemalloc`` on a second run (tracemalloc slows every allocation down several times, so
one run cannot measure both honestly). Before the limits, the same files took up to 87 s of
CPU and 2.2 GiB (the table in docs/security.md).
"""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook

from bbp_portal.accounts.upload.parse import Limits, UploadRefused, parse_upload
from bbp_portal.files.limits import BILL_ACCOUNTS, MiB, bill_accounts
from tests.support import upload_bombs as bombs

CPU_BUDGET = 1.0  # seconds
MEMORY_BUDGET = 50 * MiB

#: Each bomb, and the limit that must refuse it.
EXPECTED = {
    "200 MiB of XML": "uncompressed_too_large",
    "twenty thousand zip members": "too_many_parts",
    "huge shared-strings table": "too_many_strings",
    "huge sheet dimension": "too_many_lines",
    "deeply repeated rows": "too_many_rows",
    "millions of empty rows": "too_many_lines",
    "one giant cell": "cell_too_long",
    "one giant shared string": "cell_too_long",
    "rows as wide as Excel allows": "too_many_columns",
    "millions of cell formats": "too_many_elements",
    "nested XML entities": "unreadable_xlsx",
    "a bzip2 member": "unreadable_xlsx",
    "a member whose declared size lies": "unreadable_xlsx",
}


def refusal(
    data: bytes, name: str, limits: Limits | None = None
) -> tuple[UploadRefused, float, int]:
    """The refusal, its CPU seconds and its tracemalloc peak (bytes), each from its own run."""
    started = time.process_time()
    with pytest.raises(UploadRefused) as caught:
        parse_upload(data, name, limits)
    cpu = time.process_time() - started
    tracemalloc.start()
    try:
        with pytest.raises(UploadRefused):
            parse_upload(data, name, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return caught.value, cpu, peak


def test_every_bomb_names_the_limit_it_breaks():
    assert set(EXPECTED) == set(bombs.XLSX_BOMBS)


@pytest.mark.parametrize("name", list(bombs.XLSX_BOMBS))
def test_an_xlsx_bomb_is_refused_by_its_limit_cheaply(name):
    refused, cpu, peak = refusal(bombs.XLSX_BOMBS[name](), "accounts.xlsx")
    assert refused.code == EXPECTED[name], refused.detail or refused.message
    assert refused.message and "%(" not in refused.message
    assert cpu < CPU_BUDGET, f"{name}: {cpu:.2f} s of CPU"
    assert peak < MEMORY_BUDGET, f"{name}: peak {peak / MiB:.1f} MiB"


def test_the_refusals_name_the_limit():
    def message(name: str) -> str:
        with pytest.raises(UploadRefused) as caught:
            parse_upload(bombs.XLSX_BOMBS[name](), "a.xlsx")
        return caught.value.message

    assert "300,000 different texts" in message("huge shared-strings table")
    assert "line 1,048,576" in message("huge sheet dimension")
    assert "60,001 lines" in message("huge sheet dimension")
    assert "more than 50,000 rows" in message("deeply repeated rows")
    assert "Line 2, column A" in message("one giant cell")
    assert "1,000 characters" in message("one giant cell")
    assert "column AA" in message("rows as wide as Excel allows")
    assert "A to Z" in message("rows as wide as Excel allows")
    assert "64 MiB" in message("200 MiB of XML")


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a 10 MiB line", bombs.csv_long_line(BILL_ACCOUNTS.max_bytes - 100), "line_too_long"),
        ("millions of empty lines", bombs.csv_empty_lines(5_000_000), "too_many_lines"),
        ("a NUL byte", bombs.csv_nul_byte(), "nul_character"),
        (
            "a quoted field over csv's own limit",
            b'utility,consumer_id,mobile\r\nDSCO,"' + (b"9" * 1000 + b"\r\n") * 200,
            "malformed_csv",
        ),
        (
            "a quote never closed",
            b'utility,consumer_id,mobile\r\nDSCO,"' + b"9" * 100 + b"\r\n" * 20_000,
            "cell_too_long",
        ),
    ],
)
def test_a_hostile_csv_is_refused_cheaply(name, data, code):
    refused, cpu, peak = refusal(data, "accounts.csv")
    assert refused.code == code, refused.message
    assert cpu < CPU_BUDGET, f"{name}: {cpu:.2f} s of CPU"
    assert peak < MEMORY_BUDGET, f"{name}: peak {peak / MiB:.1f} MiB"


def test_a_50_mb_line_is_refused_by_its_size_or_by_its_length():
    data = bombs.csv_long_line(50_000_000)
    assert refusal(data, "a.csv")[0].code == "file_too_large"
    refused, cpu, peak = refusal(data, "a.csv", Limits(max_bytes=60_000_000))
    assert refused.code == "line_too_long" and "Line 2" in refused.message
    assert cpu < CPU_BUDGET and peak < MEMORY_BUDGET


def test_the_nul_byte_and_a_bad_byte_are_found_at_their_line():
    assert "Line 3" in refusal(bombs.csv_nul_byte(), "a.csv")[0].message
    late = b"utility,consumer_id,mobile\n" + b"DSCO,1,01711111111\n" * 20_000 + b"DSCO,\xff,1\n"
    refused = refusal(late, "a.csv")[0]
    assert refused.code == "not_utf8" and "Line 20,002" in refused.message


def test_csv_cells_and_columns_have_limits_too():
    long_cell = "utility,consumer_id,mobile,label\nDSCO,1,01711111111," + "x" * 1001 + "\n"
    refused = refusal(long_cell.encode(), "a.csv")[0]
    assert refused.code == "cell_too_long" and "Line 2, column D" in refused.message
    wide = "utility,consumer_id,mobile\nDSCO,1,01711111111" + ",," * 13 + "x\n"
    refused = refusal(wide.encode(), "a.csv")[0]
    assert refused.code == "too_many_columns" and "column AC" in refused.message
    # blank cells beyond the last column are not values
    assert (
        len(
            parse_upload(
                ("utility,consumer_id,mobile\nDSCO,1,017" + ",," * 40 + "\n").encode(), "a.csv"
            ).rows
        )
        == 1
    )


def test_at_the_limits_a_file_is_read():
    cell = "x" * BILL_ACCOUNTS.max_cell_chars
    book = Workbook()
    sheet = book.active
    sheet.append(["utility", "consumer_id", "mobile", "label"])
    sheet.append(["DSCO", "1", "01711111111", cell])
    sheet.cell(row=2, column=26, value="in Z")  # the last column read: a row problem, not a refusal
    sheet.cell(row=5000, column=40).number_format = "@"  # formatted, empty, beyond Z: fine
    out = io.BytesIO()
    book.save(out)
    parsed = parse_upload(out.getvalue(), "a.xlsx")
    assert [(r.line, r.cells["label"], r.extra) for r in parsed.rows] == [
        (2, cell, (("Z", "in Z"),))
    ]
    text = f"utility,consumer_id,mobile,label\r\nDSCO,1,01711111111,{cell}\r\n" + "\r\n" * 10_000
    assert len(parse_upload(text.encode(), "a.csv").rows) == 1


def test_a_workbook_claiming_a_smaller_dimension_is_read_whole():
    """openpyxl's read-only mode trusts <dimension>: a sheet saying A1:C2 lost its other
    rows without a word. The reader resets the claim."""
    rows = [bombs.good_row(line).encode() for line in range(2, 12)]
    data = bombs.workbook(bombs.sheet(rows, dimension="A1:C2"))
    assert [r.line for r in parse_upload(data, "a.xlsx").rows] == list(range(2, 12))


def test_rows_or_cells_out_of_order_are_refused_not_dropped():
    rows = [bombs.good_row(5).encode(), bombs.good_row(3).encode()]
    refused = refusal(bombs.workbook(bombs.sheet(rows)), "a.xlsx")[0]
    assert refused.code == "rows_out_of_order" and "Line 3" in refused.message
    cells = (
        b'<row r="2">'
        + bombs.inline("C2", "x").encode()
        + bombs.inline("A2", "y").encode()
        + b"</row>"
    )
    refused = refusal(bombs.workbook(bombs.sheet([cells])), "a.xlsx")[0]
    assert refused.code == "cells_out_of_order" and "column A after C" in refused.message


def test_a_bad_shared_string_index_or_damaged_xml_is_unreadable_not_a_crash():
    bad_index = bombs.workbook(bombs.sheet([b'<row r="2"><c r="A2" t="s"><v>99</v></c></row>']))
    assert refusal(bad_index, "a.xlsx")[0].code == "unreadable_xlsx"
    broken = bombs.workbook(bombs.sheet([b'<row r="2"><c r="A2"><v>1</c></row>']))
    assert refusal(broken, "a.xlsx")[0].code == "unreadable_xlsx"
    huge_tag = bombs.workbook(bombs.sheet([b'<row r="2" x="', b"y" * (2 * MiB), b'"/>']))
    assert refusal(huge_tag, "a.xlsx")[0].code == "unreadable_xlsx"


def test_a_zip_asking_for_a_newer_zip_version_is_unreadable_not_a_crash():
    """Found by hypothesis: zipfile raises NotImplementedError ("zip file version 6.4") for a
    member whose "version needed to extract" is newer than it knows."""
    data = bytearray(bombs.good_xlsx())
    data[data.find(b"PK\x01\x02") + 6] = 64  # the first member needs version 6.4
    assert refusal(bytes(data), "a.xlsx")[0].code == "unreadable_xlsx"


def test_an_encrypted_member_is_refused_as_protected():
    data = bytearray(bombs.good_xlsx())
    at = data.find(b"PK\x01\x02")
    while at != -1:  # set the "encrypted" flag of every member in the central directory
        data[at + 8] |= 0x1
        at = data.find(b"PK\x01\x02", at + 4)
    assert refusal(bytes(data), "a.xlsx")[0].code == "encrypted_xlsx"


def test_a_member_claiming_a_huge_size_is_refused_before_inflating():
    data = bombs.lie_about_size(bombs.good_xlsx(), "xl/worksheets/sheet1.xml", 4_000_000_000)
    refused, cpu, _ = refusal(data, "a.xlsx")
    assert refused.code == "uncompressed_too_large" and cpu < 0.1


def test_limits_grow_with_the_configured_rows():
    bigger = bill_accounts(max_bytes=20 * MiB, max_rows=200_000)
    assert bigger.max_rows == 200_000 and bigger.max_shared_strings == 4 * 300_000
    assert bigger.max_uncompressed_bytes == 4 * 64 * MiB
    assert bill_accounts(max_bytes=MiB, max_rows=10) == Limits(max_bytes=MiB, max_rows=10)
    assert zipfile.is_zipfile(io.BytesIO(bombs.good_xlsx()))
