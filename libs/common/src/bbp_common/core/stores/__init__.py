"""The stores: the only code that writes the state tables.

One store per state table — ``payments`` (:mod:`.payments`), ``bulk_requests``
(:mod:`.requests`), ``fetch_items`` (:mod:`.fetch_items`), the paying wallet's breaker
(:mod:`.breaker`), the makers' days of the daily approval limit (:mod:`.maker_days`) and
the double-payment alarms (:mod:`.alarms`).
Each works inside the caller's transaction (the unit of work is the caller's ``with
engine.begin()`` or the scheduler's ``LeaderDb.write``), checks every move
against its transition table, writes its audit events and the request tallies in that same
transaction, and returns what moved. A test (``tests/unit/common/test_one_door.py``) fails
when any other module writes these tables.

Why batch-first: the dispatcher, the result applier and the sweeper move hundreds of rows a
second. Every operation takes many rows and costs a fixed handful of statements — one
locking read, one UPDATE, one multi-row INSERT of events, one tally upsert — whatever the
number of rows. MariaDB and MySQL have no ``UPDATE … RETURNING``, so "what moved" comes
from the locking read (rows locked by it cannot change under us) and the update by id.
Statements are plain SQL text built from a few fixed fragments and run with
``exec_driver_sql``: no SQLAlchemy construct is compiled per call on the hot path.
"""

from bbp_common.core.stores.alarms import AlarmStore
from bbp_common.core.stores.breaker import WalletBreaker
from bbp_common.core.stores.fetch_items import FetchItemStore
from bbp_common.core.stores.maker_days import MakerDay, MakerDays
from bbp_common.core.stores.payments import PaymentRow, PaymentStore
from bbp_common.core.stores.requests import RequestStore

__all__ = [
    "AlarmStore",
    "FetchItemStore",
    "MakerDay",
    "MakerDays",
    "PaymentRow",
    "PaymentStore",
    "RequestStore",
    "WalletBreaker",
]
