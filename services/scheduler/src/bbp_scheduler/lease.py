"""Leadership by a lease in MySQL, with a fencing token.

Two scheduler replicas run; the one holding the ``scheduler`` lease is active. The lease
is a row (holder, fencing token, expiry) rather than a lock tied to one connection: a
pooled reconnect would silently drop ``GET_LOCK``, and a dead node would hold it until
``wait_timeout``. Expiry is judged by the database's clock.

Every transaction of the leader checks the lease at its start and again just before its
COMMIT (``LeaderDb.write``), with plain reads: a leader paused anywhere in a transaction
finds, on waking, that a new leader took over, and rolls back. The reads take no lock on
purpose — a shared lock held by a frozen leader would stop the standby's takeover until
the frozen process woke up. What remains is the instant between the last check and the
COMMIT itself.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from bbp_common.platform.logging import get_logger

log = get_logger(__name__)


class LostLease(Exception):
    """This replica no longer holds the lease: it must not write."""


_ACQUIRE = text(
    """
    UPDATE leases
       SET holder = :holder,
           fencing_token = fencing_token + 1,
           acquired_at = UTC_TIMESTAMP(6),
           renewed_at = UTC_TIMESTAMP(6),
           expires_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL :ttl_us MICROSECOND)
     WHERE name = :name
       AND (holder IS NULL OR expires_at IS NULL OR expires_at <= UTC_TIMESTAMP(6))
    """
)
_RENEW = text(
    """
    UPDATE leases
       SET renewed_at = UTC_TIMESTAMP(6),
           expires_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL :ttl_us MICROSECOND)
     WHERE name = :name AND holder = :holder AND fencing_token = :token
       AND expires_at > UTC_TIMESTAMP(6)
    """
)
_RELEASE = text(
    """
    UPDATE leases SET holder = NULL, expires_at = NULL
     WHERE name = :name AND holder = :holder AND fencing_token = :token
    """
)
_CHECK = text(
    """
    SELECT fencing_token FROM leases
     WHERE name = :name AND holder = :holder AND fencing_token = :token
       AND expires_at > UTC_TIMESTAMP(6)
    """
)


class Lease:
    """One replica's view of a named lease."""

    def __init__(self, engine: Engine, holder: str, ttl: float, name: str = "scheduler") -> None:
        self.engine = engine
        self.holder = holder
        self.name = name
        self.ttl_us = int(ttl * 1_000_000)
        self.token: int | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    def _params(self) -> dict[str, object]:
        """What the statements bind: the lease's name, holder, token and lifetime."""
        return {name: getattr(self, name) for name in ("name", "holder", "token", "ttl_us")}

    def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; the fencing token goes up by one."""
        with self.engine.begin() as conn:
            if conn.execute(_ACQUIRE, self._params()).rowcount != 1:
                return False
            self.token = conn.execute(
                text("SELECT fencing_token FROM leases WHERE name = :name"), {"name": self.name}
            ).scalar_one()
        log.info("lease_acquired", lease=self.name, holder=self.holder, fencing_token=self.token)
        return True

    def renew(self) -> bool:
        """Extend the lease; False (and no longer held) if it expired or was taken."""
        if self.token is None:
            return False
        with self.engine.begin() as conn:
            renewed = conn.execute(_RENEW, self._params()).rowcount == 1
        if not renewed:
            log.warning("lease_lost", lease=self.name, holder=self.holder, fencing_token=self.token)
            self.token = None
        return renewed

    def release(self) -> None:
        """Give the lease up at a clean stop, so the standby takes over at once."""
        if self.token is None:
            return
        with self.engine.begin() as conn:
            conn.execute(_RELEASE, self._params())
        log.info("lease_released", lease=self.name, holder=self.holder)
        self.token = None

    def check(self, conn: Connection) -> int:
        """In the caller's transaction: still ours? Returns the fencing token or raises."""
        token = self.token
        if token is None:
            raise LostLease(self.name)
        if conn.execute(_CHECK, self._params()).first() is None:
            raise LostLease(self.name)
        return token
