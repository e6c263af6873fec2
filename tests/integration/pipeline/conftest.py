"""Fixtures of the pipeline tests: a database, a vhost and a sandbox of their own per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sandbox.testing import RunningSandbox, run_sandbox
from tests.conftest import Servers
from tests.support.pipeline import Pipeline, create_database, drop_database, new_vhost


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox() as sb:
        yield sb


@pytest.fixture()
def pipeline(servers: Servers, sandbox: RunningSandbox) -> Iterator[Pipeline]:
    if not servers.rabbitmqctl:
        pytest.skip("pipeline tests need rabbitmqctl to make a vhost of their own")
    sandbox.reset()
    sandbox.configure(slow_seconds=4)
    name = f"bbp_pipe_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
        pipe = Pipeline(url, amqp_url, sandbox)
        pipe.seed_billers()
        try:
            yield pipe
        finally:
            pipe.stop_all()
            pipe.engine.dispose()
    drop_database(servers.db_url(), name)
