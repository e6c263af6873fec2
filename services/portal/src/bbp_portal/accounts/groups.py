"""Account groups ("Dhaka offices"): named sets of accounts, managed explicitly.

Groups are never created implicitly by an upload — an unknown group name in a file is a
row error — so a typo cannot silently start a new group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bbp_common.platform.db.tables import account_groups, bill_account_groups
from bbp_portal.accounts import rules
from bbp_portal.audit_trail import Actor, record
from bbp_portal.service_errors import Conflict, NotFound, ValidationFailed

G = account_groups.c


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    accounts: int | None = None


def _name(value: str) -> str:
    try:
        return rules.group_name(value)
    except rules.FieldError as exc:
        raise ValidationFailed(exc.code, exc.message, "name") from None


def list_groups(conn: Connection, *, with_counts: bool = False) -> list[Group]:
    """Every group by name; with member counts when asked (one index-only aggregate)."""
    counts: dict[int, int] = {}
    if with_counts:
        counts = dict(
            conn.execute(  # type: ignore[arg-type]
                select(bill_account_groups.c.group_id, func.count()).group_by(
                    bill_account_groups.c.group_id
                )
            ).all()
        )
    rows = conn.execute(select(G.id, G.name).order_by(G.name))
    return [Group(r.id, r.name, counts.get(r.id, 0) if with_counts else None) for r in rows]


def groups_by_name(conn: Connection) -> dict[str, int]:
    """casefolded name → id (the collation compares names without case, so do we)."""
    return {name.casefold(): gid for gid, name in conn.execute(select(G.id, G.name))}


def get_group(conn: Connection, group_id: int) -> Group:
    row = conn.execute(select(G.id, G.name).where(G.id == group_id)).first()
    if row is None:
        raise NotFound(f"No group has the id {group_id}.", "group_not_found")
    return Group(row.id, row.name)


def create_group(conn: Connection, actor: Actor, name: str) -> Group:
    name = _name(name)
    try:
        with conn.begin_nested():
            group_id = conn.execute(insert(account_groups).values(name=name)).lastrowid
    except IntegrityError:
        raise Conflict("duplicate", f"A group named {name!r} exists.", "name") from None
    record(conn, actor, "group.create", target_type="group", target_id=group_id, name=name)
    return Group(int(group_id), name)


def rename_group(conn: Connection, actor: Actor, group_id: int, name: str) -> Group:
    current = get_group(conn, group_id)
    name = _name(name)
    try:
        with conn.begin_nested():
            conn.execute(update(account_groups).where(G.id == group_id).values(name=name))
    except IntegrityError:
        raise Conflict("duplicate", f"A group named {name!r} exists.", "name") from None
    record(
        conn,
        actor,
        "group.rename",
        target_type="group",
        target_id=group_id,
        old=current.name,
        new=name,
    )
    return Group(group_id, name)


def delete_group(conn: Connection, actor: Actor, group_id: int) -> None:
    """Delete a group; its accounts stay, they only leave the group."""
    current = get_group(conn, group_id)
    members = conn.execute(
        delete(bill_account_groups).where(bill_account_groups.c.group_id == group_id)
    ).rowcount
    conn.execute(delete(account_groups).where(G.id == group_id))
    record(
        conn,
        actor,
        "group.delete",
        target_type="group",
        target_id=group_id,
        name=current.name,
        members=members,
    )


def resolve_group_ids(conn: Connection, ids: Iterable[int], field: str = "groups") -> list[int]:
    """Check that every id names a group; the ids, deduplicated, in the order given."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        return []
    found = set(conn.execute(select(G.id).where(G.id.in_(wanted))).scalars())
    missing = [i for i in wanted if i not in found]
    if missing:
        unknown = NotFound(f"No group has the id {missing[0]}.", "unknown")
        unknown.field = field
        raise unknown
    return wanted
