"""Contract tests: the client against the running sandbox (``python -m sandbox``).

The sandbox is started once per session on a free port by its own helper
(``sandbox.testing.run_sandbox``) and reset before every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from mq_helpers import READ_TIMEOUT, SLOW_SECONDS, client_maker

from mobiquity_client import MobiquityClient, PayerWallet, RetryPolicy, Timeouts
from sandbox.testing import RunningSandbox, run_sandbox


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[RunningSandbox]:
    with run_sandbox() as running:
        yield running


@pytest.fixture
def sb(sandbox_session: RunningSandbox) -> RunningSandbox:
    sandbox_session.reset()
    sandbox_session.configure(slow_seconds=SLOW_SECONDS)
    return sandbox_session


@pytest.fixture
def make_client(sb: RunningSandbox) -> Iterator[Callable[..., MobiquityClient]]:
    with client_maker(
        sb.base_url,
        sb.client_id,
        sb.client_secret,
        sender=PayerWallet(sb.payer_msisdn, sb.payer_mpin),
        timeouts=Timeouts(connect=2, read=READ_TIMEOUT),
        retries=RetryPolicy(attempts=3, backoff_initial=0.05, backoff_max=0.2),
    ) as make:
        yield make


@pytest.fixture
def client(make_client: Callable[..., MobiquityClient]) -> MobiquityClient:
    return make_client()
