"""Fixtures of the messaging and outbox integration tests (real RabbitMQ vhost, real DB)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from bbp_common.platform.messaging import Publisher


@pytest.fixture()
def publisher(amqp_url: str) -> Iterator[Publisher]:
    pub = Publisher(amqp_url, confirm_timeout=5, reconnect_initial=0.1, reconnect_cap=1).start()
    assert pub.wait_ready(10), "the publisher did not connect"
    yield pub
    pub.close()


@pytest.fixture()
def clean_outbox(engine: Engine) -> Engine:
    """An empty outbox: relays claim every pending row, so earlier tests' rows must go."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))
    return engine
