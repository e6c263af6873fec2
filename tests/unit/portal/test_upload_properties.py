"""Properties of the upload parser and row validators, checked by hypothesis.

1. Any bytes — random, CSV-shaped, workbook-shaped, or a good workbook with bytes flipped —
   give either a report whose every problem has its line and column, or one clear
   file-level refusal (a known code, a message without placeholders). Never an exception.
2. Valid rows round-trip: generated rows written as CSV (any delimiter, BOM or not, CRLF or
   LF, quoted as csv writes them) and as XLSX (openpyxl's inline strings, and a
   shared-strings table as Excel writes it) parse and validate back to the same accounts.

``make test`` runs a fixed seed (derandomised) and a bounded number of examples: a few
seconds. The longer run, and its figures, are in docs/security.md::

    BBP_FUZZ_EXAMPLES=3000 .venv/bin/python -m pytest -n 0 -p no:cacheprovider \\
        tests/unit/portal/test_upload_properties.py --hypothesis-seed=19
"""

from __future__ import annotations

import csv
import io
import os
import re
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from bbp_portal.accounts import rules
from bbp_portal.accounts.upload.parse import COLUMNS, UploadRefused, parse_upload
from bbp_portal.accounts.upload.validate import Catalogue, Validation, validate
from tests.support import upload_bombs as bombs

EXAMPLES = int(os.environ.get("BBP_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 40,
    derandomize=not EXAMPLES,  # make test: the same examples every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CATALOGUE = Catalogue(
    billers={"DSCO": True, "DESCO": True, "JGDCL": True, "OLD": False},
    groups={"dhaka offices": 1, "head office": 2, "দক্ষিণ": 3},
)
GROUP_NAMES = {1: "Dhaka offices", 2: "Head office", 3: "দক্ষিণ"}
#: Every code a whole file may be refused with.
REFUSALS = {
    "file_too_large",
    "empty_file",
    "unsupported_format",
    "unknown_column",
    "repeated_column",
    "missing_column",
    "missing_header",
    "not_utf8",
    "line_too_long",
    "nul_character",
    "malformed_csv",
    "cell_too_long",
    "too_many_columns",
    "too_many_rows",
    "too_many_lines",
    "too_many_cells",
    "too_many_strings",
    "too_many_parts",
    "too_many_elements",
    "uncompressed_too_large",
    "unreadable_xlsx",
    "encrypted_xlsx",
    "rows_out_of_order",
    "cells_out_of_order",
}
LETTER = re.compile(r"^[A-Z]{1,3}$")


def stored(keys):
    return {k for k in keys if k[1].endswith("5555")}


def outcome(data: bytes, name: str) -> Validation | UploadRefused:
    """The parser and validator's answer; any other exception fails the property."""
    try:
        return validate(parse_upload(data, name), CATALOGUE, stored)
    except UploadRefused as refused:
        return refused


def assert_clear(answer: Validation | UploadRefused) -> None:
    if isinstance(answer, UploadRefused):
        assert answer.code in REFUSALS, answer.code
        assert answer.message.strip() and "%(" not in answer.message
        return
    for problem in answer.problems:
        assert problem.line >= 2, problem
        assert LETTER.match(problem.letter), problem
        assert problem.code and problem.message.strip(), problem
    assert answer.valid_rows + answer.error_rows == answer.total


# --------------------------------------------------------------------------- any bytes

_NASTY = st.sampled_from(
    [",", ";", "\t", '"', "\n", "\r", "\r\n", "\x00", "\ufeff", "=", "|", " ", "1.7E+07",
     "DSCO", "dsco", "5555", "017", "\u200b", "🙂", "দক্ষিণ", "\x1f", "_x0041_"]
)  # fmt: skip
_CELL = st.one_of(
    st.text(max_size=12),
    _NASTY,
    st.lists(_NASTY, max_size=4).map("".join),
    st.from_regex(r"[A-Za-z0-9-]{1,45}", fullmatch=True),
)
_HEADER = st.one_of(
    st.just(list(COLUMNS)),
    st.permutations(list(COLUMNS)),
    st.lists(st.sampled_from([*COLUMNS, "mob_no", "Consumer ID", "colour", ""]), max_size=7),
)


@st.composite
def csv_shaped(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [delimiter.join(draw(_HEADER))]
    for _ in range(draw(st.integers(0, 8))):
        lines.append(delimiter.join(draw(st.lists(_CELL, max_size=8))))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    data = (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # a stray byte somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data


_ROW_NUMBER = st.one_of(
    st.none(), st.integers(-2, 70_000).map(str), st.sampled_from(["1e3", "2.5", "x", "", "1_0"])
)
_REFERENCE = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["A", "B", "C", "E", "Z", "AA", "XFD", "XFE", "a", "$A"]),
              st.integers(0, 99)).map(lambda t: f"{t[0]}{t[1]}"),
    st.sampled_from(["", "A", "1", "A1B2"]),
)  # fmt: skip


@st.composite
def sheet_cell(draw: st.DrawFn) -> str:
    reference = draw(_REFERENCE)
    r = f' r="{escape(reference, {chr(34): "&quot;"})}"' if reference is not None else ""
    kind = draw(st.sampled_from(["s", "str", "inlineStr", "n", "b", "e", "d", None, "zz"]))
    t = f' t="{kind}"' if kind else ""
    value = escape(draw(_CELL.filter(lambda c: "\x00" not in c and "\r" not in c)))
    value = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", value)
    if kind == "inlineStr":
        body = f"<is><t>{value}</t></is>"
    elif kind == "s":
        body = f"<v>{draw(st.integers(-1, 6))}</v>"
    else:
        body = draw(st.sampled_from([f"<v>{value}</v>", "", f"<f>SUM(A1)</f><v>{value}</v>"]))
    return f"<c{r}{t}>{body}</c>"


@st.composite
def xlsx_shaped(draw: st.DrawFn) -> bytes:
    header = draw(_HEADER)
    head = "".join(bombs.inline(f"{chr(65 + i)}1", escape(h)) for i, h in enumerate(header[:26]))
    rows = [f'<row r="1">{head}</row>'] if draw(st.booleans()) or not header else []
    for _ in range(draw(st.integers(0, 6))):
        number = draw(_ROW_NUMBER)
        r = f' r="{escape(number)}"' if number is not None else ""
        rows.append(f"<row{r}>{''.join(draw(st.lists(sheet_cell(), max_size=6)))}</row>")
    strings = [escape(s) for s in draw(st.lists(_CELL, max_size=5))]
    strings = [re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", s) for s in strings]
    sst = "".join(f"<si><t>{s}</t></si>" for s in strings).encode()
    dimension = draw(st.sampled_from([None, "A1", "A1:E3", "A1:XFD1048576", "bogus"]))
    sheet = bombs.sheet([row.encode() for row in rows], dimension=dimension, head="")
    return bombs.workbook(sheet, bombs.shared_strings([sst], len(strings)))


@FUZZ
@given(data=st.binary(max_size=600), name=st.sampled_from(["a.csv", "a.xlsx", "a.txt", "a.xls"]))
def test_any_bytes_give_a_report_or_one_clear_refusal(data, name):
    assert_clear(outcome(data, name))


@FUZZ
@given(data=csv_shaped())
def test_any_csv_gives_a_report_or_one_clear_refusal(data):
    assert_clear(outcome(data, "accounts.csv"))


@FUZZ
@given(data=xlsx_shaped())
def test_any_workbook_gives_a_report_or_one_clear_refusal(data):
    assert_clear(outcome(data, "accounts.xlsx"))


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
@example(flips=[(1773, 64)], cut=None)  # found by a long run: "zip file version 6.4"
def test_a_damaged_workbook_gives_a_report_or_one_clear_refusal(flips, cut):
    data = bytearray(bombs.good_xlsx(3))
    for at, byte in flips:
        data[at % len(data)] = byte
    if cut is not None:
        data = data[: cut % len(data)]
    assert_clear(outcome(bytes(data), "accounts.xlsx"))


# --------------------------------------------------------------------------- round trip

_CONSUMER = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,38}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda c: not re.match(r"^\d+[eE]\d+$", c) and not c.endswith("5555")
)
_MOBILE = st.tuples(st.sampled_from(["", "+"]), st.from_regex(r"[0-9]{8,15}", fullmatch=True)).map(
    "".join
)
#: Labels as people type them: any letters (Bangla too), punctuation, the delimiters, quotes
#: and line breaks — not the control characters XML cannot hold.
_LABEL = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"
    ).filter(lambda c: c.isprintable())
    | st.sampled_from([",", ";", "\t", '"', "\n", " ", "|", "="]),
    max_size=rules.LABEL_MAX,
).filter(lambda text: len(rules.label(text)) <= rules.LABEL_MAX and "_x" not in text)
_ROW = st.fixed_dictionaries(
    {
        "utility": st.sampled_from(["DSCO", "DESCO", "JGDCL", "dsco"]),
        "consumer_id": _CONSUMER,
        "mobile": _MOBILE,
        "label": _LABEL,
        "groups": st.lists(st.sampled_from(sorted(GROUP_NAMES)), unique=True, max_size=3),
    }
)
_ROWS = st.lists(
    _ROW,
    min_size=1,
    max_size=12,
    unique_by=lambda r: (r["utility"].upper(), r["consumer_id"].casefold()),
)


def cells(row: dict) -> list[str]:
    return [
        row["utility"],
        row["consumer_id"],
        row["mobile"],
        row["label"],
        " | ".join(GROUP_NAMES[g] for g in row["groups"]),
    ]


def expected(rows: list[dict]) -> list[tuple]:
    return [
        (
            r["utility"].upper(),
            r["consumer_id"],
            r["mobile"].removeprefix("+"),
            rules.label(r["label"]),
            tuple(r["groups"]),
        )
        for r in rows
    ]


def read_back(data: bytes, name: str) -> list[tuple]:
    result = validate(parse_upload(data, name), CATALOGUE, stored)
    assert result.problems == [], result.problems[:3]
    return [(r.utility_code, r.consumer_id, r.mobile, r.label, r.group_ids) for r in result.rows]


@FUZZ
@given(
    rows=_ROWS,
    delimiter=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_valid_rows_round_trip_through_csv(rows, delimiter, newline, bom):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(COLUMNS)
    writer.writerows(cells(r) for r in rows)
    data = (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")
    assert read_back(data, "accounts.csv") == expected(rows)


@FUZZ
@given(rows=_ROWS)
def test_valid_rows_round_trip_through_xlsx(rows):
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for line, row in enumerate(rows, start=2):
        for column, value in enumerate(cells(row), start=1):
            cell = sheet.cell(row=line, column=column, value=value)
            cell.data_type = "s"  # text as typed: openpyxl would make "=0" a formula
    out = io.BytesIO()
    book.save(out)
    assert read_back(out.getvalue(), "accounts.xlsx") == expected(rows)


@FUZZ
@given(rows=_ROWS)
def test_valid_rows_round_trip_through_shared_strings(rows):
    """As Excel writes a sheet: every text in the shared-strings table, cells by index."""
    table: dict[str, int] = {}
    lines = []
    for line, values in enumerate([list(COLUMNS), *map(cells, rows)], start=1):
        refs = []
        for column, value in enumerate(values):
            if value:
                index = table.setdefault(value, len(table))
                refs.append(f'<c r="{chr(65 + column)}{line}" t="s"><v>{index}</v></c>')
        lines.append(f'<row r="{line}">{"".join(refs)}</row>'.encode())
    strings = "".join(
        f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in table
    ).encode()
    data = bombs.workbook(
        bombs.sheet(lines, dimension=f"A1:E{len(lines)}", head=""),
        bombs.shared_strings([strings], len(table)),
    )
    assert read_back(data, "accounts.xlsx") == expected(rows)
