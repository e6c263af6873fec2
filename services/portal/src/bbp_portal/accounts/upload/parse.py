"""Reading an uploaded CSV or XLSX file into raw rows, each with the line it came from.

Pure: bytes in, rows out, no database and no Flask, so every Excel quirk is unit-tested.
A file that cannot be read at all (too big, too many rows, not UTF-8, no usable header) is
*refused* with :class:`UploadRefused`, whose message says what to do; problems of single rows
are left to :mod:`bbp_portal.accounts.upload.rules`, which reports them by line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bbp_portal.files.delimited import csv_records, sniff_delimiter
from bbp_portal.files.limits import BILL_ACCOUNTS, N_, UploadLimits, UploadRefused, too_many_rows
from bbp_portal.files.xlsx import first_sheet

#: The columns of the upload, in template order. ``groups`` holds names separated by ``|``.
COLUMNS: tuple[str, ...] = ("utility", "consumer_id", "mobile", "label", "groups")
REQUIRED: tuple[str, ...] = ("utility", "consumer_id", "mobile")

#: Header spellings people (and Excel) produce, after lower-casing and turning spaces,
#: dashes and dots into underscores.
_ALIASES = {
    "utility": "utility",
    "utility_code": "utility",
    "biller": "utility",
    "consumer_id": "consumer_id",
    "consumerid": "consumer_id",
    "consumer_no": "consumer_id",
    "account_no": "consumer_id",
    "mobile": "mobile",
    "mobile_no": "mobile",
    "mobile_number": "mobile",
    "mob_no": "mobile",
    "msisdn": "mobile",
    "label": "label",
    "name": "label",
    "groups": "groups",
    "group": "groups",
}

#: What a cell may hold: CSV gives strings, XLSX also numbers, booleans and dates.
Cell = object

XLSX_MAGIC = b"PK\x03\x04"


#: The limits of a bill-accounts upload (``Limits(max_bytes=…, max_rows=…)`` still reads).
Limits = UploadLimits


@dataclass(frozen=True)
class RawRow:
    """One data row as read: its line (1 = the header) and its cells by column name."""

    line: int
    cells: dict[str, Cell]
    #: Values found beyond the last header column: (column letter, value).
    extra: tuple[tuple[str, str], ...] = ()


@dataclass
class ParsedFile:
    """A readable file: format, where each column is, and its data rows."""

    file_format: str
    delimiter: str | None
    #: column name → 0-based position in the file
    positions: dict[str, int]
    rows: list[RawRow] = field(default_factory=list)

    def letter(self, column: str) -> str:
        """The spreadsheet letter of a column (``A`` for the first)."""
        position = self.positions.get(column)
        return column_letter(position) if position is not None else ""


def column_letter(index: int) -> str:
    """0 → ``A``, 25 → ``Z``, 26 → ``AA``: how Excel names columns, so the report matches."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def detect_format(file_name: str, data: bytes) -> str:
    """``csv`` or ``xlsx``, from the content first (a renamed file still reads), then the name."""
    name = file_name.lower()
    if data.startswith(XLSX_MAGIC):
        return "xlsx"
    if name.endswith((".xls", ".ods", ".numbers")) or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UploadRefused(
            "unsupported_format",
            N_(
                "This spreadsheet format is not supported: save it as Excel Workbook (.xlsx) "
                "or as CSV UTF-8."
            ),
        )
    return "csv"


def parse_upload(data: bytes, file_name: str, limits: Limits | None = None) -> ParsedFile:
    """Read the file into raw rows, or refuse it as a whole with a clear message.

    Every limit of ``limits`` (default: :data:`~bbp_portal.files.limits.BILL_ACCOUNTS`) is
    enforced while reading, so a refusal costs milliseconds whatever the file hides.
    """
    limits = limits or BILL_ACCOUNTS
    if len(data) > limits.max_bytes:
        raise UploadRefused(
            "file_too_large",
            N_(
                "The file is %(size)s bytes; at most %(limit)s bytes are accepted. "
                "Split it into smaller files."
            ),
            size=f"{len(data):,}",
            limit=f"{limits.max_bytes:,}",
        )
    if not data or data.isspace():
        raise _empty()
    if detect_format(file_name, data) == "xlsx":
        return _parse_xlsx(data, limits)
    return _parse_csv(data, limits)


def _empty() -> UploadRefused:
    return UploadRefused("empty_file", N_("The file is empty."))


# --------------------------------------------------------------------------- header


def _header_key(value: Cell) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s.\-]+", "_", text).strip("_")


def _read_header(cells: Sequence[Cell]) -> dict[str, int]:
    """Map the header cells to our column names; refuse unknown, repeated or missing ones."""
    positions: dict[str, int] = {}
    last = max((i for i, c in enumerate(cells) if _header_key(c)), default=-1)
    for index, cell in enumerate(cells[: last + 1]):
        key = _header_key(cell)
        name = _ALIASES.get(key)
        if name is None:
            shown = str(cell).strip() if cell is not None else ""
            raise UploadRefused(
                "unknown_column",
                N_(
                    "Line 1, column %(column)s: unknown column %(name)s. The columns are "
                    "%(columns)s (download the template)."
                ),
                column=column_letter(index),
                name=repr(shown[:100]),
                columns=", ".join(COLUMNS),
            )
        if name in positions:
            raise UploadRefused(
                "repeated_column",
                N_("Line 1, column %(column)s: column %(name)s appears twice."),
                column=column_letter(index),
                name=repr(name),
            )
        positions[name] = index
    missing = [c for c in REQUIRED if c not in positions]
    if missing:
        raise UploadRefused(
            "missing_column",
            N_(
                "Line 1: the header lacks %(missing)s. The first line must name the columns: "
                "%(columns)s."
            ),
            missing=", ".join(repr(c) for c in missing),
            columns=", ".join(COLUMNS),
        )
    return positions


def _missing_header() -> UploadRefused:
    return UploadRefused(
        "missing_header",
        N_("The first line must be the header (download the template)."),
    )


def _rows_from(
    records: Iterable[tuple[int, Sequence[Cell]]], limits: Limits, parsed: ParsedFile
) -> ParsedFile:
    """Turn (line, cells) records after the header into raw rows, enforcing the row limit."""
    width = max(parsed.positions.values()) + 1
    names = {index: name for name, index in parsed.positions.items()}
    for line, cells in records:
        if all(_blank(c) for c in cells):
            continue  # Excel leaves ";;;;" lines and blank lines at the end
        if _example(cells, parsed.positions):
            continue  # the template's example row ("# example: DESCO"), kept or not
        if len(parsed.rows) >= limits.max_rows:
            raise too_many_rows(limits)
        row = {
            name: (cells[index] if index < len(cells) else None) for index, name in names.items()
        }
        extra = tuple(
            (column_letter(i), str(c).strip())
            for i, c in enumerate(cells[width:], start=width)
            if not _blank(c)
        )
        parsed.rows.append(RawRow(line, row, extra))
    return parsed


def _example(cells: Sequence[Cell], positions: dict[str, int]) -> bool:
    """A row whose utility cell starts with ``#``: the template's example (no utility code
    does), skipped so that a template uploaded with its example adds nothing."""
    index = positions.get("utility")
    cell = cells[index] if index is not None and index < len(cells) else None
    return isinstance(cell, str) and cell.lstrip().startswith("#")


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# --------------------------------------------------------------------------- CSV


def _parse_csv(data: bytes, limits: Limits) -> ParsedFile:
    delimiter, records = csv_records(data, limits)
    line, cells = next(records, (0, []))
    if line != 1 or all(_blank(c) for c in cells):
        raise _missing_header()
    parsed = ParsedFile("csv", delimiter, _read_header(cells))
    return _rows_from(records, limits, parsed)


# --------------------------------------------------------------------------- XLSX


def _parse_xlsx(data: bytes, limits: Limits) -> ParsedFile:
    with first_sheet(data, limits) as lines:
        line, header = next(lines, (0, []))
        if line != 1 or all(_blank(c) for c in header):
            raise UploadRefused(
                "missing_header",
                N_("The first sheet's first row must be the header (download the template)."),
            )
        parsed = ParsedFile("xlsx", None, _read_header(header))
        return _rows_from(lines, limits, parsed)


__all__ = [
    "COLUMNS",
    "Limits",
    "ParsedFile",
    "RawRow",
    "UploadRefused",
    "column_letter",
    "detect_format",
    "parse_upload",
    "sniff_delimiter",
]
