"""The biller catalogue: read by everyone, changed by superadmins, seeded from the sandbox.

A biller is never deleted: accounts, bills and payments refer to its utility code. It is
deactivated instead, which keeps its accounts but refuses new ones (and the upload says so).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from bbp_common.platform.db.tables import billers
from bbp_portal.audit_trail import Actor, record
from bbp_portal.service_errors import Conflict, NotFound, ValidationFailed

_UTILITY = re.compile(r"^[A-Z0-9_]{2,16}$")
_WALLET = re.compile(r"^[0-9]{8,15}$")
#: The same rules for the JSON API's schemas (and so its OpenAPI document).
UTILITY_PATTERN = _UTILITY.pattern
WALLET_PATTERN = _WALLET.pattern


@dataclass(frozen=True)
class Biller:
    id: int
    utility_code: str
    name: str
    receiver_wallet: str
    product_id: int
    biller_code: str
    pays_service_charge: bool
    supports_fetch: bool
    active: bool


@dataclass(frozen=True)
class BillerInput:
    """What a superadmin enters; :func:`check` normalises it or names the bad field."""

    utility_code: str
    name: str
    receiver_wallet: str
    product_id: int
    biller_code: str
    pays_service_charge: bool = False
    supports_fetch: bool = True
    active: bool = True

    def check(self) -> BillerInput:
        code = self.utility_code.strip().upper()
        if not _UTILITY.match(code):
            raise ValidationFailed(
                "malformed", "Utility code: 2–16 capital letters, digits or _.", "utility_code"
            )
        name = " ".join(self.name.split())
        if not name or len(name) > 120:
            raise ValidationFailed("malformed", "Name: 1–120 characters.", "name")
        wallet = re.sub(r"[\s\-]", "", self.receiver_wallet).removeprefix("+")
        if not _WALLET.match(wallet):
            raise ValidationFailed(
                "malformed", "Receiver wallet: 8–15 digits (an MSISDN).", "receiver_wallet"
            )
        if not 0 < int(self.product_id) < 2**31:
            raise ValidationFailed("malformed", "productId: a positive number.", "product_id")
        biller_code = self.biller_code.strip()
        if not biller_code or len(biller_code) > 32:
            raise ValidationFailed("malformed", "billerCode: 1–32 characters.", "biller_code")
        return BillerInput(
            code,
            name,
            wallet,
            int(self.product_id),
            biller_code,
            bool(self.pays_service_charge),
            bool(self.supports_fetch),
            bool(self.active),
        )


def _biller(row: Any) -> Biller:
    return Biller(
        row.id,
        row.utility_code,
        row.name,
        row.receiver_wallet,
        row.product_id,
        row.biller_code,
        bool(row.pays_service_charge),
        bool(row.supports_fetch),
        bool(row.active),
    )


def list_billers(conn: Connection, *, active_only: bool = False) -> list[Biller]:
    query = select(billers).order_by(billers.c.utility_code)
    if active_only:
        query = query.where(billers.c.active.is_(True))
    return [_biller(r) for r in conn.execute(query)]


def get_biller(conn: Connection, utility_code: str) -> Biller:
    row = conn.execute(
        select(billers).where(billers.c.utility_code == utility_code.strip().upper())
    ).first()
    if row is None:
        raise NotFound(f"No biller has the utility code {utility_code!r}.", "biller_not_found")
    return _biller(row)


def create_biller(conn: Connection, actor: Actor, data: BillerInput) -> Biller:
    data = data.check()
    try:
        with conn.begin_nested():
            conn.execute(insert(billers).values(**asdict(data)))
    except IntegrityError:
        raise Conflict(
            "duplicate",
            f"A biller with utility code {data.utility_code} exists.",
            "utility_code",
        ) from None
    record(
        conn,
        actor,
        "biller.create",
        target_type="biller",
        target_id=data.utility_code,
        **asdict(data),
    )
    return get_biller(conn, data.utility_code)


def update_biller(conn: Connection, actor: Actor, utility_code: str, data: BillerInput) -> Biller:
    """Change a biller; its utility code stays (accounts and payments refer to it)."""
    current = get_biller(conn, utility_code)
    data = data.check()
    if data.utility_code != current.utility_code:
        raise ValidationFailed(
            "immutable", "The utility code of a biller cannot change.", "utility_code"
        )
    values = asdict(data)
    changes = {k: v for k, v in values.items() if getattr(current, k) != v}
    if changes:
        conn.execute(update(billers).where(billers.c.id == current.id).values(**changes))
        record(
            conn,
            actor,
            "biller.update",
            target_type="biller",
            target_id=current.utility_code,
            changes=changes,
        )
    return get_biller(conn, utility_code)


def set_biller_active(conn: Connection, actor: Actor, utility_code: str, active: bool) -> Biller:
    current = get_biller(conn, utility_code)
    if current.active != active:
        conn.execute(update(billers).where(billers.c.id == current.id).values(active=active))
        record(
            conn,
            actor,
            "biller.activate" if active else "biller.deactivate",
            target_type="biller",
            target_id=current.utility_code,
        )
    return get_biller(conn, utility_code)


def active_billers(conn: Connection) -> dict[str, bool]:
    """utility code → active, for validating accounts."""
    return {
        r.utility_code: bool(r.active)
        for r in conn.execute(select(billers.c.utility_code, billers.c.active))
    }


# --------------------------------------------------------------------------- seeding

#: Our field → the sandbox catalogue's spellings (``GET /__sandbox__/billers``), first wins.
_KEYS = {
    "utility_code": ("utility_code", "utility", "code"),
    "name": ("name", "biller_name", "billerName"),
    "receiver_wallet": ("receiver_wallet", "receiver_msisdn", "receiverWallet", "receiver"),
    "product_id": ("product_id", "productId"),
    "biller_code": ("biller_code", "billerCode"),
    "pays_service_charge": ("pays_service_charge", "add_service_charge", "paysServiceCharge"),
    "supports_fetch": ("supports_fetch", "fetchable", "supportsFetch"),
}


def biller_from_catalogue(entry: Mapping[str, Any]) -> BillerInput:
    """One entry of the sandbox's ``GET /__sandbox__/billers`` (either spelling of keys)."""

    def pick(field: str, default: Any = None) -> Any:
        for key in _KEYS[field]:
            if key in entry and entry[key] is not None:
                value = entry[key]
                if isinstance(value, Mapping):  # e.g. {"receiver": {"idValue": …}}
                    value = value.get("idValue") or value.get("msisdn")
                return value
        if default is None:
            raise ValueError(f"catalogue entry lacks {field!r}: {dict(entry)}")
        return default

    code = str(pick("utility_code"))
    return BillerInput(
        utility_code=code,
        name=str(pick("name", code)),
        receiver_wallet=str(pick("receiver_wallet")),
        product_id=int(pick("product_id")),
        biller_code=str(pick("biller_code", code)),
        pays_service_charge=bool(pick("pays_service_charge", False)),
        supports_fetch=bool(pick("supports_fetch", True)),
    )


def seed_billers(conn: Connection, actor: Actor, entries: Iterable[BillerInput]) -> list[str]:
    """Add the billers not yet in the catalogue; never overwrite a superadmin's edits.

    Idempotent: running it again adds nothing. Returns the utility codes added.
    """
    existing = set(active_billers(conn))
    added = []
    for entry in entries:
        data = entry.check()
        if data.utility_code in existing:
            continue
        create_biller(conn, actor, data)
        existing.add(data.utility_code)
        added.append(data.utility_code)
    return added


def fetch_catalogue(base_url: str, *, wait_seconds: float = 0) -> list[BillerInput]:
    """Read the sandbox's biller catalogue, retrying up to ``wait_seconds`` while it starts."""
    url = base_url.rstrip("/") + "/__sandbox__/billers"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (checked above)
                body = json.load(answer)
            break
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)
    entries = body.get("billers", body) if isinstance(body, dict) else body
    return [biller_from_catalogue(e) for e in entries]
