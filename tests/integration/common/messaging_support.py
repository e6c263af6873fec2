"""Helpers shared by the messaging/outbox integration tests and their child processes.

Imported by the tests (pytest puts this folder on sys.path) and by the child scripts run
with ``python <file>`` (their own folder is on sys.path).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
from marshmallow import Schema, fields
from sqlalchemy import Connection, text

from bbp_common.platform.messaging import QueueSpec, message_schema
from bbp_common.platform.messaging.topology import declare_topology

ITEM = "test.item"


@message_schema(ITEM, 1)
class ItemV1(Schema):
    """The body of the test messages: a number, and money to prove Decimals survive."""

    n = fields.Integer(required=True)
    amount = fields.Decimal(as_string=True, places=2, load_default=None)


def vhost_of(amqp_url: str) -> str:
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


def close_all_connections(amqp_url: str) -> None:
    """The broker closes every client connection of the run's vhost (as on a node restart)."""
    rabbitmqctl("close_all_connections", "-p", vhost_of(amqp_url), "test: broker closes")


def new_queue(amqp_url: str, *, delivery_limit: int = 2, prefix: str = "t") -> QueueSpec:
    """A quorum queue of its own for one test, bound on `bbp` with `<name>.#`."""
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    spec = QueueSpec(name, (f"{name}.#",))
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declare_topology(connection.channel(), delivery_limit=delivery_limit, queues=[spec])
    finally:
        connection.close()
    return spec


@dataclass
class Got:
    body: dict[str, Any]
    properties: pika.BasicProperties
    redelivered: bool
    headers: dict[str, Any]


def drain(amqp_url: str, queue: str, *, wait: float = 0.0, expect: int | None = None) -> list[Got]:
    """Everything in ``queue`` now (acked, so removed); waits up to ``wait`` s for ``expect``."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    got: list[Got] = []
    deadline = time.monotonic() + wait
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                if expect is not None and len(got) < expect and time.monotonic() < deadline:
                    connection.sleep(0.05)
                    continue
                break
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = {"_raw": body.decode("utf-8", "replace")}
            got.append(Got(parsed, properties, bool(method.redelivered), properties.headers or {}))
    finally:
        connection.close()
    return got


def depth(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def publish_raw(amqp_url: str, routing_key: str, body: bytes, **props: Any) -> None:
    """Publish bytes as they are, bypassing the envelope (for poison and invalid messages)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "bbp", routing_key, body, pika.BasicProperties(delivery_mode=2, **props), mandatory=True
        )
    finally:
        connection.close()


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()


# ---------------------------------------------------------------- a durable effect


def new_effect(conn: Connection) -> str:
    """A counter row in the database, the "effect" a test consumer applies.

    Uses the ``leases`` table (its ``fencing_token`` is a counter): no test-only table in the
    migrated schema, and a unique name per test.
    """
    name = f"test-effect-{uuid.uuid4().hex[:12]}"
    conn.execute(text("INSERT INTO leases (name, fencing_token) VALUES (:name, 0)"), {"name": name})
    return name


def apply_effect(conn: Connection, name: str) -> None:
    conn.execute(
        text("UPDATE leases SET fencing_token = fencing_token + 1 WHERE name = :name"),
        {"name": name},
    )


def effect_count(conn: Connection, name: str) -> int:
    return int(
        conn.execute(
            text("SELECT fencing_token FROM leases WHERE name = :name"), {"name": name}
        ).scalar_one()
    )
