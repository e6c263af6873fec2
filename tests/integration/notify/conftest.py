"""Fixtures of the notification tests: the real pipeline (scheduler and communicator
processes, a database and vhost of their own) with the sandbox's Mobiquity and its mail and
SMS sinks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pika
import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import notifications, users
from sandbox.testing import RunningSandbox, RunningSinks, run_sandbox, run_sinks
from tests.conftest import Servers
from tests.support.pipeline import Pipeline, running_pipeline

OPS = "ops@bbp.example"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox() as sb:
        yield sb


@pytest.fixture(scope="module")
def sinks() -> Iterator[RunningSinks]:
    with run_sinks() as running:
        yield running


def sink_env(sinks: RunningSinks) -> dict[str, str]:
    """The communicator pointed at the sinks; the scheduler's producers for these tests."""
    return {
        "BBP_SMTP_HOST": sinks.host,
        "BBP_SMTP_PORT": str(sinks.smtp_port),
        "BBP_SMTP_SECURITY": "none",
        "BBP_SMTP_FROM": "BBP <no-reply@bbp.example>",
        "BBP_SMS_GATEWAY_URL": sinks.sms_url,
        "BBP_SMS_GATEWAY_TOKEN": sinks.sms_token,
        "BBP_SMS_SENDER": "GP BillPay",
        # Retries come back through the scheduler's outbox: short waits for the tests.
        "BBP_NOTIFY_RETRY_SCHEDULE": "0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s,0.3s",
        "BBP_PORTAL_BASE_URL": "https://bbp.example.com",
        "BBP_NOTIFY_OPS_EMAIL": OPS,
        "BBP_NOTIFY_ATTENTION_DELAY": "1",
    }


@pytest.fixture()
def pipe(servers: Servers, sandbox: RunningSandbox, sinks: RunningSinks) -> Iterator[Pipeline]:
    sinks.reset()
    with running_pipeline(servers, sandbox, "bbp_notify", env_overrides=sink_env(sinks)) as pipe:
        yield pipe


def add_user(
    pipeline: Pipeline,
    login_id: str,
    *,
    language: str = "en",
    mobile: str | None = None,
    role: str = "admin",
) -> str:
    email = f"{login_id.lower()}@bbp.example"
    with pipeline.engine.begin() as conn:
        conn.execute(
            sa.insert(users).values(
                login_id=login_id, email=email, mobile=mobile, language=language, role=role
            )
        )
    return email


def rows(pipeline: Pipeline, **where: Any) -> list[Any]:
    query = sa.select(notifications).order_by(notifications.c.id)
    for key, value in where.items():
        query = query.where(getattr(notifications.c, key) == value)
    with pipeline.engine.connect() as conn:
        return list(conn.execute(query).all())


def dead_letters(pipeline: Pipeline, queue: str = "communicator.notify.dead") -> list[dict]:
    """Peek at the dead letters of ``queue`` (read, then put back)."""
    import json

    connection = pika.BlockingConnection(pika.URLParameters(pipeline.amqp_url))
    found = []
    try:
        channel = connection.channel()
        tags = []
        while True:
            method, _props, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            tags.append(method.delivery_tag)
            found.append(json.loads(body))
        for tag in tags:
            channel.basic_nack(tag, requeue=True)
    finally:
        connection.close()
    return found
