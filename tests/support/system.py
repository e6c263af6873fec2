"""The whole system as ``make run`` starts it, on a throw-away database, for browser tests and
for ``make screenshots``.

``make run`` migrates a database, registers the demo users (``scripts/seed_demo.py``),
fills the biller catalogue from the sandbox (``flask billers seed-from``) and starts the
Procfile: the Mobiquity sandbox, the mail/SMS sinks, the portal under gunicorn, a scheduler
and a communicator. ``whole_system`` does the same with the same commands, but on a database
and a RabbitMQ vhost of its own (dropped afterwards), free ports and the test run's sandbox,
so it never touches the developer's ``bbp`` database or ``make run``'s ports.

``fast=False`` keeps the services' own defaults (pace, timeouts, enquiry schedule), as under
``make run``; ``fast=True`` uses ``tests.support.pipeline.FAST``, for paths that must fail
and recover in seconds.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.testing import RunningSinks, free_port, run_sinks
from tests.support.browser import ROOT, RunningPortal, portal_environment, portal_under_gunicorn
from tests.support.pipeline import Pipeline, create_database, drop_database, new_vhost


@dataclass(frozen=True)
class System:
    """What a browser test needs of the running system."""

    portal: RunningPortal
    pipeline: Pipeline
    sandbox: Any
    sinks: RunningSinks

    @property
    def base(self) -> str:
        return self.portal.base


def sink_settings(sinks: RunningSinks) -> dict[str, str]:
    """The communicator's mail server and SMS gateway: the sinks (as ``dev.env`` says)."""
    return {
        "BBP_SMTP_HOST": sinks.host,
        "BBP_SMTP_PORT": str(sinks.smtp_port),
        "BBP_SMTP_SECURITY": "none",
        "BBP_SMS_GATEWAY_URL": sinks.sms_url,
        "BBP_SMS_GATEWAY_TOKEN": sinks.sms_token,
        "BBP_NOTIFY_OPS_EMAIL": "ops@bbp.example",
        "BBP_NOTIFY_PAYMENT_SMS": "true",
    }


def run_make_run_seeds(env: Mapping[str, str], sandbox_url: str) -> None:
    """The two seeding commands of ``make run``'s recipe, as it runs them."""
    bin_dir = Path(sys.executable).parent
    for command in (
        [sys.executable, "scripts/seed_demo.py"],
        [
            str(bin_dir / "flask"),
            "--app",
            "bbp_portal.wsgi:create_app()",
            "billers",
            "seed-from",
            sandbox_url,
            "--wait",
            "30",
        ],
    ):
        done = subprocess.run(
            command, env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[1]} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def whole_system(
    servers: Any,
    sandbox: Any,
    redis_url: str,
    tmp_path: Path,
    *,
    fast: bool = False,
    scheduler: Mapping[str, str] | None = None,
    communicator: Mapping[str, str] | None = None,
    portal: Mapping[str, str] | None = None,
) -> Iterator[System]:
    """Start everything ``make run`` starts, seeded as it seeds; stop and drop it afterwards.

    ``scheduler``, ``communicator`` and ``portal`` are extra ``BBP_…`` settings of each.
    """
    if not servers.rabbitmqctl:
        pytest.skip("needs rabbitmqctl to make a vhost of its own")
    sandbox.reset()
    name = f"bbp_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    try:
        with (
            run_sinks() as sinks,
            new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url,
        ):
            sinks.reset()
            pipe = Pipeline(url, amqp_url, sandbox, env_overrides=sink_settings(sinks), fast=fast)
            try:
                seed_env = portal_environment(
                    database_url=url,
                    amqp_url=amqp_url,
                    redis_url=redis_url,
                    sandbox=sandbox,
                    port=free_port(),
                    metrics_port=free_port(),
                    prometheus_dir=tmp_path / "seed-prometheus",
                )
                run_make_run_seeds(seed_env, sandbox.base_url)
                pipe.start("scheduler", **(scheduler or {}))
                pipe.start("communicator", **(communicator or {}))
                with portal_under_gunicorn(
                    database_url=url,
                    amqp_url=amqp_url,
                    redis_url=redis_url,
                    sandbox=sandbox,
                    tmp_path=tmp_path,
                    **(portal or {}),
                ) as running:
                    yield System(running, pipe, sandbox, sinks)
            finally:
                pipe.stop_all()
                pipe.engine.dispose()
    finally:
        drop_database(servers.db_url(), name)
