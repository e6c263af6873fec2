"""Reading the first sheet of an XLSX workbook within an upload's limits.

openpyxl (read-only) does the reading; a guard stands in front of it, because an XLSX is a
zip of XML and 100 KiB of it can decompress to gigabytes, or to millions of rows, strings or
style records that openpyxl would build one Python object at a time (an 82 KiB file once
took a portal worker 116 s of CPU and +158 MiB). The guard:

1. reads the zip's central directory size from its end record *before* :mod:`zipfile`
   parses it, then refuses encrypted members, compression other than deflate (a bzip2 or
   LZMA member is inflated a whole block at a time) and declared sizes over the limit —
   :mod:`zipfile` never inflates a member past its declared size and then fails its CRC, so
   a member that lies about its size is cut short and refused;
2. scans every part openpyxl opens, the moment it opens it, with a streaming expat parser
   that keeps nothing but counters: no DTD (entity bombs), no tag longer than 1 MiB, and by
   the part's root element — a sheet: its lines, data rows, columns holding a value, cells
   and the length of each cell; the shared strings: how many and how long; any other part:
   how many elements. The first counter over its limit raises :class:`UploadRefused`;
3. only then lets openpyxl parse the part, whose cost is now bounded by the limits.

Why not python-calamine (Rust, faster on good files): measured on the same crafted files it
aborts the whole process on a sheet whose last cell is XFD1048576 (it allocates the dense
range: 512 GiB), and takes 0.6–0.9 GiB for one giant cell or 4 million repeated rows, in
native memory that Python can neither bound nor see; it would need this same guard in front
of it. The figures are in ``docs/security.md``.

Why one module of more than 400 lines: the guard that reads a workbook's parts before
openpyxl does: each check relies on the ones before it.
"""

from __future__ import annotations

import io
import mmap
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, Literal
from xml.parsers import expat

from bbp_portal.files.limits import (
    N_,
    MiB,
    UploadLimits,
    UploadRefused,
    cell_too_long,
    column_letter,
    too_many_columns,
    too_many_lines,
    too_many_rows,
)

#: What a cell may hold: text, numbers, booleans, dates.
Cell = object

#: Bytes inflated and scanned at a time.
CHUNK = 64 * 1024
#: XML the parser may hold without a single event: one tag, comment or declaration.
MAX_PENDING_XML = 1 * MiB
#: Text of one element outside the cells (Excel's own limit for a cell's text).
MAX_OTHER_TEXT = 32_768
#: Excel's widest sheet (column XFD).
EXCEL_COLUMNS = 16_384

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_SUPPORTED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def unreadable(detail: str = "") -> UploadRefused:
    """The refusal of a workbook that cannot be read (``detail`` goes to the logs only)."""
    return UploadRefused(
        "unreadable_xlsx",
        N_(
            "The file cannot be read as an Excel workbook (.xlsx). Save it again from Excel, "
            "or upload a CSV."
        ),
        detail=detail,
    )


# --------------------------------------------------------------------------- the zip


def _central_directory(data: bytes | mmap.mmap) -> tuple[int, int]:
    """(entries, bytes) of the zip's central directory, from its end record (as zipfile
    finds it: the last signature in the final 64 KiB), before anything parses the directory."""
    tail_start = max(0, len(data) - (22 + 0xFFFF))
    at = data.rfind(_EOCD, tail_start)
    if at < 0 or at + 22 > len(data):
        raise unreadable("no end of central directory")
    entries, size = struct.unpack_from("<HI", data, at + 10)
    if entries == 0xFFFF or size == 0xFFFFFFFF:
        locator = at - 20
        if locator < 0 or data[locator : locator + 4] != _EOCD64_LOCATOR:
            raise unreadable("zip64 end record without locator")
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        if record + 56 > len(data):
            raise unreadable("zip64 end record out of the file")
        entries, size = struct.unpack_from("<QQ", data, record + 32)
    return entries, size


def _check_directory(
    data: bytes | mmap.mmap, limits: UploadLimits, stream: BinaryIO | None = None
) -> zipfile.ZipFile:
    entries, size = _central_directory(data)
    if entries > limits.max_zip_members or size > limits.max_zip_members * 1024:
        raise UploadRefused(
            "too_many_parts",
            N_(
                "The workbook is made of more than %(limit)s parts; an Excel workbook has "
                "a few dozen. Save it again from Excel, or upload a CSV."
            ),
            limit=f"{limits.max_zip_members:,}",
        )
    try:
        return _GuardedZip(stream if stream is not None else io.BytesIO(data), limits)
    except UploadRefused:
        raise
    except Exception as exc:  # BadZipFile, NotImplementedError ("zip file version 6.4"), …
        raise unreadable(f"zip: {type(exc).__name__}: {exc}") from None


class _GuardedZip(zipfile.ZipFile):
    """A zip whose members are checked when it opens, and scanned before each is read."""

    def __init__(self, file: BinaryIO, limits: UploadLimits) -> None:
        super().__init__(file)
        self.limits = limits
        self._scanned: set[str] = set()
        infos = self.infolist()
        if len(infos) > limits.max_zip_members:
            raise unreadable("more members than the end record says")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise UploadRefused(
                    "encrypted_xlsx",
                    N_(
                        "The workbook is protected with a password. Remove the password in "
                        "Excel, or upload a CSV."
                    ),
                )
            if info.compress_type not in _SUPPORTED_COMPRESSION:
                raise unreadable(f"compression {info.compress_type} of {info.filename!r}")
            total += info.file_size
            if info.file_size > limits.max_uncompressed_bytes or total > (
                limits.max_uncompressed_bytes
            ):
                raise UploadRefused(
                    "uncompressed_too_large",
                    N_(
                        "Uncompressed, the workbook is larger than %(limit)s MiB; at most "
                        "%(limit)s MiB are accepted. Split it into smaller files."
                    ),
                    limit=f"{limits.max_uncompressed_bytes / MiB:,.0f}",
                    detail=f"{limits.kind}: {info.filename!r} declares {info.file_size}",
                )

    def open(  # type: ignore[override]
        self,
        name: str | zipfile.ZipInfo,
        mode: Literal["r", "w"] = "r",
        pwd: bytes | None = None,
        **kw: Any,
    ) -> Any:
        if mode == "r":
            info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
            if info.filename not in self._scanned:
                with super().open(info) as raw:
                    _Scanner(self.limits, info.filename).scan(raw)
                self._scanned.add(info.filename)
        return super().open(name, mode, pwd, **kw)


# --------------------------------------------------------------------------- the XML scan


class _Scanner:
    """Counts what one part of the workbook holds, refusing at the first limit it breaks.

    Keeps counters only (never the text), so its memory is flat whatever the part holds.
    The part's root element decides what is counted: ``worksheet``, ``sst`` (shared strings)
    or anything else. Element names are compared without their prefix, and every element
    with a counted name is counted wherever it is: openpyxl matches names anywhere too.
    The handlers are closures over plain variables: a sheet of 50 000 rows makes about a
    million callbacks, and this halves their cost compared with attributes of ``self``.
    """

    def __init__(self, limits: UploadLimits, part: str) -> None:
        self.limits = limits
        self.part = part
        self.parser = expat.ParserCreate()
        self.parser.StartElementHandler = self._root
        self.parser.StartDoctypeDeclHandler = self._doctype

    def scan(self, raw: Any) -> None:
        parser = self.parser
        fed = 0
        try:
            while chunk := raw.read(CHUNK):
                fed += len(chunk)
                parser.Parse(chunk, False)
                # outside a callback: just past the last event; the rest waits in expat
                if fed - parser.CurrentByteIndex > MAX_PENDING_XML:
                    raise unreadable(f"{self.part}: a tag longer than {MAX_PENDING_XML} bytes")
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise unreadable(f"{self.part}: {exc}") from None
        except UploadRefused:
            raise
        except Exception as exc:  # a CRC, a truncated or lying member, a method zipfile lacks
            raise unreadable(f"{self.part}: {type(exc).__name__}: {exc}") from None

    def _doctype(self, *_: Any) -> None:
        raise unreadable(f"{self.part}: a DTD")  # never in Office files; entity bombs live there

    def _root(self, name: str, attrs: dict[str, str]) -> None:
        kinds = {"worksheet": _sheet_handlers, "sst": _strings_handlers}
        make = kinds.get(name.rpartition(":")[2], _other_handlers)
        start, end, text = make(self.limits, self.part)
        self.parser.StartElementHandler = start
        self.parser.EndElementHandler = end
        self.parser.CharacterDataHandler = text
        start(name, attrs)


Handlers = tuple[Any, Any, Any]


def _other_handlers(limits: UploadLimits, part: str) -> Handlers:
    """Any part but a sheet or the shared strings: count its elements, bound its texts."""
    elements = 0
    text = 0

    def start(_name: str, _attrs: dict[str, str]) -> None:
        nonlocal elements, text
        elements += 1
        text = 0
        if elements > limits.max_xml_elements:
            raise UploadRefused(
                "too_many_elements",
                N_(
                    "The workbook holds more than %(limit)s records of styles, names or links. "
                    "Copy the data into a new workbook, or upload a CSV."
                ),
                detail=part,
                limit=f"{limits.max_xml_elements:,}",
            )

    def end(_name: str) -> None:
        nonlocal text
        text = 0

    def characters(data: str) -> None:
        nonlocal text
        text += len(data)
        if text > MAX_OTHER_TEXT:
            raise unreadable(f"{part}: a text over {MAX_OTHER_TEXT} characters")

    return start, end, characters


def _strings_handlers(limits: UploadLimits, part: str) -> Handlers:
    """The shared strings: how many (``si``), and how long each one is."""
    strings = 0
    depth = 0
    in_string = 0  # the depth of the open <si>, 0 outside
    chars = 0
    other_start, _, other_text = _other_handlers(limits, part)

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal strings, depth, in_string, chars
        depth += 1
        if in_string:
            return
        if name == "si" or name.endswith(":si"):
            strings += 1
            if strings > limits.max_shared_strings:
                raise UploadRefused(
                    "too_many_strings",
                    N_(
                        "The workbook holds more than %(limit)s different texts; at most "
                        "%(limit)s are accepted. Split it into smaller files."
                    ),
                    limit=f"{limits.max_shared_strings:,}",
                )
            in_string = depth
            chars = 0
        else:
            other_start(name, attrs)

    def end(_name: str) -> None:
        nonlocal depth, in_string
        if depth == in_string:
            in_string = 0
        depth -= 1

    def characters(data: str) -> None:
        nonlocal chars
        if in_string:
            chars += len(data)
            if chars > limits.max_cell_chars:
                raise UploadRefused(
                    "cell_too_long",
                    N_(
                        "The workbook holds a text longer than %(limit)s characters; a cell "
                        "may hold at most %(limit)s."
                    ),
                    limit=f"{limits.max_cell_chars:,}",
                )
        else:
            other_text(data)

    return start, end, characters


def _sheet_handlers(limits: UploadLimits, part: str) -> Handlers:
    """A sheet: its lines, data rows, cells, the columns that hold a value, each cell's length.

    A cell is any child of a ``row`` (openpyxl reads every child as one); it holds a value
    when some text inside it is not blank.
    """
    depth = 0
    line = 0  # the row number of the current (or last) row
    lines = 0  # rows seen, blank ones included
    data_rows = 0  # rows with a value, the header included
    row_depth = 0  # the depth of the open <row>, 0 outside
    row_has_value = False
    column = 0  # the column of the current (or last) cell of the row
    cells = 0
    cell_chars = 0
    cell_has_value = False
    max_lines, max_cells = limits.max_lines, limits.max_cells
    max_columns, max_chars = limits.max_columns, limits.max_cell_chars
    _, _, other_text = _other_handlers(limits, part)

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, line, lines, row_depth, row_has_value, column, cells
        nonlocal cell_chars, cell_has_value
        depth += 1
        if row_depth:
            if depth != row_depth + 1:
                if name == "row" or name.endswith(":row"):
                    raise unreadable(f"{part}: a row inside a row")
                return  # inside a cell: <v>, <is>, <t>, <f>
            cells += 1
            if cells > max_cells:
                raise UploadRefused(
                    "too_many_cells",
                    N_(
                        "The sheet has more than %(limit)s cells, filled or only formatted. "
                        "Delete the unused rows and columns, or upload a CSV."
                    ),
                    limit=f"{max_cells:,}",
                )
            reference = attrs.get("r")
            if reference:
                letters = reference.rstrip(_DIGITS)
                found = _COLUMNS.get(letters, 0) if letters != reference else 0
                if not found:
                    found = _column_of(reference, part)
                if found <= column:
                    raise UploadRefused(
                        "cells_out_of_order",
                        N_(
                            "Line %(line)s of the sheet has its cells out of order (column "
                            "%(column)s after %(previous)s). Save the file again from Excel."
                        ),
                        line=f"{line:,}",
                        column=column_letter(found),
                        previous=column_letter(column),
                    )
                column = found
            else:
                column += 1
                if column > EXCEL_COLUMNS:
                    raise unreadable(f"{part}: more than {EXCEL_COLUMNS} cells in a row")
            cell_chars = 0
            cell_has_value = False
            return
        if not (name == "row" or name.endswith(":row")):
            return
        lines += 1
        number = attrs.get("r")
        found = line + 1 if number is None else _row_number(number, part)
        if found <= line:
            raise UploadRefused(
                "rows_out_of_order",
                N_(
                    "Line %(line)s of the sheet comes after line %(previous)s: the rows are "
                    "out of order. Save the file again from Excel."
                ),
                line=f"{found:,}",
                previous=f"{line:,}",
            )
        if found > max_lines or lines > max_lines:
            raise too_many_lines(limits, max(found, lines))
        line = found
        row_depth = depth
        row_has_value = False
        column = 0

    def end(_name: str) -> None:
        nonlocal depth, row_depth, row_has_value, data_rows
        if row_depth:
            if depth == row_depth + 1:  # the end of a cell
                if cell_has_value:
                    row_has_value = True
                    if column > max_columns:
                        raise too_many_columns(limits, line, column)
            elif depth == row_depth:  # the end of the row
                row_depth = 0
                if row_has_value:
                    data_rows += 1
                    if data_rows > limits.max_rows + 1:  # the header is a row too
                        raise too_many_rows(limits)
        depth -= 1

    def characters(data: str) -> None:
        nonlocal cell_chars, cell_has_value
        if row_depth and depth > row_depth:  # inside a cell
            cell_chars += len(data)
            if cell_chars > max_chars:
                raise cell_too_long(limits, line, column)
            if not cell_has_value and not data.isspace():
                cell_has_value = True
        else:
            other_text(data)

    return start, end, characters


def _row_number(text: str, part: str) -> int:
    """A row's ``r`` as openpyxl reads it (an integer, or a float that is one)."""
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise unreadable(f"{part}: row number {text[:20]!r}") from None
        if not value.is_integer():
            raise unreadable(f"{part}: row number {text[:20]!r}") from None
        return int(value)


_DIGITS = "0123456789"
#: Column letters seen so far → their number (at most Excel's 18 278 names).
_COLUMNS: dict[str, int] = {}


def _column_of(reference: str, part: str) -> int:
    """The column of a cell reference (``AB12`` → 28), as openpyxl reads it."""
    from openpyxl.utils.cell import column_index_from_string

    letters = reference.rstrip(_DIGITS)
    if letters == reference or not letters:
        raise unreadable(f"{part}: cell reference {reference[:20]!r}")
    try:
        column = int(column_index_from_string(letters))
    except ValueError:
        raise unreadable(f"{part}: cell reference {reference[:20]!r}") from None
    _COLUMNS[letters] = column
    return column


# --------------------------------------------------------------------------- reading


@contextmanager
def first_sheet(
    data: bytes | BinaryIO, limits: UploadLimits
) -> Iterator[Iterator[tuple[int, list[Cell]]]]:
    """The first sheet's lines as (line number, values of columns A… up to the limit).

    ``data`` is the workbook's bytes, or a seekable binary file on disk (a report spooled
    there: its end record is read through a memory map, its parts from the file — the
    workbook is never held whole). Empty lines are included (they count towards the limits);
    every failure of the workbook — a limit, a damaged zip, XML openpyxl cannot read — is an
    :class:`UploadRefused`.
    """
    from openpyxl.reader.excel import ExcelReader

    mapped: mmap.mmap | None = None
    stream: BinaryIO | None = None
    if isinstance(data, bytes | bytearray):
        view: bytes | mmap.mmap = data
    else:
        stream = data
        try:
            mapped = mmap.mmap(data.fileno(), 0, access=mmap.ACCESS_READ)
            view = mapped
        except (OSError, ValueError, io.UnsupportedOperation):
            # no file under it (Werkzeug keeps an upload under 500 KB in memory) or empty
            view = data.read()
            data.seek(0)
    try:
        archive = _check_directory(view, limits, stream)
        try:
            try:
                source = stream if stream is not None else io.BytesIO(data)  # type: ignore[arg-type]
                reader = ExcelReader(source, read_only=True, data_only=True, keep_links=False)
                reader.archive.close()
                reader.archive = archive  # the guarded zip: every part openpyxl opens is scanned
                reader.valid_files = archive.namelist()
                reader.read()
                sheet = reader.wb.worksheets[0]
            except UploadRefused:
                raise
            except Exception as exc:  # anything openpyxl trips on in a hostile file
                raise unreadable(f"{type(exc).__name__}: {exc}") from None
            sheet.reset_dimensions()  # never trust the sheet's own claim of its size
            yield _lines(sheet.iter_rows(values_only=True, max_col=limits.max_columns))
        finally:
            archive.close()
    finally:
        if mapped is not None:
            mapped.close()


def _lines(rows: Iterator[tuple[Cell, ...]]) -> Iterator[tuple[int, list[Cell]]]:
    line = 0
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except UploadRefused:
            raise
        except Exception as exc:  # a bad shared-string index, a date out of range, …
            raise unreadable(f"line {line + 1}: {type(exc).__name__}: {exc}") from None
        line += 1
        values = list(cells)
        while values and values[-1] is None:  # the columns up to the limit, empty ones cut
            values.pop()
        yield line, values
