"""Shared fixtures: a throw-away database and RabbitMQ vhost per test run (per xdist worker).

The servers come from the environment, defaulting to this machine's local ones:
``BBP_TEST_DB_HOST/PORT/USER/PASSWORD``, ``BBP_TEST_AMQP_HOST/PORT/USER/PASSWORD``,
``BBP_TEST_REDIS_HOST/PORT``. Where a Docker engine answers and ``BBP_TEST_CONTAINERS=1``,
MySQL 8 and RabbitMQ come from testcontainers instead. Nothing is mocked: integration tests
talk to the real servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Fixtures other features reuse: the sandbox, the portal app, a signed-in client (see the module).
pytest_plugins = ["tests.support.portal"]
TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, from the folder it lives in; skip the ``screenshots``
    ones (they rewrite ``docs/screenshots/``) unless ``make screenshots`` asks for them."""
    wanted = os.environ.get("BBP_SCREENSHOTS") == "1"
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))
        if item.get_closest_marker("screenshots") and not wanted:
            item.add_marker(pytest.mark.skip(reason="make screenshots runs it (BBP_SCREENSHOTS=1)"))


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


RUN_ID = f"{uuid.uuid4().hex[:8]}_{_worker()}"


class Servers:
    """Where the real servers of this test run are."""

    def __init__(self) -> None:
        env = os.environ.get
        self.db_host = env("BBP_TEST_DB_HOST", "127.0.0.1")
        self.db_port = int(env("BBP_TEST_DB_PORT", "3306"))
        self.db_user = env("BBP_TEST_DB_USER", "root")
        self.db_password = env("BBP_TEST_DB_PASSWORD", "")
        self.amqp_host = env("BBP_TEST_AMQP_HOST", "127.0.0.1")
        self.amqp_port = int(env("BBP_TEST_AMQP_PORT", "5672"))
        self.amqp_user = env("BBP_TEST_AMQP_USER", "guest")
        self.amqp_password = env("BBP_TEST_AMQP_PASSWORD", "guest")
        self.redis_host = env("BBP_TEST_REDIS_HOST", "127.0.0.1")
        self.redis_port = int(env("BBP_TEST_REDIS_PORT", "6379"))
        self.rabbitmqctl = env("BBP_TEST_RABBITMQCTL", shutil.which("rabbitmqctl") or "")
        self.containers: list[object] = []

    def db_url(self, database: str = "") -> str:
        auth = quote(self.db_user, safe="")
        if self.db_password:
            auth += ":" + quote(self.db_password, safe="")
        return f"mysql+pymysql://{auth}@{self.db_host}:{self.db_port}/{database}"

    def amqp_url(self, vhost: str = "/") -> str:
        return (
            f"amqp://{quote(self.amqp_user, safe='')}:{quote(self.amqp_password, safe='')}"
            f"@{self.amqp_host}:{self.amqp_port}/{quote(vhost, safe='')}"
        )


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    found = Servers()
    if os.environ.get("BBP_TEST_CONTAINERS") == "1" and _docker_answers():
        from testcontainers.mysql import MySqlContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        mysql = MySqlContainer("mysql:8.4", username="root", password="test").start()
        rabbit = RabbitMqContainer("rabbitmq:3.13-management").start()
        found.containers = [mysql, rabbit]
        found.db_host, found.db_port = (
            mysql.get_container_host_ip(),
            int(mysql.get_exposed_port(3306)),
        )
        found.db_user, found.db_password = "root", "test"
        found.amqp_host = rabbit.get_container_host_ip()
        found.amqp_port = int(rabbit.get_exposed_port(5672))
        found.rabbitmqctl = ""
    yield found
    for container in found.containers:
        container.stop()  # type: ignore[attr-defined]


def new_database(admin: Any, name: str) -> None:
    """An empty database ``name`` on the server of the AUTOCOMMIT engine ``admin``, in the
    schema's character set and collation (utf8mb4, Unicode)."""
    import sqlalchemy as sa

    with admin.connect() as conn:
        conn.execute(
            sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest migration, as `make migrate` does."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "db" / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def database_url(servers: Servers) -> Iterator[str]:
    """A new, migrated database for this test run; dropped afterwards."""
    import sqlalchemy as sa

    name = f"bbp_test_{RUN_ID}"
    admin = sa.create_engine(servers.db_url(), isolation_level="AUTOCOMMIT")
    new_database(admin, name)
    url = servers.db_url(name)
    try:
        migrate(url)
        yield url
    finally:
        if not os.environ.get("BBP_TEST_KEEP_DB"):
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def _rabbitmqctl(servers: Servers, *args: str) -> None:
    subprocess.run([servers.rabbitmqctl, *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def amqp_url(servers: Servers) -> Iterator[str]:
    """A new RabbitMQ vhost for this test run; deleted afterwards."""
    if not servers.rabbitmqctl:
        # A broker we cannot administer (a container): its default vhost is ours alone.
        yield servers.amqp_url("/")
        return
    vhost = f"bbp_test_{RUN_ID}"
    _rabbitmqctl(servers, "add_vhost", vhost)
    _rabbitmqctl(servers, "set_permissions", "-p", vhost, servers.amqp_user, ".*", ".*", ".*")
    try:
        yield servers.amqp_url(vhost)
    finally:
        with contextlib.suppress(Exception):
            _rabbitmqctl(servers, "delete_vhost", vhost)


@pytest.fixture(scope="session")
def redis_url(servers: Servers) -> str:
    """A Redis database number of its own for this xdist worker (1–15)."""
    index = int(_worker().removeprefix("gw") or 0) % 15 + 1
    return f"redis://{servers.redis_host}:{servers.redis_port}/{index}"


@pytest.fixture()
def engine(database_url: str):  # type: ignore[no-untyped-def]
    """An engine on the run's database (UTC, READ COMMITTED, as the services use)."""
    from pydantic import SecretStr

    from bbp_common.platform.db import make_engine
    from bbp_common.platform.settings import DatabaseSettings

    eng = make_engine(DatabaseSettings(database_url=SecretStr(database_url)))
    yield eng
    eng.dispose()
