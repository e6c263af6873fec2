"""Reading an uploaded CSV or XLSX file into raw rows, each with the line it came from.

Pure: bytes in, rows out, no database and no Flask, so every Excel quirk is unit-tested.
A file that cannot be read at all (too big, too many rows, not UTF-8, no usable header) is
*refused* with :class:`UploadRefused`, whose message says what to do; problems of single rows
are left to :mod:`bbp_portal.accounts.upload.rules`, which reports them by line and column.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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


class UploadRefused(Exception):
    """The whole file is refused; ``message`` tells the admin what to change."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Upper bounds of one upload (settings ``BBP_UPLOAD_MAX_BYTES`` and ``…_MAX_ROWS``)."""

    max_bytes: int = 10 * 1024 * 1024
    max_rows: int = 50_000


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
            "This spreadsheet format is not supported: save it as Excel Workbook (.xlsx) "
            "or as CSV UTF-8.",
        )
    return "csv"


def parse_upload(data: bytes, file_name: str, limits: Limits | None = None) -> ParsedFile:
    """Read the file into raw rows, or refuse it as a whole with a clear message."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise UploadRefused(
            "file_too_large",
            f"The file is {len(data):,} bytes; at most {limits.max_bytes:,} bytes are accepted. "
            "Split it into smaller files.",
        )
    if not data.strip():
        raise UploadRefused("empty_file", "The file is empty.")
    if detect_format(file_name, data) == "xlsx":
        return _parse_xlsx(data, limits)
    return _parse_csv(data, limits)


# --------------------------------------------------------------------------- header


def _header_key(value: Cell) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s.\-]+", "_", text).strip("_")


def _read_header(cells: list[Cell]) -> dict[str, int]:
    """Map the header cells to our column names; refuse unknown, repeated or missing ones."""
    positions: dict[str, int] = {}
    last = max((i for i, c in enumerate(cells) if _header_key(c)), default=-1)
    for index, cell in enumerate(cells[: last + 1]):
        key = _header_key(cell)
        name = _ALIASES.get(key)
        where = f"line 1, column {column_letter(index)}"
        if name is None:
            shown = str(cell).strip() if cell is not None else ""
            raise UploadRefused(
                "unknown_column",
                f"{where}: unknown column {shown!r}. The columns are "
                + ", ".join(COLUMNS)
                + " (download the template).",
            )
        if name in positions:
            raise UploadRefused("repeated_column", f"{where}: column {name!r} appears twice.")
        positions[name] = index
    missing = [c for c in REQUIRED if c not in positions]
    if missing:
        raise UploadRefused(
            "missing_column",
            "line 1: the header lacks "
            + ", ".join(repr(c) for c in missing)
            + ". The first line must name the columns: "
            + ", ".join(COLUMNS)
            + ".",
        )
    return positions


def _rows_from(
    records: Iterable[tuple[int, list[Cell]]], limits: Limits, parsed: ParsedFile
) -> ParsedFile:
    """Turn (line, cells) records after the header into raw rows, enforcing the row limit."""
    width = max(parsed.positions.values()) + 1
    names = {index: name for name, index in parsed.positions.items()}
    for line, cells in records:
        if all(_blank(c) for c in cells):
            continue  # Excel leaves ";;;;" lines and blank lines at the end
        if len(parsed.rows) >= limits.max_rows:
            raise UploadRefused(
                "too_many_rows",
                f"The file has more than {limits.max_rows:,} rows; at most {limits.max_rows:,} "
                "are accepted at once. Split it into smaller files.",
            )
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


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# --------------------------------------------------------------------------- CSV


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UploadRefused(
            "not_utf8",
            'The file is UTF-16 (Excel\'s "Unicode Text"). Save it as "CSV UTF-8 (Comma '
            'delimited)" or as .xlsx.',
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UploadRefused(
            "not_utf8",
            f'line {line}: the file is not UTF-8. In Excel choose "CSV UTF-8 (Comma '
            'delimited)" when saving, or upload the .xlsx.',
        ) from None


def sniff_delimiter(first_line: str) -> str:
    """``;`` (Excel in many locales), ``,`` or tab: whichever splits the header most."""
    counts = {d: 0 for d in (",", ";", "\t")}
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_records(text: str, delimiter: str) -> Iterator[tuple[int, list[Cell]]]:
    """(line where the record starts, cells); quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UploadRefused(
                "malformed_csv", f"line {previous + 1}: the CSV cannot be read ({exc})."
            ) from None
        start, previous = previous + 1, reader.line_num
        yield start, list(cells)


def _parse_csv(data: bytes, limits: Limits) -> ParsedFile:
    text = _decode(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = sniff_delimiter(first)
    records = _csv_records(text, delimiter)
    for line, cells in records:
        if all(_blank(c) for c in cells):
            continue
        if line != 1:
            raise UploadRefused(
                "missing_header", "The first line must be the header (download the template)."
            )
        parsed = ParsedFile("csv", delimiter, _read_header(cells))
        return _rows_from(records, limits, parsed)
    raise UploadRefused("empty_file", "The file is empty.")


# --------------------------------------------------------------------------- XLSX


def _parse_xlsx(data: bytes, limits: Limits) -> ParsedFile:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise UploadRefused(
            "unreadable_xlsx",
            "The file cannot be read as an Excel workbook (.xlsx). Save it again from Excel, "
            "or upload a CSV.",
        ) from None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True, max_col=len(COLUMNS) + 10)
        header = next(rows, None)
        if header is None or all(_blank(c) for c in header):
            raise UploadRefused(
                "missing_header",
                "The first sheet's first row must be the header (download the template).",
            )
        parsed = ParsedFile("xlsx", None, _read_header(list(header)))
        records = ((line, list(cells)) for line, cells in enumerate(rows, start=2))
        return _rows_from(records, limits, parsed)
    finally:
        book.close()
