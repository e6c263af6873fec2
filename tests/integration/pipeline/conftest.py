"""Fixtures of the pipeline tests: a database, a vhost and a sandbox of their own per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.testing import RunningSandbox, run_sandbox
from tests.conftest import Servers
from tests.support.pipeline import Pipeline, running_pipeline


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox() as sb:
        yield sb


@pytest.fixture()
def pipeline(servers: Servers, sandbox: RunningSandbox) -> Iterator[Pipeline]:
    with running_pipeline(servers, sandbox, "bbp_pipe") as pipe:
        yield pipe
