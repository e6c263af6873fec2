"""The real pipeline for tests and benchmarks: schedulers and communicators as processes.

Each pipeline gets a database of its own (migrated) and a RabbitMQ vhost of its own, the
sandbox standing in for Mobiquity, and short timeouts so that crash and recovery paths
run in seconds. Processes are real (``python -m bbp_scheduler`` …), so they can be killed
with SIGKILL, frozen with SIGSTOP, or stopped with SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from urllib.request import urlopen

import pika
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from bbp_common.core import tallies
from bbp_common.platform.db import make_engine
from bbp_common.platform.db.tables import (
    account_groups,
    bill_account_groups,
    bill_accounts,
    billers,
    bulk_requests,
    users,
)
from bbp_common.platform.messaging import QUEUES
from bbp_common.platform.settings import DatabaseSettings
from sandbox.testing import RunningSandbox, free_port

if TYPE_CHECKING:
    from tests.conftest import Servers

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "pipeline"

#: Short timeouts: crash and recovery paths run in seconds (production defaults differ).
FAST = {
    "BBP_LEASE_TTL": "3",
    "BBP_LEASE_RENEW_INTERVAL": "1",
    "BBP_SWEEP_INTERVAL": "0.5",
    "BBP_OUTBOX_POLL_INTERVAL": "0.2",
    "BBP_MOBIQUITY_RATE_LIMIT": "200",
    "BBP_MOBIQUITY_MAX_IN_FLIGHT": "32",
    "BBP_MOBIQUITY_CONNECT_TIMEOUT": "1",
    "BBP_MOBIQUITY_READ_TIMEOUT": "2",
    "BBP_FETCH_RETRY_BACKOFF": "0.2",
    "BBP_FETCH_RESULT_TIMEOUT": "8",
    "BBP_FETCH_COMMAND_TTL": "20",
    "BBP_PAY_COMMAND_TTL": "5",
    "BBP_PAY_REQUEUE_GRACE": "2",
    "BBP_PAY_ANSWER_GRACE": "2",
    "BBP_PAY_SEND_WINDOW": "2",
    "BBP_ENQUIRY_SCHEDULE": "1s,2s,3s",
    "BBP_ENQUIRY_COMMAND_TTL": "5",
    "BBP_ENQUIRY_RESULT_TIMEOUT": "4",
    "BBP_ENQUIRY_NOT_FOUND_GRACE": "3",
    "BBP_AMQP_DELIVERY_LIMIT": "5",
    "BBP_AMQP_HEARTBEAT": "10",
    "BBP_COMMUNICATOR_RESULT_PUBLISH_TIMEOUT": "20",
    "BBP_LOG_LEVEL": "INFO",
    "BBP_LOG_FORMAT": "json",
}


@dataclass
class Service:
    """One running service process."""

    name: str
    kind: str
    process: subprocess.Popen[bytes]
    log_path: Path
    health_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.process.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def health(self, path: str = "/readyz") -> dict[str, Any] | None:
        try:
            with urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=2) as resp:
                return json.loads(resp.read())
        except Exception:
            return None

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines


@dataclass
class Pipeline:
    database_url: str
    amqp_url: str
    sandbox: RunningSandbox
    env_overrides: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    #: ``FAST`` timeouts (the default); False keeps the services' own defaults, as ``make run``.
    fast: bool = True

    def __post_init__(self) -> None:
        self.engine = make_engine(DatabaseSettings(database_url=SecretStr(self.database_url)))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ processes

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BBP_")}
        if self.fast:
            env.update(FAST)
        env.update(
            {
                "BBP_DATABASE_URL": self.database_url,
                "BBP_AMQP_URL": self.amqp_url,
                "BBP_MOBIQUITY_BASE_URL": self.sandbox.base_url,
                "BBP_MOBIQUITY_CLIENT_ID": self.sandbox.client_id,
                "BBP_MOBIQUITY_CLIENT_SECRET": self.sandbox.client_secret,
                "BBP_PAYER_MSISDN": self.sandbox.payer_msisdn,
                "BBP_PAYER_MPIN": self.sandbox.payer_mpin,
                "BBP_HEALTH_HOST": "127.0.0.1",
            }
        )
        env.update(self.env_overrides)
        env.update(extra)
        return env

    def start(self, kind: str, name: str | None = None, **extra: str) -> Service:
        """Start ``scheduler`` or ``communicator`` (waits until its health port answers)."""
        name = name or f"{kind}-{len([s for s in self.services if s.kind == kind]) + 1}"
        port = free_port()
        env = self.env(BBP_HEALTH_PORT=str(port), **extra)
        env[f"BBP_{'SCHEDULER_ID' if kind == 'scheduler' else 'COMMUNICATOR_NAME'}"] = name
        log_path = ARTIFACTS / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", f"bbp_{kind}"],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        service = Service(name, kind, process, log_path, port)
        self.services.append(service)
        deadline = time.monotonic() + 30
        while service.health("/healthz") is None:
            if not service.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        return service

    def stop_all(self) -> None:
        for service in self.services:
            if service.alive():
                service.signal(signal.SIGCONT)
                service.signal(signal.SIGTERM)
        for service in self.services:
            try:
                service.process.wait(30)
            except subprocess.TimeoutExpired:
                service.kill()
        self.services.clear()

    def leader(self, timeout: float = 20) -> Service:
        """The scheduler that holds the lease (waits for one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                holder = conn.execute(
                    sa.text(
                        "SELECT holder FROM leases WHERE name = 'scheduler'"
                        " AND expires_at > UTC_TIMESTAMP(6)"
                    )
                ).scalar()
            for service in self.services:
                if service.name == holder and service.alive():
                    return service
            time.sleep(0.2)
        raise TimeoutError("no scheduler took the lease")

    # ------------------------------------------------------------------ data

    def seed_billers(self) -> None:
        with self.engine.begin() as conn:
            for b in self.sandbox.billers():
                conn.execute(
                    sa.dialects.mysql.insert(billers)
                    .values(
                        utility_code=b["code"],
                        name=b["name"],
                        receiver_wallet=b["receiver_msisdn"],
                        product_id=b["product_id"],
                        biller_code=b["biller_code"],
                        pays_service_charge=b["add_service_charge"],
                        supports_fetch=b["fetchable"],
                    )
                    .prefix_with("IGNORE")
                )

    def add_accounts(
        self, accounts: Sequence[tuple[str, str]], mobile: str = "01711000000"
    ) -> list[int]:
        """Insert (utility, consumer id) accounts; returns their ids in order."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(bill_accounts),
                [
                    {"utility_code": u, "consumer_id": c, "mobile": mobile, "label": f"{u}-{c}"}
                    for u, c in accounts
                ],
            )
            rows = conn.execute(
                sa.select(
                    bill_accounts.c.id, bill_accounts.c.utility_code, bill_accounts.c.consumer_id
                )
            ).all()
        by_key = {(r.utility_code, r.consumer_id): r.id for r in rows}
        return [by_key[a] for a in accounts]

    def group_accounts(self, name: str, account_ids: Sequence[int]) -> None:
        """A new account group ``name`` holding these bill accounts."""
        with self.engine.begin() as conn:
            gid = conn.execute(sa.insert(account_groups).values(name=name)).lastrowid
            conn.execute(
                sa.insert(bill_account_groups),
                [{"bill_account_id": i, "group_id": gid} for i in account_ids],
            )

    def add_users(self, **roles: str) -> None:
        """Register demo users (login id → role) straight into the users table."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(users),
                [
                    {"login_id": login, "email": f"{login}@bbp.example", "role": role}
                    for login, role in roles.items()
                ],
            )

    def request_state(self, request_id: int) -> str:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(bulk_requests.c.state).where(bulk_requests.c.id == request_id)
            ).scalar_one()

    def tallies(self, request_id: int) -> dict[str, tuple[int, Decimal]]:
        with self.engine.connect() as conn:
            return tallies.read(conn, request_id)

    def wait_for(
        self, condition: Callable[[], Any], timeout: float = 60, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}")

    def wait_finished(self, request_id: int, timeout: float = 120) -> None:
        self.wait_for(
            lambda: self.request_state(request_id) == "finished",
            timeout,
            f"request {request_id} to finish (tallies {self.tallies(request_id)})",
        )

    def relay(self) -> Callable[[Sequence[str]], object]:
        """The portal's after-commit relay is optional: the leader's relay publishes the rest."""
        return lambda _ids: None

    def purge_queues(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            channel = connection.channel()
            for spec in QUEUES:
                for name in (spec.name, spec.dead_letter_queue):
                    with contextlib.suppress(Exception):
                        channel.queue_purge(name)
        finally:
            connection.close()


def create_database(server_url: str, name: str) -> str:
    """A new migrated database on the server of ``server_url``; returns its URL."""
    from tests.conftest import migrate, new_database

    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    new_database(admin, name)
    admin.dispose()
    url = server_url.rstrip("/") + "/" + name
    migrate(url)
    return url


def drop_database(server_url: str, name: str) -> None:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@contextlib.contextmanager
def new_vhost(rabbitmqctl: str, user: str, amqp_url_for: Callable[[str], str]) -> Iterator[str]:
    vhost = f"bbp_pipe_{uuid.uuid4().hex[:8]}"
    subprocess.run([rabbitmqctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(
        [rabbitmqctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield amqp_url_for(vhost)
    finally:
        subprocess.run([rabbitmqctl, "delete_vhost", vhost], capture_output=True, timeout=60)


@contextlib.contextmanager
def running_pipeline(
    servers: Servers, sandbox: RunningSandbox, prefix: str, **options: Any
) -> Iterator[Pipeline]:
    """A pipeline on a database (named ``prefix`` and a random tail) and a vhost of its own,
    its billers seeded from the sandbox (reset, and slow calls at 4 s); its processes are
    stopped and the database and vhost dropped afterwards. ``options``: ``Pipeline``'s."""
    if not servers.rabbitmqctl:
        pytest.skip("pipeline tests need rabbitmqctl to make a vhost of their own")
    sandbox.reset()
    sandbox.configure(slow_seconds=4)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
        pipe = Pipeline(url, amqp_url, sandbox, **options)
        pipe.seed_billers()
        try:
            yield pipe
        finally:
            pipe.stop_all()
            pipe.engine.dispose()
    drop_database(servers.db_url(), name)


def quote_vhost(vhost: str) -> str:
    return quote(vhost, safe="")


def seed_fetched_bills(
    pipe: Pipeline, accounts: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[int]]:
    """Store the sandbox's pending bills of ``accounts`` as a finished fetch would have.

    Returns the bill ids per (utility, consumer id). Saves a fetch round trip in payment tests.
    """
    from sandbox.mobiquity.bills import bills_for
    from sandbox.mobiquity.catalogue import by_utility
    from tests.support.payments import done_fetch_item, fetched_bill

    account_ids = pipe.add_accounts(accounts)
    found: dict[tuple[str, str], list[int]] = {}
    with pipe.engine.begin() as conn:
        now = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        request_id = conn.execute(
            sa.insert(bulk_requests).values(
                kind="fetch", state="finished", created_by="seed", total_items=len(accounts)
            )
        ).inserted_primary_key[0]
        for (utility, consumer), account_id in zip(accounts, account_ids, strict=True):
            pending = bills_for(by_utility(utility), consumer)
            item_id = done_fetch_item(
                conn, request_id, account_id, (utility, consumer), now, len(pending)
            )
            found[(utility, consumer)] = [
                fetched_bill(
                    conn,
                    item_id,
                    account_id,
                    (utility, consumer),
                    now,
                    bill_number=b.bill_number,
                    due_date=b.due_date,
                    amount=b.amount,
                    service_charge=b.service_charge,
                    detail=json.dumps(b.detail) if b.detail else None,
                )
                for b in pending
            ]
    return found
