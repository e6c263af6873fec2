"""Small helpers for the stores' plain SQL (PyMySQL's ``%s`` placeholders).

The stores run statements with ``Connection.exec_driver_sql``: the text goes to the driver
as it is, so nothing is compiled per call. These helpers only join fixed fragments and
placeholders — values always travel as parameters, never inside the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection


@dataclass(frozen=True)
class Sql:
    """A fixed SQL expression used as a column's new value (``UTC_TIMESTAMP(6)``)."""

    text: str


NOW = Sql("UTC_TIMESTAMP(6)")
NULL = Sql("NULL")


def marks(count: int) -> str:
    """``%s, %s, …`` for ``count`` parameters."""
    return ", ".join(["%s"] * count)


def chunks(values: Sequence[Any], size: int = 1000) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def update_by_id(
    conn: Connection,
    table: str,
    per_row: Mapping[int, Mapping[str, Any]],
    *,
    where: str = "",
    where_params: Sequence[Any] = (),
) -> int:
    """One UPDATE that gives each row (by ``id``) its own values; returns rows matched.

    Columns every row sets to the same value are set plainly; the others with one
    ``CASE id WHEN … THEN … END`` each. A value may be an :class:`Sql` expression.
    """
    if not per_row:
        return 0
    ids = list(per_row)
    columns: list[str] = []
    for values in per_row.values():
        for column in values:
            if column not in columns:
                columns.append(column)
    assignments: list[str] = []
    params: list[Any] = []
    for column in columns:
        seen = [values.get(column, _KEEP) for values in per_row.values()]
        first = seen[0]
        if all(_same(value, first) for value in seen) and first is not _KEEP:
            text, args = _value(first)
            assignments.append(f"{column} = {text}")
            params.extend(args)
            continue
        whens: list[str] = []
        for row_id, value in zip(ids, seen, strict=True):
            if value is _KEEP:
                continue
            text, args = _value(value)
            whens.append(f"WHEN %s THEN {text}")
            params.append(row_id)
            params.extend(args)
        assignments.append(f"{column} = CASE id {' '.join(whens)} ELSE {column} END")
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE id IN ({marks(len(ids))})"
    params.extend(ids)
    if where:
        sql += f" AND {where}"
        params.extend(where_params)
    return int(conn.exec_driver_sql(sql, tuple(params)).rowcount)


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


_KEEP: Any = _Keep()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Sql) or isinstance(b, Sql):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _value(value: Any) -> tuple[str, list[Any]]:
    if isinstance(value, Sql):
        return value.text, []
    return "%s", [value]
