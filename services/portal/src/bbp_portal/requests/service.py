"""Writing fetch requests: creating one, cancelling its queued items.

The portal never calls Mobiquity's bill endpoints. It writes a request, one fetch item per
active account and their tallies in one transaction together with an outbox row, and
relays that row right after the commit; the scheduler takes it from there. Payment requests
are written by ``payments.service``; what both kinds share is in ``bulk.service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, insert, literal, select, update

from bbp_common.db.tables import bill_accounts, bulk_requests, fetch_items
from bbp_common.logging import get_correlation_id, get_logger
from bbp_common.payment_store import bump_tallies
from bbp_portal.bulk import service as bulk
from bbp_portal.bulk.service import Created, NothingSelected, RequestError

log = get_logger(__name__)


def create_fetch_request(
    engine: Engine,
    created_by: str,
    account_ids: Sequence[int],
    *,
    selection: str = "",
    relay: bulk.Relay | None = None,
) -> Created:
    """One fetch request with one item per active account, in one transaction."""
    ids = sorted(set(account_ids))
    if not ids:
        raise NothingSelected("Select at least one bill account.")
    with engine.begin() as conn:
        request_id = conn.execute(
            insert(bulk_requests).values(
                kind="fetch",
                state="queued",
                created_by=created_by,
                selection=selection[:500],
                correlation_id=get_correlation_id(),
            )
        ).inserted_primary_key[0]
        count = 0
        for chunk in bulk.chunks(ids):
            source = select(
                literal(request_id),
                bill_accounts.c.id,
                bill_accounts.c.utility_code,
                bill_accounts.c.consumer_id,
                bill_accounts.c.mobile,
            ).where(bill_accounts.c.id.in_(chunk), bill_accounts.c.active.is_(True))
            count += conn.execute(
                insert(fetch_items).from_select(
                    ["request_id", "bill_account_id", "utility_code", "consumer_id", "mobile"],
                    source,
                )
            ).rowcount
        if count == 0:
            raise NothingSelected("None of the selected bill accounts is active.")
        conn.execute(
            update(bulk_requests).where(bulk_requests.c.id == request_id).values(total_items=count)
        )
        bump_tallies(conn, request_id, {"queued": (count, Decimal("0"))})
        message_id = bulk.submit(conn, request_id, "fetch")
    bulk.relay_now(relay, [message_id])
    log.info("fetch_request_created", request_id=request_id, items=count, created_by=created_by)
    return Created(request_id, count)


def cancel_fetch_request(
    engine: Engine,
    request_id: int,
    by: str,
    *,
    relay: bulk.Relay | None = None,
    in_transaction: bulk.InTransaction | None = None,
) -> int:
    """Cancel a fetch request: its queued items are cancelled; what is in flight finishes.
    Returns items cancelled.

    Works in every state where something may still be sent: queued, running and paused.
    ``in_transaction`` runs before the commit (the caller's audit entry).
    """

    def cancel_items(conn: Connection) -> int:
        cancelled = conn.execute(
            update(fetch_items)
            .where(fetch_items.c.request_id == request_id, fetch_items.c.state == "queued")
            .values(state="cancelled", completed_at=func.utc_timestamp(6))
        ).rowcount
        if cancelled:
            bump_tallies(
                conn,
                request_id,
                {"queued": (-cancelled, Decimal("0")), "cancelled": (cancelled, Decimal("0"))},
            )
        return int(cancelled)

    return bulk.cancel(
        engine, request_id, by, "fetch", cancel_items, relay=relay, in_transaction=in_transaction
    )


__all__ = [
    "Created",
    "NothingSelected",
    "RequestError",
    "cancel_fetch_request",
    "create_fetch_request",
]
