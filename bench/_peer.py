"""The Celery peer of the fetch benchmark, run side by side with our pipeline (issue 16).

One run: a database of its own with one ``peer_fetch_items`` row per account (a
``fetch_items``-like row), a RabbitMQ vhost of its own, a Celery worker (``_peer_worker.py``)
as a process of its own with the thread pool, and one task per account published once the
worker consumes. The rate is measured from the database's clock: the moment publishing
starts → the last row's ``completed_at``. The CPU of the worker, MariaDB, RabbitMQ and the
sandbox is read over the same window (worker start-up excluded).

Two set-ups (issue 16):

* ``pool``: no cap of Celery's; the thread pool is sized to T·L (the cap × the latency: at
  most T calls a second if every call took exactly L) — or, with no cap, to our in-flight
  maximum C;
* ``rate_limit``: Celery's own ``rate_limit="T/s"`` on the task (the only Celery set-up that
  enforces a cap), the thread pool sized to C.

Celery is a benchmark-only dependency (``bench/requirements.txt``, installed by ``make bench``).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._cpu import Probe, load_average, shared_servers, with_children
from bench._workload import fetch_accounts
from tests.conftest import Servers, new_database
from tests.support.pipeline import new_vhost

BENCH = Path(__file__).resolve().parent

TABLE = """
CREATE TABLE peer_fetch_items (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    utility_code VARCHAR(16) NOT NULL,
    consumer_id VARCHAR(64) NOT NULL,
    mobile VARCHAR(15) NOT NULL,
    state VARCHAR(12) NOT NULL DEFAULT 'queued',
    outcome VARCHAR(12),
    attempts INT NOT NULL DEFAULT 0,
    bill_count INT,
    bills JSON,
    completed_at DATETIME(6),
    KEY ix_peer_state (state)
) ENGINE=InnoDB
"""


def celery_missing() -> str | None:
    """Why the peer cannot run here (Celery not installed), or None."""
    try:
        import celery  # noqa: F401
    except ImportError:
        return (
            "the Celery peer needs Celery: .venv/bin/pip install -c constraints.txt "
            "-r bench/requirements.txt (make bench does), or run with --no-peer"
        )
    return None


def concurrency(mode: str, cap: float, latency_ms: int, in_flight: int) -> int:
    """The thread pool: T·L for ``pool`` at a cap, else our in-flight maximum C."""
    if mode == "pool" and cap:
        return max(1, math.ceil(cap * latency_ms / 1000))
    return in_flight


def label(mode: str, cap: float, latency_ms: int, in_flight: int) -> str:
    threads = concurrency(mode, cap, latency_ms, in_flight)
    if mode == "rate_limit":
        return f"celery rate_limit {cap:g}/s, {threads} thr"
    return f"celery pool {threads} thr"


def run_peer(
    servers: Servers,
    sandbox: Any,
    *,
    items: int,
    cap: float,
    latency_ms: int,
    in_flight: int,
    mode: str,
    budget: float,
) -> dict[str, Any]:
    """One run of the peer; the same answer's shape as ``_side.py``'s (no dispatch records).

    A run still going after ``budget`` seconds is cut short, and measured over the rows done
    by then (Celery's ``rate_limit`` runs far below its cap: see ``docs/benchmarks.md``).
    """
    threads = concurrency(mode, cap, latency_ms, in_flight)
    name = f"bbp_bench_peer_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(servers.db_url(), isolation_level="AUTOCOMMIT")
    new_database(admin, name)
    url = servers.db_url(name)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(TABLE))
            conn.execute(
                sa.text(
                    "INSERT INTO peer_fetch_items (utility_code, consumer_id, mobile)"
                    " VALUES (:u, :c, '01711000000')"
                ),
                [{"u": u, "c": c} for u, c in fetch_accounts(items)],
            )
            rows = conn.execute(
                sa.text("SELECT id, utility_code, consumer_id, mobile FROM peer_fetch_items")
            ).all()
        with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
            return _measure(engine, amqp_url, url, sandbox, rows, threads, mode, cap, budget)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def _measure(
    engine: sa.Engine,
    amqp_url: str,
    database_url: str,
    sandbox: Any,
    rows: list[Any],
    threads: int,
    mode: str,
    cap: float,
    budget: float,
) -> dict[str, Any]:
    from celery import Celery

    workdir = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    ready = workdir / "ready"
    log_path = workdir / "worker.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BBP_", "PEER_"))},
        "PYTHONPATH": str(BENCH),
        "PEER_BROKER_URL": amqp_url,
        "PEER_DATABASE_URL": database_url,
        "PEER_MOBIQUITY_URL": sandbox.base_url,
        "PEER_CLIENT_ID": sandbox.client_id,
        "PEER_CLIENT_SECRET": sandbox.client_secret,
        "PEER_RATE_LIMIT": f"{cap:g}/s" if mode == "rate_limit" and cap else "",
        "PEER_CONCURRENCY": str(threads),
        "PEER_READY_FILE": str(ready),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "_peer_worker", "worker",
        "--pool", "threads", "--concurrency", str(threads),
        "--loglevel", os.environ.get("BENCH_PEER_LOGLEVEL", "WARNING"),
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-Q", "peer.fetch", "-n", f"peer-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            command, env=env, cwd=BENCH, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        probe = Probe(
            {
                "communicators": with_children(worker.pid),  # the worker: the peer's one hop
                **shared_servers(),
                "sandbox": with_children(sandbox.process.pid),
            }
        )
        load_start, started = load_average(), time.perf_counter()
        with engine.connect() as conn:
            start = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        client = Celery("peer-client", broker=amqp_url)
        client.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
        with client.producer_or_acquire() as producer:
            for row in rows:
                client.send_task(
                    "peer.fetch",
                    args=[row.id, row.utility_code, row.consumer_id, row.mobile],
                    queue="peer.fetch",
                    producer=producer,
                )
        deadline = time.monotonic() + budget
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    sa.text("SELECT COUNT(*) FROM peer_fetch_items WHERE state <> 'done'")
                ).scalar_one()
            if not left or time.monotonic() > deadline:
                break
            if worker.poll() is not None:
                raise RuntimeError(f"the Celery worker died:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        cpu = probe.spent()
        wall, load_end = time.perf_counter() - started, load_average()
        client.close()
        with engine.connect() as conn:
            end = conn.execute(sa.text("SELECT MAX(completed_at) FROM peer_fetch_items")).scalar()
            outcomes = dict(
                conn.execute(
                    sa.text("SELECT outcome, COUNT(*) FROM peer_fetch_items GROUP BY outcome")
                )
                .tuples()
                .all()
            )
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if os.environ.get("BENCH_PEER_LOGLEVEL"):
            print(f"the Celery worker's log: {log_path}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "start": start.replace(tzinfo=UTC).timestamp(),
        "end": end.replace(tzinfo=UTC).timestamp(),
        "dispatches": [],
        "states": outcomes,
        "cpu": cpu,
        "wall": wall,
        "load": [load_start, load_end],
        "threads": threads,
        # Cut short at the time budget: the figures are over the rows done by then.
        "items": len(rows) - left,
        "partial": bool(left),
    }
