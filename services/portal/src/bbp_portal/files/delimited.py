"""Reading an uploaded CSV file within an upload's limits, one line at a time.

The file is decoded as it is read (never copied whole into a string), every line is cut at
the longest a line may be, and the first line, cell or column over a limit refuses the file
with its line number: a 10 MiB line without a newline, millions of empty lines or a NUL byte
cost a few milliseconds, not the worker.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from bbp_portal.files.limits import (
    N_,
    UploadLimits,
    UploadRefused,
    cell_too_long,
    column_letter,
    too_many_columns,
    too_many_lines,
)

#: Bytes decoded at a time when looking for the first byte that is not UTF-8.
_CHUNK = 64 * 1024


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


def not_utf8(data: bytes) -> UploadRefused:
    """The refusal of a file that is not UTF-8, at the line of its first bad byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return UploadRefused(
            "not_utf8",
            N_(
                'The file is UTF-16 (Excel\'s "Unicode Text"). Save it as "CSV UTF-8 (Comma '
                'delimited)" or as .xlsx.'
            ),
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    bad = len(data)
    for at in range(0, len(data), _CHUNK):
        piece = data[at : at + _CHUNK]
        try:
            decoder.decode(piece, final=at + _CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            # the decoder keeps the start of a character cut by the previous piece
            bad = at + exc.start - (len(exc.object) - len(piece))
            break
    return _not_utf8_at(data.count(b"\n", 0, max(0, bad)) + 1)


def _physical_lines(data: bytes | BinaryIO, limits: UploadLimits) -> Iterator[str]:
    """The file's lines with their endings, each checked before anyone splits it.

    ``data`` is the file's bytes, or a seekable binary file (a report spooled to disk: it is
    read a line at a time and never held whole)."""
    if isinstance(data, bytes | bytearray):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise not_utf8(data)
        raw: BinaryIO = io.BytesIO(data)
    else:
        raw = data
        head = raw.read(2)
        raw.seek(0)
        if head in (b"\xff\xfe", b"\xfe\xff"):
            raise not_utf8(head)
    stream = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    longest = limits.max_line_chars
    number = 0
    while True:
        try:
            line = stream.readline(longest + 2)  # at most: the longest line and its CRLF
        except UnicodeDecodeError:
            if isinstance(data, bytes | bytearray):
                raise not_utf8(data) from None
            raise _not_utf8_at(number + 1) from None
        if not line:
            return
        number += 1
        if number > limits.max_lines:
            raise too_many_lines(limits, number)
        if len(line) > longest and len(line.rstrip("\r\n")) > longest:
            raise UploadRefused(
                "line_too_long",
                N_(
                    "Line %(line)s is longer than %(limit)s characters (is the file a CSV? a "
                    "quote left open?). Check that line, or upload the .xlsx."
                ),
                line=f"{number:,}",
                limit=f"{longest:,}",
            )
        if "\x00" in line:
            raise UploadRefused(
                "nul_character",
                N_(
                    "Line %(line)s holds a NUL character: this is not a text file. Save it as "
                    '"CSV UTF-8 (Comma delimited)" or as .xlsx.'
                ),
                line=f"{number:,}",
            )
        yield line


def _not_utf8_at(line: int) -> UploadRefused:
    return UploadRefused(
        "not_utf8",
        N_(
            'Line %(line)s: the file is not UTF-8. In Excel choose "CSV UTF-8 (Comma '
            'delimited)" when saving, or upload the .xlsx.'
        ),
        line=f"{line:,}",
    )


def csv_records(
    data: bytes | BinaryIO, limits: UploadLimits
) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    """(delimiter, records as (line where the record starts, cells)); line 1 is first.

    Quoted fields may span lines; every cell and column is checked against the limits.
    """
    lines = _physical_lines(data, limits)
    first = next(lines, "")
    delimiter = sniff_delimiter(first)
    return delimiter, _records(chain([first], lines), delimiter, limits)


def _records(
    lines: Iterator[str], delimiter: str, limits: UploadLimits
) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(lines, delimiter=delimiter)
    previous = 0
    widest, longest = limits.max_columns, limits.max_cell_chars
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UploadRefused(
                "malformed_csv",
                N_(
                    "Line %(line)s: the CSV cannot be read (a quote is not closed, or a field "
                    "is too long)."
                ),
                line=f"{previous + 1:,}",
                detail=str(exc),
            ) from None
        start, previous = previous + 1, reader.line_num
        if cells and max(map(len, cells)) > longest:
            column = next(i for i, c in enumerate(cells) if len(c) > longest)
            raise cell_too_long(limits, start, column + 1)
        if len(cells) > widest:
            beyond = [i for i, c in enumerate(cells[widest:], start=widest) if c.strip()]
            if beyond:
                raise too_many_columns(limits, start, beyond[0] + 1)
        yield start, cells


__all__ = ["column_letter", "csv_records", "not_utf8", "sniff_delimiter"]
