"""The model check of the payment lifecycle (issue 15): a hypothesis state machine drives the
real stores, the scheduler's dispatcher, result applier and sweeper, the communicator's pay and
enquiry handlers and the portal's operations, in one process, against a MariaDB/MySQL database
of its own, with virtual time, a simulated broker and a Mobiquity ledger double
(``machine.py``, ``world.py``).

``make test`` runs a bounded number of steps with a fixed seed (derandomized). A long run::

    BBP_MODEL_STEPS=20000 .venv/bin/python -m pytest -n 0 -s \\
        tests/integration/model/test_payment_lifecycle.py

(``BBP_MODEL_SEED`` picks another seed; the figures of a run are printed and written to
``test-artifacts/model/summary.json``; see docs/benchmarks.md).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.conftest import ROOT, Servers
from tests.integration.model.machine import (
    ENGINES,
    STATS,
    ModelEnv,
    machine_factory,
)
from tests.integration.model.world import VirtualClock, virtual_engine
from tests.support.payments import seed_billers
from tests.support.pipeline import create_database, drop_database

#: Steps per example; ``make test`` runs EXAMPLES of them.
STEPS_PER_EXAMPLE = 40
EXAMPLES = 12
#: The long run's total number of steps (0: the bounded run of ``make test``).
LONG_RUN = int(os.environ.get("BBP_MODEL_STEPS", "0"))


@pytest.fixture(scope="module")
def model_env(servers: Servers) -> Iterator[ModelEnv]:
    """A database of the model's own (created, migrated, dropped after), one engine per
    component, all on one virtual clock."""
    name = f"bbp_model_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    clock = VirtualClock()
    engines = {component: virtual_engine(url, clock) for component in ENGINES}
    seed_billers(engines["portal"])
    # Thousands of steps log what every service logs; only what is critical is worth it here.
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        yield ModelEnv(url, clock, engines)
    finally:
        structlog.configure(**saved)
        for engine in engines.values():
            engine.dispose()
        if not os.environ.get("BBP_TEST_KEEP_DB"):
            drop_database(servers.db_url(), name)


# A passing run takes seconds; a failing one shrinks its example, which hypothesis bounds at
# about five minutes: the default timeout (300 s) would cut the shrinking short.
@pytest.mark.timeout(0 if LONG_RUN else 900)
def test_payment_lifecycle(model_env: ModelEnv) -> None:
    long_run = LONG_RUN
    steps = int(os.environ.get("BBP_MODEL_STEPS_PER_EXAMPLE", STEPS_PER_EXAMPLE))
    factory = machine_factory(model_env)
    if long_run:
        examples = max(1, long_run // steps)
        factory = seed(int(os.environ.get("BBP_MODEL_SEED", "20261206")))(factory)
    else:
        examples = EXAMPLES
    chosen = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=not long_run,
        database=None,
        # Each step talks to the database: slow by hypothesis's measure, and that is fine.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
    STATS.clear()
    started = time.monotonic()
    try:
        run_state_machine_as_test(factory, settings=chosen)
    finally:
        took = time.monotonic() - started
        summary = {"seconds": round(took, 1), "steps_per_example": steps, **dict(STATS)}
        out = ROOT / "test-artifacts" / "model"
        Path(out).mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
        if long_run:
            for key, value in sorted(summary.items()):
                print(f"{key}: {value}")
    assert STATS["steps"] > 0
