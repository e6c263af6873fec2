"""The inbox against the real database: once per (consumer, message id), transactionally."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import Engine

from bbp_common.platform.inbox import first_time


def test_first_time_once_per_consumer_and_message(engine: Engine) -> None:
    message_id = str(uuid.uuid4())
    with engine.begin() as conn:
        assert first_time(conn, "scheduler.results", message_id) is True
    with engine.begin() as conn:
        assert first_time(conn, "scheduler.results", message_id) is False
        assert first_time(conn, "communicator.pay", message_id) is True  # another consumer


def test_a_rolled_back_transaction_leaves_no_trace(engine: Engine) -> None:
    message_id = str(uuid.uuid4())
    with engine.connect() as conn, conn.begin() as tx:
        assert first_time(conn, "c", message_id) is True
        tx.rollback()  # the effect failed: the message must be applied again
    with engine.begin() as conn:
        assert first_time(conn, "c", message_id) is True


def test_a_concurrent_copy_waits_for_the_first_and_then_skips(engine: Engine) -> None:
    message_id = str(uuid.uuid4())
    answers: list[bool] = []
    with engine.connect() as first:
        tx = first.begin()
        assert first_time(first, "c", message_id) is True

        def second() -> None:
            with engine.begin() as conn:
                answers.append(first_time(conn, "c", message_id))

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert answers == [], "the second copy did not wait for the first transaction"
        tx.commit()
        thread.join(10)
    assert answers == [False]


@pytest.mark.parametrize(("consumer", "message_id"), [("", "m"), ("c" * 65, "m"), ("c", "m" * 37)])
def test_lengths_are_checked_before_insert_ignore_could_truncate(
    engine: Engine, consumer: str, message_id: str
) -> None:
    with engine.begin() as conn, pytest.raises(ValueError):
        first_time(conn, consumer, message_id)
