"""Running a whole transaction again after a deadlock or a lock wait that timed out.

InnoDB picks a victim when two transactions wait for each other (error 1213) and gives up
a lock wait after ``innodb_lock_wait_timeout`` (1205); in both cases the victim's
transaction was rolled back entirely, so running it again from the start is safe. Every
writer of the state tables (the scheduler's unit of work, a person's action in the portal)
is one such transaction. tenacity does the retrying: capped attempts, a short random wait
that grows a little each time, the last error raised as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tenacity
from sqlalchemy.exc import OperationalError

from bbp_common.platform.logging import get_logger

log = get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: MySQL/MariaDB errors after which the whole transaction may simply run again.
RETRYABLE = frozenset({1213, 1205})  # deadlock found; lock wait timeout


def is_retryable(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError) or exc.orig is None or not exc.orig.args:
        return False
    return exc.orig.args[0] in RETRYABLE


def _log(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    code = getattr(getattr(error, "orig", None), "args", [None])[0]
    log.info("transaction_retried", mysql_error=code, attempt=state.attempt_number)


def retrying(attempts: int = 5) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for whole transactions (``for attempt in retrying(): …``)."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_retryable),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random(0.005, 0.05) + tenacity.wait_incrementing(0, 0.02),
        before_sleep=_log,
        reraise=True,
    )


def retry_transaction(fn: Callable[P, T], attempts: int = 5) -> Callable[P, T]:
    """Decorate a function that runs one whole transaction: a deadlock runs it again."""

    def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        return retrying(attempts)(fn, *args, **kwargs)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    wrapped.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapped
