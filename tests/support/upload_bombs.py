# ruff: noqa: E501  (OOXML boilerplate: the namespace and relationship URLs are long)
"""Hostile upload files, made small and fast: XLSX zip bombs and CSV files that try to make a
parser spend memory or CPU (the tests of bounded uploads and ``bench``-style measurements).

Every XLSX here is a real workbook (content types, relationships, one sheet) whose parts are
written by streaming repeated XML into a deflated zip member, so a bomb of hundreds of MiB
uncompressed costs the test well under a second to make and a few hundred KiB to hold.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable, Iterator
from functools import cache

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = ("utility", "consumer_id", "mobile", "label", "groups")

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    b"</Types>"
)
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    b"</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<workbook xmlns="{NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="accounts" sheetId="1" r:id="rId1"/></sheets></workbook>'
).encode()
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    b"</Relationships>"
)


def inline(ref: str, text: str) -> str:
    """A cell holding ``text`` as an inline string."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def header_row() -> str:
    cells = "".join(inline(f"{chr(65 + i)}1", name) for i, name in enumerate(HEADER))
    return f'<row r="1">{cells}</row>'


def good_row(line: int) -> str:
    return (
        f'<row r="{line}">{inline(f"A{line}", "DSCO")}{inline(f"B{line}", f"C{line:08d}")}'
        f"{inline(f'C{line}', '01711111111')}</row>"
    )


def _repeat(chunk: bytes, times: int) -> Iterator[bytes]:
    """``chunk`` ``times`` times, in blocks of about a MiB (cheap to write, cheap to hold)."""
    per_block = max(1, (1 << 20) // max(1, len(chunk)))
    block = chunk * per_block
    full, rest = divmod(times, per_block)
    for _ in range(full):
        yield block
    if rest:
        yield chunk * rest


def sheet(
    body: Iterable[bytes], *, dimension: str | None = None, head: str | None = None
) -> Iterator[bytes]:
    """The worksheet part: ``<dimension>`` if given (it is optional, and only a claim), the
    header row (unless ``head`` replaces it), then ``body``."""
    claim = f'<dimension ref="{dimension}"/>' if dimension else ""
    yield (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{NS}">'
        f"{claim}<sheetData>{header_row() if head is None else head}"
    ).encode()
    yield from body
    yield b"</sheetData></worksheet>"


def shared_strings(body: Iterable[bytes], count: int = 0) -> Iterator[bytes]:
    yield (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<sst xmlns="{NS}" count="{count}" uniqueCount="{count}">'
    ).encode()
    yield from body
    yield b"</sst>"


def workbook(
    sheet_part: Iterable[bytes],
    strings_part: Iterable[bytes] | None = None,
    *,
    extra: dict[str, Iterable[bytes]] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """An XLSX file with the given sheet (and shared strings, and extra members)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        parts = {
            "xl/worksheets/sheet1.xml": sheet_part,
            "xl/sharedStrings.xml": strings_part or shared_strings([]),
            **(extra or {}),
        }
        for name, chunks in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            with book.open(info, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
    return out.getvalue()


# --------------------------------------------------------------------------- XLSX bombs


@cache
def good_xlsx(rows: int = 3) -> bytes:
    return workbook(sheet(good_row(line).encode() for line in range(2, rows + 2)))


@cache
def shared_strings_bomb(strings: int = 1_000_000) -> bytes:
    """A shared-strings table of millions of one-letter strings (one cell uses the first)."""
    body = sheet([b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'])
    return workbook(body, shared_strings(_repeat(b"<si><t>x</t></si>", strings), strings))


@cache
def dimension_bomb() -> bytes:
    """The sheet claims A1:XFD1048576 and has a value in its last cell: a reader that fills
    the gap makes a million empty rows (and sixteen thousand columns)."""
    last = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    return workbook(sheet([last.encode()], dimension="A1:XFD1048576"))


@cache
def repeated_rows_bomb(rows: int = 1_000_000) -> bytes:
    """Millions of rows without a row number (allowed: each is the next), each one value."""
    row = b'<row><c t="inlineStr"><is><t>DSCO</t></is></c></row>'
    return workbook(sheet(_repeat(row, rows)))


@cache
def empty_rows_bomb(rows: int = 2_000_000) -> bytes:
    """Millions of empty ``<row/>`` elements: nothing in them, everything to parse."""
    return workbook(sheet(_repeat(b"<row/>", rows)))


@cache
def giant_cell_bomb(chars: int = 50_000_000) -> bytes:
    """One inline-string cell of ``chars`` characters."""
    head = b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
    return workbook(sheet([head, *_repeat(b"x" * 1024, chars // 1024), b"</t></is></c></row>"]))


@cache
def giant_shared_string_bomb(chars: int = 50_000_000) -> bytes:
    """One shared string of ``chars`` characters, used by one cell."""
    body = sheet([b'<row r="2"><c r="B2" t="s"><v>0</v></c></row>'])
    strings = shared_strings([b"<si><t>", *_repeat(b"x" * 1024, chars // 1024), b"</t></si>"], 1)
    return workbook(body, strings)


@cache
def wide_row_bomb(cells: int = 16_384, rows: int = 200) -> bytes:
    """Rows as wide as Excel allows (column XFD), every cell holding a number."""
    row = b"<row>" + b"<c><v>1</v></c>" * cells + b"</row>"
    return workbook(sheet(_repeat(row, rows)))


@cache
def styles_bomb(formats: int = 1_500_000) -> bytes:
    """A styles part of millions of cell formats (read whole by most readers)."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{NS}">'
        f'<cellXfs count="{formats}">'
    ).encode()
    part = [body, *_repeat(b'<xf numFmtId="0" fontId="0"/>', formats), b"</cellXfs></styleSheet>"]
    return workbook(sheet([good_row(2).encode()]), extra={"xl/styles.xml": part})


@cache
def entity_bomb() -> bytes:
    """'Billion laughs': nested XML entities in the shared strings."""
    levels = ['<!ENTITY l0 "lollollollollollollollollollol">']
    levels += [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9)]
    strings = (
        f'<?xml version="1.0"?><!DOCTYPE sst [{"".join(levels)}]>'
        f'<sst xmlns="{NS}"><si><t>&l8;</t></si></sst>'
    ).encode()
    return workbook(sheet([b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>']), [strings])


@cache
def bzip2_member_bomb(chars: int = 50_000_000) -> bytes:
    """The sheet compressed with bzip2 (legal in a zip, never written by Excel): a reader that
    decompresses a whole block at once gets tens of MiB out of a few bytes."""
    head = b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
    body = sheet([head, *_repeat(b"x" * 1024, chars // 1024), b"</t></is></c></row>"])
    return workbook(body, compression=zipfile.ZIP_BZIP2)


def lie_about_size(data: bytes, member: str, declared: int) -> bytes:
    """The same zip, but ``member``'s uncompressed size (local header and central directory,
    zip64 extras included) says ``declared``: the reader must not trust it."""
    book = bytearray(data)
    name = member.encode()
    for signature, size_at, name_len_at, extra_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 28, 30),  # local file header
        (b"PK\x01\x02", 24, 28, 30, 46),  # central directory entry
    ):
        at = book.find(signature)
        while at != -1:
            name_len = struct.unpack_from("<H", book, at + name_len_at)[0]
            extra_len = struct.unpack_from("<H", book, at + extra_len_at)[0]
            if bytes(book[at + name_at : at + name_at + name_len]) == name:
                if struct.unpack_from("<I", book, at + size_at)[0] == 0xFFFFFFFF:
                    _patch_zip64(book, at + name_at + name_len, extra_len, declared)
                else:
                    struct.pack_into("<I", book, at + size_at, declared)
            at = book.find(signature, at + 4)
    return bytes(book)


def _patch_zip64(book: bytearray, extra_at: int, extra_len: int, declared: int) -> None:
    """Rewrite the uncompressed size, the first field of the zip64 extra block."""
    end = extra_at + extra_len
    while extra_at + 4 <= end:
        tag, size = struct.unpack_from("<HH", book, extra_at)
        if tag == 0x0001:
            struct.pack_into("<Q", book, extra_at + 4, declared)
            return
        extra_at += 4 + size


@cache
def lying_size_bomb(chars: int = 50_000_000) -> bytes:
    """A giant cell whose member says it is 2 KiB uncompressed."""
    return lie_about_size(giant_cell_bomb(chars), "xl/worksheets/sheet1.xml", 2048)


@cache
def inflation_bomb(size: int = 200 * 1024 * 1024) -> bytes:
    """A sheet padded with 200 MiB of spaces between two rows: 200 KiB on the wire."""
    return workbook(sheet([good_row(2).encode(), *_repeat(b" " * 1024, size // 1024)]))


@cache
def many_members_bomb(members: int = 20_000) -> bytes:
    """A workbook with twenty thousand empty extra members (a zip's directory is read
    whole, one object per member, before anything else)."""
    out = io.BytesIO(good_xlsx())
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as book:
        for n in range(members):
            book.writestr(zipfile.ZipInfo(f"x/{n}"), b"")
    return out.getvalue()


XLSX_BOMBS = {
    "200 MiB of XML": inflation_bomb,
    "twenty thousand zip members": many_members_bomb,
    "huge shared-strings table": shared_strings_bomb,
    "huge sheet dimension": dimension_bomb,
    "deeply repeated rows": repeated_rows_bomb,
    "millions of empty rows": empty_rows_bomb,
    "one giant cell": giant_cell_bomb,
    "one giant shared string": giant_shared_string_bomb,
    "rows as wide as Excel allows": wide_row_bomb,
    "millions of cell formats": styles_bomb,
    "nested XML entities": entity_bomb,
    "a bzip2 member": bzip2_member_bomb,
    "a member whose declared size lies": lying_size_bomb,
}


# --------------------------------------------------------------------------- CSV


def csv_long_line(size: int) -> bytes:
    """The header, then one line of ``size`` bytes and no newline."""
    return b"utility,consumer_id,mobile\r\nDSCO," + b"9" * size


def csv_empty_lines(lines: int) -> bytes:
    return b"utility,consumer_id,mobile\r\n" + b"\r\n" * lines


def csv_nul_byte() -> bytes:
    return b"utility,consumer_id,mobile\r\nDSCO,C0001,01711111111\r\nDSCO,C0\x002,01711111111\r\n"


CSV_BOMBS = {
    "a 10 MiB line without a newline": lambda: csv_long_line(10 * 1024 * 1024 - 100),
    "five million empty lines": lambda: csv_empty_lines(5_000_000),
    "a NUL byte": csv_nul_byte,
}


# --------------------------------------------------------------------------- good files


@cache
def excel_like_xlsx(rows: int = 50_000) -> bytes:
    """A good workbook as Excel writes one: a shared-strings table, cells by index, a true
    dimension; four utilities, distinct consumer ids, mobiles and labels, a group every tenth."""
    table: dict[str, int] = {}

    def text(value: str) -> int:
        return table.setdefault(value, len(table))

    utilities = ("DSCO", "DESCO", "JGDCL", "TTAS")
    lines = []
    head = "".join(
        f'<c r="{chr(65 + i)}1" t="s"><v>{text(h)}</v></c>' for i, h in enumerate(HEADER)
    )
    lines.append(f'<row r="1" spans="1:5">{head}</row>')
    for n in range(rows):
        line = n + 2
        values = [utilities[n % 4], f"C{n:08d}", f"017{n:08d}", f"Office {n} Dhaka"]
        values += ["Dhaka offices"] if n % 10 == 0 else []
        cells = "".join(
            f'<c r="{chr(65 + i)}{line}" t="s"><v>{text(v)}</v></c>' for i, v in enumerate(values)
        )
        lines.append(f'<row r="{line}" spans="1:5">{cells}</row>')
    strings = "".join(f"<si><t>{t}</t></si>" for t in table).encode()
    return workbook(
        sheet(["".join(lines).encode()], dimension=f"A1:E{rows + 1}", head=""),
        shared_strings([strings], len(table)),
    )
