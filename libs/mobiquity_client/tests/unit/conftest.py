"""Fixtures of the unit tests: HTTP faked at the transport level (``mq_fake.FakeHttp``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mq_doc
import pytest
from mq_fake import FakeHttp, Registered
from mq_helpers import BASE, CLIENT_ID, CLIENT_SECRET, MPIN, SleepRecorder, client_maker

from mobiquity_client import MobiquityClient, PayerWallet, RetryPolicy, Timeouts


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def rsps() -> Iterator[FakeHttp]:
    with FakeHttp().active() as fake:
        yield fake


@pytest.fixture
def token_ok(rsps: FakeHttp) -> Registered:
    return rsps.post(BASE + "/mobiquitypay/oauth/token", json=mq_doc.TOKEN)


@pytest.fixture
def make_client(sleeps: SleepRecorder) -> Iterator[Callable[..., MobiquityClient]]:
    with client_maker(
        BASE,
        CLIENT_ID,
        CLIENT_SECRET,
        sender=PayerWallet("01755555555", MPIN),
        retries=RetryPolicy(attempts=3, sleep=sleeps),
        timeouts=Timeouts(connect=1, read=2),
    ) as make:
        yield make


@pytest.fixture
def client(make_client: Callable[..., MobiquityClient]) -> MobiquityClient:
    return make_client()
