"""Bulk resolutions as they were recorded (``bulk_resolutions`` and its payments): reading
them, and the small rules the confirming and approving share (who may, the comment, the note
each payment keeps). The writes are ``resolutions``'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from bbp_common.platform.db.tables import bulk_resolution_payments, bulk_resolutions, payments
from bbp_portal.audit_trail import Actor
from bbp_portal.payments.uncleared import COMMENT_MAX, MAX_PAYMENTS, RESOLVED
from bbp_portal.service_errors import Forbidden, NotFound, ValidationFailed, one_line

# --------------------------------------------------------------------------- shared rules


@dataclass(frozen=True)
class Done:
    """What a confirmation or an approval did."""

    resolution_id: int
    state: str
    resolved: list[str] = field(default_factory=list)
    #: (reference id, refusal code) of each chosen payment not resolved.
    refused: list[tuple[str, str]] = field(default_factory=list)
    existing: bool = False


def superadmin(actor: Actor, what: str) -> None:
    if actor.role != "superadmin":
        raise Forbidden("superadmin_only", f"Only a superadmin may {what}.")


def comment_of(text: str | None, *, limit: int = COMMENT_MAX) -> str:
    return one_line(
        text,
        "comment",
        limit,
        ("comment_required", "A comment is required."),
        ("comment_too_long", f"The comment is at most {limit} characters."),
    )


def note_of(comment: str, resolution_id: int, reconciliation_id: int | None) -> str:
    """The comment each payment keeps: the person's, and where it came from."""
    source = f"bulk resolution #{resolution_id}"
    if reconciliation_id is not None:
        source += f", from reconciliation {reconciliation_id}"
    return f"{comment} ({source})"


def chosen_ids(ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(ids))
    if not wanted:
        raise ValidationFailed("nothing_chosen", "Choose at least one payment.", "ids")
    if len(wanted) > MAX_PAYMENTS:
        raise ValidationFailed(
            "too_many_payments", f"At most {MAX_PAYMENTS:,} payments at once.", "ids"
        )
    return wanted


def existing(conn: Connection, key: str) -> Done | None:
    row = conn.execute(
        select(bulk_resolutions.c.id, bulk_resolutions.c.state).where(
            bulk_resolutions.c.idempotency_key == key
        )
    ).first()
    if row is None:
        return None
    items = conn.execute(
        select(bulk_resolution_payments.c.reference_id, bulk_resolution_payments.c.result).where(
            bulk_resolution_payments.c.resolution_id == row.id
        )
    ).all()
    return Done(
        row.id,
        row.state,
        [i.reference_id for i in items if i.result == RESOLVED],
        [(i.reference_id, i.result) for i in items if i.result not in (None, RESOLVED)],
        existing=True,
    )


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ResolutionRow:
    id: int
    outcome: str
    comment: str
    reconciliation_id: int | None
    payment_count: int
    total: Decimal
    state: str
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    resolved_count: int | None


@dataclass(frozen=True)
class ResolutionItem:
    payment_id: int
    reference_id: str
    total: Decimal
    result: str | None
    state: str


_COLUMNS = [getattr(bulk_resolutions.c, name) for name in ResolutionRow.__dataclass_fields__]


def list_resolutions(
    conn: Connection, state: str | None = None, *, limit: int = 100
) -> list[ResolutionRow]:
    """Bulk resolutions, newest first (``state``: only those, e.g. ``awaiting_approval``)."""
    query = select(*_COLUMNS).order_by(bulk_resolutions.c.id.desc()).limit(limit)
    if state:
        query = query.where(bulk_resolutions.c.state == state)
    return [ResolutionRow(*row) for row in conn.execute(query)]


def get_resolution(
    conn: Connection, resolution_id: int
) -> tuple[ResolutionRow, list[ResolutionItem]]:
    row = conn.execute(select(*_COLUMNS).where(bulk_resolutions.c.id == resolution_id)).first()
    if row is None:
        raise NotFound(f"There is no bulk resolution {resolution_id}.")
    items = conn.execute(
        select(
            bulk_resolution_payments.c.payment_id,
            bulk_resolution_payments.c.reference_id,
            bulk_resolution_payments.c.total,
            bulk_resolution_payments.c.result,
            payments.c.state,
        )
        .join(payments, payments.c.id == bulk_resolution_payments.c.payment_id)
        .where(bulk_resolution_payments.c.resolution_id == resolution_id)
        .order_by(bulk_resolution_payments.c.payment_id)
    ).all()
    return ResolutionRow(*row), [ResolutionItem(*item) for item in items]


def count_waiting(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).where(bulk_resolutions.c.state == "awaiting_approval")
        ).scalar_one()
    )


__all__ = [
    "Done",
    "ResolutionItem",
    "ResolutionRow",
    "chosen_ids",
    "comment_of",
    "count_waiting",
    "existing",
    "get_resolution",
    "list_resolutions",
    "note_of",
    "superadmin",
]
