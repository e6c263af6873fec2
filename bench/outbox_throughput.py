"""Outbox → broker → consumer throughput, and blocking vs windowed publisher confirms.

Needs MariaDB/MySQL and RabbitMQ (not run by CI). Creates a throw-away database (migrated
with Alembic, as `make migrate` does) and, where `rabbitmqctl` works, a throw-away vhost;
drops both at the end (unless --keep).

    .venv/bin/python bench/outbox_throughput.py                # 20 000 rows, 1 relay
    .venv/bin/python bench/outbox_throughput.py --relays 2 --batch-size 500

Measures:
  1. publish rate with one blocking confirm per message (BlockingChannel + confirm_delivery),
  2. publish rate with windowed confirms (Publisher.publish_batch, one wait per window),
  3. outbox insert rate (outbox.add in transactions of 500),
  4. outbox → consumer: relays publish the rows while a consumer (inbox insert + ack per
     message, in its own DB transaction) drains the queue; rows/s from relay start until the
     consumer applied the last one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pika
from marshmallow import Schema, fields
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from bbp_common.platform import outbox, relay
from bbp_common.platform.db import make_engine
from bbp_common.platform.inbox import first_time
from bbp_common.platform.messaging import (
    Consumer,
    Envelope,
    Outgoing,
    Publisher,
    QueueSpec,
    build,
    message_schema,
)
from bbp_common.platform.messaging.publisher import properties_of
from bbp_common.platform.messaging.topology import declare_topology
from bbp_common.platform.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent
ITEM = "bench.item"


@message_schema(ITEM, 1)
class BenchItemV1(Schema):
    n = fields.Integer(required=True)
    reference_id = fields.String(required=True)
    amount = fields.Decimal(as_string=True, places=2, required=True)


def body(n: int) -> dict[str, object]:
    return {"n": n, "reference_id": f"REF{n:017d}", "amount": "1250.50"}


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "db" / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} msg/s ({count} in {seconds:.2f} s)"


def purge(amqp_url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    connection.channel().queue_purge(queue)
    connection.close()


def bench_blocking(amqp_url: str, spec: QueueSpec, count: int) -> float:
    """One message, one confirm: BlockingChannel waits for each Basic.Ack."""
    messages = [build(ITEM, body(n), version=1) for n in range(count)]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    started = time.perf_counter()
    for envelope in messages:
        channel.basic_publish(
            "bbp", f"{spec.name}.x", envelope.to_json(), properties_of(envelope), mandatory=True
        )
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def bench_windowed(amqp_url: str, spec: QueueSpec, count: int, window: int) -> float:
    messages = [
        Outgoing("bbp", f"{spec.name}.x", build(ITEM, body(n), version=1)) for n in range(count)
    ]
    with Publisher(amqp_url, confirm_timeout=60) as publisher:
        assert publisher.wait_ready(10)
        started = time.perf_counter()
        for start in range(0, count, window):
            publisher.publish_batch(messages[start : start + window])
        return time.perf_counter() - started


def bench_outbox(
    args: argparse.Namespace, database_url: str, amqp_url: str, spec: QueueSpec
) -> None:
    engine = make_engine(
        DatabaseSettings(
            database_url=SecretStr(database_url), db_pool_size=args.workers + 4, db_max_overflow=8
        )
    )
    started = time.perf_counter()
    for start in range(0, args.rows, 500):
        with engine.begin() as conn:
            for n in range(start, min(start + 500, args.rows)):
                outbox.add(conn, "bbp", f"{spec.name}.x", ITEM, body(n), version=1)
    inserted = time.perf_counter() - started
    print(f"outbox insert (outbox.add, 500 per transaction): {rate(args.rows, inserted)}")

    applied = 0
    duplicates = 0
    lock = threading.Lock()
    all_applied = threading.Event()

    def handler(message: Envelope, redelivered: bool) -> None:
        nonlocal applied, duplicates
        with engine.begin() as conn:
            first = first_time(conn, "bench", message.message_id)
        with lock:
            if first:
                applied += 1
            else:
                duplicates += 1
            if applied >= args.rows:
                all_applied.set()

    def ack_only(message: Envelope, redelivered: bool) -> None:
        nonlocal applied
        with lock:
            applied += 1
            if applied >= args.rows:
                all_applied.set()

    consumer = Consumer(
        amqp_url,
        spec.name,
        ack_only if args.no_consumer_db else handler,
        prefetch=args.prefetch,
        workers=args.workers,
    ).start()
    assert consumer.wait_consuming(10)

    stop = threading.Event()
    publishers = [
        Publisher(amqp_url, confirm_timeout=60, name=f"relay-{i}").start()
        for i in range(args.relays)
    ]
    for publisher in publishers:
        assert publisher.wait_ready(10)
    relays = [
        relay.OutboxRelay(engine, publisher, args.batch_size, poll_interval=0.05, name=f"relay-{i}")
        for i, publisher in enumerate(publishers)
    ]
    threads = [threading.Thread(target=relay.run, args=(stop,), daemon=True) for relay in relays]
    started = time.perf_counter()
    for thread in threads:
        thread.start()

    all_sent_at = None
    while not all_applied.wait(0.1):
        if all_sent_at is None:
            with engine.connect() as conn:
                pending = conn.execute(
                    text("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
                ).scalar_one()
            if pending == 0:
                all_sent_at = time.perf_counter()
        if time.perf_counter() - started > 600:
            raise SystemExit("timed out")
    done = time.perf_counter()
    all_sent_at = all_sent_at or done
    stop.set()
    for thread in threads:
        thread.join(10)
    consumer.stop()
    consumer.join(30)
    for publisher in publishers:
        publisher.close()
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT status, COUNT(*) FROM outbox GROUP BY status")).all()
        )
    engine.dispose()

    consumer_kind = "ack only" if args.no_consumer_db else "inbox insert + commit per message"
    print(
        f"outbox → relay ({args.relays} relay(s), batch {args.batch_size}): all rows sent after "
        f"{all_sent_at - started:.2f} s → {args.rows / (all_sent_at - started):,.0f} rows/s"
    )
    print(
        f"outbox → consumer ({consumer_kind}, prefetch {args.prefetch}, {args.workers} workers): "
        f"{rate(args.rows, done - started)}"
    )
    print(f"  rows by status: {statuses}; applied {applied}, duplicates skipped {duplicates}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--relays", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500, help="rows per relay claim")
    parser.add_argument("--window", type=int, default=500, help="messages per confirm window")
    parser.add_argument("--blocking", type=int, default=2_000, help="messages for the blocking run")
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--no-consumer-db", action="store_true", help="consumer only acks")
    parser.add_argument(
        "--db-url",
        default=os.environ.get("BBP_BENCH_DB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("BBP_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and vhost")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    database = f"bbp_bench_{run}"
    admin = create_engine(args.db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    database_url = args.db_url.rstrip("/") + "/" + database

    vhost = None
    amqp_url = args.amqp_url
    if shutil.which("rabbitmqctl"):
        vhost = f"bbp_bench_{run}"
        user = pika.URLParameters(args.amqp_url).credentials.username
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        amqp_url = args.amqp_url.rstrip("/") + "/" + quote(vhost, safe="")
    try:
        migrate(database_url)
        spec = QueueSpec(f"bench.{run}", (f"bench.{run}.#",))
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        declare_topology(connection.channel(), delivery_limit=5, queues=[spec])
        connection.close()

        print(
            f"machine: {os.cpu_count()} cores, {platform.platform()}, "
            f"Python {platform.python_version()}"
        )
        blocking = bench_blocking(amqp_url, spec, args.blocking)
        print(f"publish, one blocking confirm per message: {rate(args.blocking, blocking)}")
        purge(amqp_url, spec.name)
        windowed = bench_windowed(amqp_url, spec, args.rows, args.window)
        print(f"publish, windowed confirms ({args.window} per window): {rate(args.rows, windowed)}")
        purge(amqp_url, spec.name)
        bench_outbox(args, database_url, amqp_url, spec)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            if vhost:
                with contextlib.suppress(Exception):
                    rabbitmqctl("delete_vhost", vhost)
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
