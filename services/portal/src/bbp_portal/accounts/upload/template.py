"""The downloadable upload templates (CSV and XLSX): the header the parser expects.

The XLSX template formats every column as Text, so Excel keeps leading zeros and long
consumer ids as typed instead of turning them into numbers (``1.7E+07``).
"""

from __future__ import annotations

import io

from bbp_portal.accounts.rules import GROUP_SEPARATOR
from bbp_portal.accounts.upload.parse import COLUMNS

HELP = (
    ("utility", "required: the biller's utility code, e.g. DSCO, DESCO, JGDCL"),
    ("consumer_id", "required: letters, digits and dashes, at most 40"),
    ("mobile", "required: the MOB_NO, 8 to 15 digits (spaces, dashes and a leading + are ok)"),
    ("label", "optional: at most 120 characters"),
    ("groups", f"optional: existing group names separated by {GROUP_SEPARATOR!r}"),
)

#: The example row under the header: its utility cell starts with ``#``, so the parser skips
#: it (a template uploaded with it adds nothing); copy it without the ``# example:``.
EXAMPLE = ("# example: DESCO", "12345678", "01712345678", "Head office meter", "Dhaka")


def template_csv() -> bytes:
    """UTF-8 with a BOM (so Excel opens Bangla labels right), CRLF: the header and an example
    row (skipped when uploaded)."""
    return ("\ufeff" + ",".join(COLUMNS) + "\r\n" + ",".join(EXAMPLE) + "\r\n").encode("utf-8")


def template_xlsx() -> bytes:
    """Sheet ``accounts`` (header, text-formatted columns) and a ``help`` sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "accounts"
    sheet.append(list(COLUMNS))
    sheet.append(list(EXAMPLE))
    for index, _ in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 24
        sheet.column_dimensions[letter].number_format = "@"
        for row in range(2, 1002):  # pre-format the first thousand rows as Text
            sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("help")
    help_sheet.append(["column", "what"])
    for name, text in HELP:
        help_sheet.append([name, text])
    help_sheet.append(["", "a row whose utility starts with # (the example) is skipped"])
    help_sheet.column_dimensions["B"].width = 90
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
