"""The limits of one kind of upload, and the refusal that names the limit a file broke.

A kind of upload is one :class:`UploadLimits`: ``BILL_ACCOUNTS``, and ``REPORTS``
(Mobiquity's transaction reports for the reconciliation: larger, spooled to disk, never read
whole). The readers in
:mod:`bbp_portal.files` enforce every field *while* reading, so a hostile file costs at most
what its limits allow — never what its compressed size hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024


#: Refusals of a file too big in some way (HTTP 413); the others are about its content (422).
TOO_LARGE = frozenset(
    {
        "file_too_large",
        "too_many_rows",
        "too_many_lines",
        "too_many_cells",
        "too_many_strings",
        "too_many_parts",
        "too_many_elements",
        "uncompressed_too_large",
    }
)


def N_(text: str) -> str:
    """Mark ``text`` for translation without translating it here (this module is pure)."""
    return text


class UploadRefused(Exception):
    """The whole file is refused; ``message`` tells the admin what to change.

    ``template`` is the English text with ``%(name)s`` placeholders and ``params`` fills them,
    so the web layer can show the same refusal in the reader's language
    (``gettext(exc.template, **exc.params)``); ``code`` is stable for API clients and tests;
    ``detail`` says what exactly was wrong, for the logs (never shown: it may quote the file).
    """

    def __init__(self, code: str, template: str, *, detail: str = "", **params: Any) -> None:
        self.code = code
        self.template = template
        self.params = params
        self.detail = detail
        self.message = template % params if params else template
        super().__init__(self.message)

    @property
    def status(self) -> int:
        """The HTTP status of the refusal: 413 for a file too big in some way, else 422."""
        return 413 if self.code in TOO_LARGE else 422


@dataclass(frozen=True)
class UploadLimits:
    """Upper bounds of one kind of upload; each one is checked while the file is read.

    Every field is named in the refusal it causes, so an admin can tell what to change.
    """

    #: What this kind is, in the logs ("bill accounts").
    kind: str = "bill accounts"
    #: Size of the uploaded file, in bytes.
    max_bytes: int = 10 * MiB
    #: Rows of data (lines that are not blank, the header excluded).
    max_rows: int = 50_000
    #: Blank lines tolerated among or after the data (Excel leaves pre-formatted empty rows).
    max_blank_lines: int = 10_000
    #: Columns that may hold a value (A…Z for 26).
    max_columns: int = 26
    #: Characters in one cell.
    max_cell_chars: int = 1_000
    #: Different texts of an XLSX workbook (its shared-strings table).
    max_shared_strings: int = 300_000
    #: Bytes of an XLSX workbook once decompressed (all its parts together).
    max_uncompressed_bytes: int = 64 * MiB
    #: Members of an XLSX workbook (a zip: Excel writes about ten).
    max_zip_members: int = 1_000
    #: XML elements of any part of a workbook that is not a sheet or the shared strings
    #: (styles, the workbook, relationships): Excel writes a few thousand at most.
    max_xml_elements: int = 20_000

    @property
    def max_lines(self) -> int:
        """The highest line (row number) read: the header, the data and the blank lines."""
        return 1 + self.max_rows + self.max_blank_lines

    @property
    def max_cells(self) -> int:
        """Cells a sheet may hold, filled or only formatted (each costs time to read)."""
        return self.max_lines * self.max_columns

    @property
    def max_line_chars(self) -> int:
        """Characters in one line of a CSV file: every column at its longest, quoted."""
        return self.max_columns * (self.max_cell_chars + 3)


#: Bulk upload of bill accounts (``BBP_UPLOAD_MAX_BYTES`` and ``…_MAX_ROWS`` override the
#: size and the rows: see :func:`bill_accounts`).
BILL_ACCOUNTS = UploadLimits()


def bill_accounts(max_bytes: int, max_rows: int) -> UploadLimits:
    """The bill-accounts limits for the configured size and rows; the limits that grow with a
    file (distinct texts, decompressed size) grow with them, never below the defaults."""
    scale = max(1.0, max_rows / BILL_ACCOUNTS.max_rows, max_bytes / BILL_ACCOUNTS.max_bytes)
    return UploadLimits(
        kind=BILL_ACCOUNTS.kind,
        max_bytes=max_bytes,
        max_rows=max_rows,
        max_shared_strings=int(BILL_ACCOUNTS.max_shared_strings * scale),
        max_uncompressed_bytes=int(BILL_ACCOUNTS.max_uncompressed_bytes * scale),
    )


#: Mobiquity's transaction report (the reconciliation): a month of a busy wallet. 200 000
#: lines of the sandbox's report are 41 MB as CSV and 19 MB as XLSX (about 170 MB of XML
#: inside); the file is spooled to disk and read a line at a time, so only these bounds, not
#: its size, decide what a report costs. ``BBP_REPORT_MAX_BYTES``/``…_MAX_ROWS`` override.
REPORTS = UploadLimits(
    kind="transaction report",
    max_bytes=100 * MiB,
    max_rows=500_000,
    max_blank_lines=10_000,
    max_columns=40,
    max_cell_chars=1_000,
    max_shared_strings=2_500_000,
    max_uncompressed_bytes=1024 * MiB,
)


def reports(max_bytes: int, max_rows: int) -> UploadLimits:
    """The report limits for the configured size and rows (the XLSX bounds grow with them)."""
    scale = max(1.0, max_rows / REPORTS.max_rows, max_bytes / REPORTS.max_bytes)
    return UploadLimits(
        kind=REPORTS.kind,
        max_bytes=max_bytes,
        max_rows=max_rows,
        max_blank_lines=REPORTS.max_blank_lines,
        max_columns=REPORTS.max_columns,
        max_cell_chars=REPORTS.max_cell_chars,
        max_shared_strings=int(REPORTS.max_shared_strings * scale),
        max_uncompressed_bytes=int(REPORTS.max_uncompressed_bytes * scale),
    )


# --------------------------------------------------------------------------- refusals


def column_letter(index: int) -> str:
    """1 → ``A``, 26 → ``Z``, 27 → ``AA``: how Excel names columns."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def too_many_rows(limits: UploadLimits) -> UploadRefused:
    return UploadRefused(
        "too_many_rows",
        N_(
            "The file has more than %(limit)s rows; at most %(limit)s are accepted at once. "
            "Split it into smaller files."
        ),
        limit=f"{limits.max_rows:,}",
    )


def too_many_lines(limits: UploadLimits, line: int) -> UploadRefused:
    return UploadRefused(
        "too_many_lines",
        N_(
            "The file goes on to line %(line)s; at most %(limit)s lines are read (%(rows)s "
            "rows and %(blank)s blank lines). Delete the empty lines at its end."
        ),
        line=f"{line:,}",
        limit=f"{limits.max_lines:,}",
        rows=f"{limits.max_rows:,}",
        blank=f"{limits.max_blank_lines:,}",
    )


def too_many_columns(limits: UploadLimits, line: int, column: int) -> UploadRefused:
    return UploadRefused(
        "too_many_columns",
        N_(
            "Line %(line)s has a value in column %(column)s; at most %(limit)s columns "
            "(A to %(last)s) are read. Delete the columns after %(last)s."
        ),
        line=f"{line:,}",
        column=column_letter(column),
        limit=f"{limits.max_columns:,}",
        last=column_letter(limits.max_columns),
    )


def cell_too_long(limits: UploadLimits, line: int, column: int) -> UploadRefused:
    return UploadRefused(
        "cell_too_long",
        N_(
            "Line %(line)s, column %(column)s: the value is longer than %(limit)s characters; "
            "a cell may hold at most %(limit)s."
        ),
        line=f"{line:,}",
        column=column_letter(column),
        limit=f"{limits.max_cell_chars:,}",
    )
