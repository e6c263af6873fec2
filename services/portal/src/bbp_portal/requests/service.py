"""Writing fetch requests: creating one, cancelling its queued items.

The portal never calls Mobiquity's bill endpoints. It writes a request, one fetch item per
active account and their tallies in one transaction together with an outbox row, and
relays that row right after the commit; the scheduler takes it from there. Payment requests
are written by ``payments.service``; what both kinds share is in ``bulk.service``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from bbp_common.core.stores import FetchItemStore
from bbp_common.platform.logging import get_correlation_id, get_logger
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
        request_id, count = bulk.add_fetch_request(
            conn, created_by, ids, selection=selection, correlation_id=get_correlation_id()
        )
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

    Works in every state where something may still be sent (``CANCELLABLE``).
    ``in_transaction`` runs before the commit (the caller's audit entry).
    """

    def cancel_items(conn: Connection) -> int:
        return FetchItemStore(conn).cancel_queued(request_id)

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
