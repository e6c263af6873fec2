"""Validating parsed upload rows: every problem at its line and column, nothing stored.

Pure: the catalogue, the groups and the "already stored?" lookup come in as arguments, so
the unit tests run without a database; the upload service passes the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from bbp_portal.accounts import rules
from bbp_portal.accounts.upload.parse import ParsedFile, RawRow

#: (utility, consumer id) keys → those of them already stored (any case).
StoredLookup = Callable[[Collection[tuple[str, str]]], Collection[tuple[str, str]]]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell (or row): where, a stable code, a message, the value."""

    line: int
    column: str
    letter: str
    code: str
    message: str
    value: str = ""


@dataclass
class Row:
    """A data row after normalisation; ``valid`` is False when any problem names its line."""

    line: int
    utility_code: str = ""
    consumer_id: str = ""
    mobile: str = ""
    label: str = ""
    group_ids: tuple[int, ...] = ()
    valid: bool = True


@dataclass
class Validation:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def valid_rows(self) -> int:
        return sum(1 for r in self.rows if r.valid)

    @property
    def error_rows(self) -> int:
        return self.total - self.valid_rows


@dataclass(frozen=True)
class Catalogue:
    """What the rows are checked against.

    ``billers``: utility code → active; ``groups``: casefolded group name → id.
    """

    billers: Mapping[str, bool]
    groups: Mapping[str, int]


def _shown(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def validate(parsed: ParsedFile, catalogue: Catalogue, stored: StoredLookup) -> Validation:
    """Normalise and check every row; report each problem; decide which rows are valid."""
    result = Validation()
    first_line: dict[tuple[str, str], int] = {}

    def report(row: Row, raw: RawRow, column: str, code: str, message: str) -> None:
        row.valid = False
        result.problems.append(
            Problem(
                raw.line,
                column,
                parsed.letter(column),
                code,
                message,
                _shown(raw.cells.get(column)),
            )
        )

    keyed: list[tuple[Row, RawRow, tuple[str, str]]] = []
    for raw in parsed.rows:
        row = Row(raw.line)
        result.rows.append(row)
        key_ok = True
        try:
            row.utility_code = rules.utility_code(raw.cells.get("utility"))
            active = catalogue.billers.get(row.utility_code)
            if active is None:
                key_ok = False
                report(
                    row,
                    raw,
                    "utility",
                    "unknown",
                    f"No biller has the utility code {row.utility_code!r}.",
                )
            elif not active:
                report(
                    row,
                    raw,
                    "utility",
                    "inactive",
                    f"The biller {row.utility_code!r} is deactivated.",
                )
        except rules.FieldError as exc:
            key_ok = False
            report(row, raw, "utility", exc.code, exc.message)
        try:
            row.consumer_id = rules.consumer_id(raw.cells.get("consumer_id"))
        except rules.FieldError as exc:
            key_ok = False
            report(row, raw, "consumer_id", exc.code, exc.message)
        try:
            row.mobile = rules.mobile(raw.cells.get("mobile"))
        except rules.FieldError as exc:
            report(row, raw, "mobile", exc.code, exc.message)
        try:
            row.label = rules.label(raw.cells.get("label"))
        except rules.FieldError as exc:
            report(row, raw, "label", exc.code, exc.message)
        try:
            ids: list[int] = []
            for name in rules.group_names(raw.cells.get("groups")):
                group_id = catalogue.groups.get(name.casefold())
                if group_id is None:
                    report(
                        row,
                        raw,
                        "groups",
                        "unknown",
                        f"No group is named {name!r} (create it on the Groups page first).",
                    )
                else:
                    ids.append(group_id)
            row.group_ids = tuple(ids)
        except rules.FieldError as exc:
            report(row, raw, "groups", exc.code, exc.message)
        for letter, value in raw.extra:
            row.valid = False
            result.problems.append(
                Problem(
                    raw.line,
                    "",
                    letter,
                    "unexpected_value",
                    "A value beyond the last column of the header.",
                    _shown(value),
                )
            )
        if key_ok:
            key = rules.account_key(row.utility_code, row.consumer_id)
            if key in first_line:
                report(
                    row,
                    raw,
                    "consumer_id",
                    "duplicate_in_file",
                    f"Line {first_line[key]} has the same utility and consumer id.",
                )
            else:
                first_line[key] = raw.line
                keyed.append((row, raw, key))

    if keyed:
        already = {rules.account_key(u, c) for u, c in stored([k for _, _, k in keyed])}
        for row, raw, key in keyed:
            if key in already:
                report(
                    row,
                    raw,
                    "consumer_id",
                    "already_stored",
                    f"{row.utility_code} {row.consumer_id} is already a bill account.",
                )

    order = {
        name: i
        for i, name in enumerate(("utility", "consumer_id", "mobile", "label", "groups", ""))
    }
    result.problems.sort(key=lambda p: (p.line, order.get(p.column, 9), p.letter))
    return result
