"""The upload parser and validator: every kind of bad row at its line and column, Excel quirks."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from bbp_portal.accounts.upload.parse import (
    Limits,
    UploadRefused,
    column_letter,
    parse_upload,
    sniff_delimiter,
)
from bbp_portal.accounts.upload.template import template_csv, template_xlsx
from bbp_portal.accounts.upload.validate import Catalogue, validate

CATALOGUE = Catalogue(
    billers={"DSCO": True, "DESCO": True, "JGDCL": True, "OLD": False},
    groups={"dhaka offices": 1, "head office": 2},
)
HEADER = "utility,consumer_id,mobile,label,groups"


def nothing_stored(keys):
    return set()


def run(text: str | bytes, name: str = "a.csv", stored=nothing_stored):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return validate(parse_upload(data, name), CATALOGUE, stored)


def problems(result):
    return [(p.line, p.letter, p.column, p.code) for p in result.problems]


def xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_good_rows_are_normalised():
    result = run(
        HEADER + "\n"
        "dsco ,17021270,+880 1712-345678,Office 1,Dhaka offices|head office\n"
        "JGDCL,AB-1234,01712345678,,\n"
    )
    assert result.problems == []
    assert result.total == 2 and result.valid_rows == 2
    first, second = result.rows
    assert (first.utility_code, first.consumer_id, first.mobile) == (
        "DSCO",
        "17021270",
        "8801712345678",
    )
    assert first.label == "Office 1" and first.group_ids == (1, 2)
    assert second.group_ids == () and second.label == ""


def test_every_kind_of_bad_row_at_its_line_and_column():
    text = (
        HEADER + "\n"
        "XYZ,1001,01712345678,,\n"  # 2 unknown utility
        "OLD,1002,01712345678,,\n"  # 3 inactive utility
        "DSCO,,01712345678,,\n"  # 4 empty consumer id
        "DSCO,12 34,01712345678,,\n"  # 5 malformed consumer id
        "DSCO,1.7E+07,01712345678,,\n"  # 6 scientific notation
        "DSCO,17021270.0,01712345678,,\n"  # 7 a real
        "DSCO,1008,0171234567X,,\n"  # 8 letters in mobile
        "DSCO,1009,12345,,\n"  # 9 too short
        "DSCO,1010,,,\n"  # 10 empty mobile
        "DSCO,1011,01712345678,,Nowhere\n"  # 11 unknown group
        "DSCO,1012,01712345678,,\n"  # 12 good
        "dsco,1012,01712345678,,\n"  # 13 duplicate of 12
        "DSCO,5555,01712345678,,\n"  # 14 already stored
        "DSCO,1015,8.80171E+12,,\n"  # 15 mobile in scientific notation
        ",1016,01712345678,,\n"  # 16 empty utility
        "DSCO,1017,01712345678,,,surplus\n"  # 17 a value beyond the header
    )
    result = run(text, stored=lambda keys: {k for k in keys if k[1] == "5555"})
    assert problems(result) == [
        (2, "A", "utility", "unknown"),
        (3, "A", "utility", "inactive"),
        (4, "B", "consumer_id", "missing"),
        (5, "B", "consumer_id", "malformed"),
        (6, "B", "consumer_id", "scientific_notation"),
        (7, "B", "consumer_id", "excel_number"),
        (8, "C", "mobile", "malformed"),
        (9, "C", "mobile", "malformed"),
        (10, "C", "mobile", "missing"),
        (11, "E", "groups", "unknown"),
        (13, "B", "consumer_id", "duplicate_in_file"),
        (14, "B", "consumer_id", "already_stored"),
        (15, "C", "mobile", "scientific_notation"),
        (16, "A", "utility", "missing"),
        (17, "F", "", "unexpected_value"),
    ]
    assert [r.line for r in result.rows if r.valid] == [12]
    by_line = {p.line: p for p in result.problems}
    assert by_line[6].value == "1.7E+07"
    assert "line 12" in by_line[13].message.lower()
    assert "Nowhere" in by_line[11].message


def test_several_problems_in_one_row_are_all_reported():
    result = run(HEADER + "\nXYZ,,abc,,Nowhere\n")
    assert [(p.letter, p.code) for p in result.problems] == [
        ("A", "unknown"),
        ("B", "missing"),
        ("C", "malformed"),
        ("E", "unknown"),
    ]
    assert result.valid_rows == 0


def test_bom_semicolon_crlf_and_quoted_fields():
    text = (
        "\ufeffUtility;Consumer ID;Mobile;Label;Groups\r\n"
        'DSCO;17021270;01712345678;"Office; ""north"" wing";"Dhaka offices"\r\n'
        "\r\n"
        'DESCO;99;01812345678;"two\r\nlines";\r\n'
        "DESCO;x y;01812345678;;\r\n"
        ";;;;\r\n"
    )
    result = run(text.encode("utf-8"))
    assert result.total == 3
    assert result.rows[0].label == 'Office; "north" wing'
    assert result.rows[0].group_ids == (1,)
    assert result.rows[1].label == "two lines"
    # the quoted field spans lines 4-5: the next record starts at line 6
    assert problems(result) == [(6, "B", "consumer_id", "malformed")]


def test_columns_in_another_order_keep_their_letters():
    result = run("mobile,consumer_id,utility\n017,1,DSCO\n")
    assert problems(result) == [(2, "A", "mobile", "malformed")]


@pytest.mark.parametrize(
    ("first", "expected"),
    [("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ('"a,b";c;d', ";"), ("abc", ",")],
)
def test_delimiter_sniffing(first, expected):
    assert sniff_delimiter(first) == expected


def test_xlsx_numbers_and_strings():
    data = xlsx(
        [
            ["utility", "consumer_id", "mobile", "label", "groups"],
            ["DSCO", 17021270, 8801712345678, 42, "Head office"],
            ["DSCO", "0012345", "01712345678", "text", None],
            ["DSCO", 1234567890123456, "01712345678", None, None],  # 16 digits: lost
            ["DSCO", 17021270.5, "01712345678", None, None],
            [None, None, None, None, None],
            ["DSCO", 17021271.0, 1712345678.0, None, None],
        ]
    )
    result = run(data, "upload.xlsx")
    assert problems(result) == [
        (4, "B", "consumer_id", "excel_number"),
        (5, "B", "consumer_id", "excel_number"),
    ]
    rows = {r.line: r for r in result.rows}
    assert (rows[2].consumer_id, rows[2].mobile, rows[2].label) == (
        "17021270",
        "8801712345678",
        "42",
    )
    assert rows[2].group_ids == (2,)
    assert rows[3].consumer_id == "0012345"
    assert (rows[7].consumer_id, rows[7].mobile) == ("17021271", "1712345678")
    assert result.total == 5


def test_templates_parse_to_an_empty_upload():
    assert parse_upload(template_csv(), "t.csv").rows == []
    parsed = parse_upload(template_xlsx(), "t.xlsx")
    assert parsed.rows == [] and list(parsed.positions) == [
        "utility",
        "consumer_id",
        "mobile",
        "label",
        "groups",
    ]


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"", "a.csv", "empty_file"),
        (b"utility,consumer_id\nDSCO,1\n", "a.csv", "missing_column"),
        (b"utility,consumer_id,mobile,colour\n", "a.csv", "unknown_column"),
        (b"utility,consumer_id,mobile,mobile\n", "a.csv", "repeated_column"),
        ("utility,consumer_id,mobile\nDSCO,1,\xe9\n".encode("latin-1"), "a.csv", "not_utf8"),
        ("utility".encode("utf-16"), "a.csv", "not_utf8"),
        (b"PK\x03\x04garbage", "a.xlsx", "unreadable_xlsx"),
        (b"\xd0\xcf\x11\xe0rest", "a.xls", "unsupported_format"),
    ],
)
def test_refused_files(data, name, code):
    with pytest.raises(UploadRefused) as caught:
        parse_upload(data, name)
    assert caught.value.code == code
    assert caught.value.message


def test_unknown_column_names_its_place():
    with pytest.raises(UploadRefused) as caught:
        parse_upload(b"utility,consumer_id,mobile,colour\n", "a.csv")
    assert "Line 1, column D" in caught.value.message


def test_limits_refuse_large_files_and_too_many_rows():
    body = HEADER + "\n" + "DSCO,1,01712345678,,\n" * 11
    with pytest.raises(UploadRefused) as caught:
        parse_upload(body.encode(), "a.csv", Limits(max_bytes=100, max_rows=50))
    assert caught.value.code == "file_too_large"
    with pytest.raises(UploadRefused) as caught:
        parse_upload(body.encode(), "a.csv", Limits(max_bytes=10_000, max_rows=10))
    assert caught.value.code == "too_many_rows" and "10" in caught.value.message
    assert len(parse_upload(body.encode(), "a.csv", Limits(max_rows=11)).rows) == 11


def test_column_letters():
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
    ]
