"""Adding, changing, deactivating and deleting single bill accounts.

Every rule of a field lives in :mod:`bbp_portal.accounts.rules` (shared with the upload);
this module adds what needs the database: the biller must exist and be active, the
(utility, consumer id) pair is unique, and an account that payments or fetches refer to is
deactivated instead of deleted, so the money trail keeps its account.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from bbp_common.platform.db.tables import (
    account_groups,
    bill_account_groups,
    bill_accounts,
    billers,
    bills,
    fetch_items,
    payments,
)
from bbp_portal.accounts import rules
from bbp_portal.accounts.groups import resolve_group_ids
from bbp_portal.accounts.listing import AccountRow
from bbp_portal.audit_trail import Actor, record
from bbp_portal.service_errors import Conflict, NotFound, ValidationFailed

A = bill_accounts.c


@dataclass(frozen=True)
class AccountInput:
    """What an admin enters for one account (raw; :meth:`check` normalises it)."""

    utility_code: str
    consumer_id: str
    mobile: str
    label: str = ""
    group_ids: Sequence[int] = field(default_factory=tuple)

    def check(self) -> AccountInput:
        values: dict[str, Any] = {}
        for name, rule in (
            ("utility_code", rules.utility_code),
            ("consumer_id", rules.consumer_id),
            ("mobile", rules.mobile),
            ("label", rules.label),
        ):
            try:
                values[name] = rule(getattr(self, name))
            except rules.FieldError as exc:
                raise ValidationFailed(exc.code, exc.message, name) from None
        return AccountInput(**values, group_ids=tuple(self.group_ids))


@dataclass(frozen=True)
class Account(AccountRow):
    """One account as a list shows it, and who added it and when (one account's answer)."""

    created_by: str | None = None
    created_at: Any = None
    updated_at: Any = None


def get_account(conn: Connection, account_id: int) -> Account:
    row = conn.execute(select(bill_accounts).where(A.id == account_id)).first()
    if row is None:
        raise NotFound(f"No bill account has the id {account_id}.", "account_not_found")
    groups = conn.execute(
        select(account_groups.c.id, account_groups.c.name)
        .join(bill_account_groups, bill_account_groups.c.group_id == account_groups.c.id)
        .where(bill_account_groups.c.bill_account_id == account_id)
        .order_by(account_groups.c.name)
    ).all()
    return Account(
        row.id,
        row.utility_code,
        row.consumer_id,
        row.mobile,
        row.label,
        bool(row.active),
        tuple((g.id, g.name) for g in groups),
        row.created_by,
        row.created_at,
        row.updated_at,
    )


def _require_active_biller(conn: Connection, utility_code: str) -> None:
    active = conn.execute(
        select(billers.c.active).where(billers.c.utility_code == utility_code)
    ).scalar()
    # A well-formed code that names nothing is 404 and a deactivated biller 409 (the state,
    # not the value, is at fault): the API's document can then promise 422 for bad values.
    if active is None:
        missing = NotFound(f"No biller has the utility code {utility_code!r}.", "unknown")
        missing.field = "utility_code"
        raise missing
    if not active:
        raise Conflict("inactive", f"The biller {utility_code!r} is deactivated.", "utility_code")


def _set_groups(conn: Connection, account_id: int, group_ids: Sequence[int]) -> None:
    conn.execute(
        delete(bill_account_groups).where(bill_account_groups.c.bill_account_id == account_id)
    )
    if group_ids:
        conn.execute(
            insert(bill_account_groups),
            [{"bill_account_id": account_id, "group_id": g} for g in group_ids],
        )


def create_account(conn: Connection, actor: Actor, data: AccountInput) -> Account:
    data = data.check()
    _require_active_biller(conn, data.utility_code)
    group_ids = resolve_group_ids(conn, data.group_ids)
    return _save(
        conn,
        actor,
        "account.create",
        data,
        group_ids,
        lambda columns: (
            conn.execute(
                insert(bill_accounts).values(**columns, created_by=actor.login_id)
            ).lastrowid
        ),
    )


def update_account(conn: Connection, actor: Actor, account_id: int, data: AccountInput) -> Account:
    """Change an account. Its utility and consumer id may change only while nothing refers
    to it (a fetched bill or a payment names them)."""
    current = get_account(conn, account_id)
    data = data.check()
    identity_changed = (data.utility_code, data.consumer_id.casefold()) != (
        current.utility_code,
        current.consumer_id.casefold(),
    )
    if data.utility_code != current.utility_code:
        _require_active_biller(conn, data.utility_code)
    if identity_changed and in_use(conn, account_id):
        raise Conflict(
            "in_use",
            "This account has fetches or payments: its utility and consumer id cannot change. "
            "Deactivate it and add a new one.",
            "consumer_id",
        )
    group_ids = resolve_group_ids(conn, data.group_ids)

    def write(columns: dict[str, str]) -> int:
        conn.execute(update(bill_accounts).where(A.id == account_id).values(**columns))
        return account_id

    return _save(conn, actor, "account.update", data, group_ids, write)


def _save(
    conn: Connection,
    actor: Actor,
    action: str,
    data: AccountInput,
    group_ids: Sequence[int],
    write: Callable[[dict[str, str]], int],
) -> Account:
    """Write a checked account's columns (``write`` inserts or updates, answering its id),
    its groups and the audit entry; the (utility, consumer id) pair taken is a 409."""
    columns = {
        "utility_code": data.utility_code,
        "consumer_id": data.consumer_id,
        "mobile": data.mobile,
        "label": data.label,
    }
    try:
        with conn.begin_nested():
            account_id = write(columns)
    except IntegrityError:
        raise Conflict(
            "duplicate",
            f"{data.utility_code} {data.consumer_id} is already a bill account.",
            "consumer_id",
        ) from None
    _set_groups(conn, account_id, group_ids)
    record(
        conn,
        actor,
        action,
        target_type="bill_account",
        target_id=account_id,
        utility=data.utility_code,
        consumer_id=data.consumer_id,
        groups=group_ids,
    )
    return get_account(conn, account_id)


def set_account_active(conn: Connection, actor: Actor, account_id: int, active: bool) -> Account:
    current = get_account(conn, account_id)
    if active and not current.active:
        _require_active_biller(conn, current.utility_code)
    if current.active != active:
        conn.execute(update(bill_accounts).where(A.id == account_id).values(active=active))
        record(
            conn,
            actor,
            "account.activate" if active else "account.deactivate",
            target_type="bill_account",
            target_id=account_id,
        )
    return get_account(conn, account_id)


def in_use(conn: Connection, account_id: int) -> bool:
    """Do fetches, bills or payments refer to the account (then it is never deleted)?"""
    for table in (payments, fetch_items, bills):
        if conn.execute(select(exists().where(table.c.bill_account_id == account_id))).scalar():
            return True
    return False


def delete_account(
    conn: Connection, actor: Actor, account_id: int
) -> Literal["deleted", "deactivated"]:
    """Delete an account nothing refers to; deactivate one that has fetches or payments."""
    current = get_account(conn, account_id)
    # Lock the row so a fetch cannot start referring to it between the check and the delete.
    conn.execute(select(A.id).where(A.id == account_id).with_for_update())
    if in_use(conn, account_id):
        if current.active:
            conn.execute(update(bill_accounts).where(A.id == account_id).values(active=False))
        record(
            conn,
            actor,
            "account.deactivate",
            target_type="bill_account",
            target_id=account_id,
            reason="delete requested; account has fetches/payments",
        )
        return "deactivated"
    conn.execute(delete(bill_accounts).where(A.id == account_id))
    record(
        conn,
        actor,
        "account.delete",
        target_type="bill_account",
        target_id=account_id,
        utility=current.utility_code,
        consumer_id=current.consumer_id,
    )
    return "deleted"
