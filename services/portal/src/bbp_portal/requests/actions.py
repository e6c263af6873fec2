"""What the request pages and the API both do: start a fetch from a selection, cancel.

The request services (``requests.service`` for fetch requests, each kind's own for
cancelling, reached through ``bulk.kinds``) own the transaction that writes a request, its
items, tallies and outbox row; this module adds what belongs to the portal around it — resolving
the selection the admin made into account ids, the after-commit relay of this worker
process, the audit entry and the metrics — so a page and an API call do exactly the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from bbp_common.platform.db.tables import account_groups
from bbp_common.platform.logging import get_logger
from bbp_portal.accounts.selection import AccountFilter, AccountSelection, selection_query
from bbp_portal.audit_trail import Actor, record
from bbp_portal.bulk.kinds import kind_of
from bbp_portal.bulk.metrics import ITEMS_CREATED, REQUESTS_CANCELLED, REQUESTS_CREATED
from bbp_portal.bulk.publishing import relay
from bbp_portal.bulk.service import RequestError
from bbp_portal.requests import service
from bbp_portal.service_errors import Conflict, NotFound, ValidationFailed
from bbp_portal.view_context import engine

log = get_logger(__name__)

#: Ticked accounts travel in the request; "all matching" has no such limit.
MAX_TICKED = 10_000


def count_selected(conn: Connection, selection: AccountSelection) -> int:
    """How many active accounts the selection holds: exactly what a fetch would create."""
    inner = selection_query(selection).order_by(None).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def describe(conn: Connection, selection: AccountSelection) -> str:
    """The selection in words for the request list and the audit log, a group by its name."""
    text = selection.describe()
    group_id = selection.filter.group_id if selection.filter and not selection.ids else None
    if group_id is not None:
        name = conn.execute(
            select(account_groups.c.name).where(account_groups.c.id == group_id)
        ).scalar()
        if name is not None:
            text = text.replace(f"group_id={group_id}", f"group={name}")
    return text[:500]


def selection_of(
    ids: list[int] | tuple[int, ...] = (),
    group_id: int | None = None,
    account_filter: AccountFilter | None = None,
) -> AccountSelection:
    """Exactly one of: ticked ids, a group, or a filter ("all matching")."""
    given = sum((bool(ids), group_id is not None, account_filter is not None))
    if given != 1:
        raise ValidationFailed(
            "invalid_selection",
            "Choose accounts by ticking them, by a group or by a filter.",
            "ids",
        )
    if ids:
        if len(ids) > MAX_TICKED:
            raise ValidationFailed(
                "too_many_ids",
                f"At most {MAX_TICKED:,} ticked accounts; use a group or a filter for more.",
                "ids",
            )
        return AccountSelection(ids=tuple(sorted(set(ids))))
    if group_id is not None:
        return AccountSelection(filter=AccountFilter(group_id=group_id))
    return AccountSelection(filter=account_filter)


def start_fetch(actor: Actor, selection: AccountSelection, *, via: str) -> service.Created:
    """Create a fetch request for the selection's active accounts; relayed after commit.

    Raises :class:`Conflict` (``nothing_selected``, 409: the selection is valid, the stored
    accounts are not there) when the selection holds no active account.
    """
    with engine().connect() as conn:
        if selection.filter is not None and selection.filter.group_id is not None:
            found = conn.execute(
                select(account_groups.c.id).where(account_groups.c.id == selection.filter.group_id)
            ).scalar()
            if found is None:
                raise NotFound(f"There is no group {selection.filter.group_id}.", "unknown_group")
        ids = list(conn.execute(selection_query(selection)).scalars())
        text = describe(conn, selection)
    try:
        created = service.create_fetch_request(
            engine(), actor.login_id, ids, selection=text, relay=relay()
        )
    except service.NothingSelected as exc:
        raise Conflict("nothing_selected", str(exc), "ids") from None
    with engine().begin() as conn:
        record(
            conn,
            actor,
            "request.fetch_created",
            target_type="request",
            target_id=created.request_id,
            items=created.items,
            selection=text,
            via=via,
        )
    REQUESTS_CREATED.labels("fetch", via).inc()
    ITEMS_CREATED.labels("fetch").inc(created.items)
    return created


@dataclass(frozen=True)
class Cancelled:
    request_id: int
    cancelled_items: int


def cancel(actor: Actor, request_id: int, kind: str) -> Cancelled:
    """Cancel a request (queued, running, paused, awaiting approval): undispatched items stop,
    dispatched ones finish. The audit entry commits with the cancellation."""

    def audit(conn: Connection, cancelled: int) -> None:
        record(
            conn,
            actor,
            "request.cancelled",
            target_type="request",
            target_id=request_id,
            cancelled_items=cancelled,
        )

    try:
        count = kind_of(kind).cancel(
            engine(), request_id, actor.login_id, relay=relay(), in_transaction=audit
        )
    except RequestError as exc:
        if str(exc) == "No such request.":
            raise NotFound(f"There is no request {request_id}.") from None
        raise Conflict("not_cancellable", str(exc)) from None
    REQUESTS_CANCELLED.labels(kind).inc()
    log.info("request_cancelled_from_portal", request_id=request_id, by=actor.login_id)
    return Cancelled(request_id, count)


__all__ = [
    "MAX_TICKED",
    "Cancelled",
    "cancel",
    "count_selected",
    "describe",
    "selection_of",
    "start_fetch",
]
