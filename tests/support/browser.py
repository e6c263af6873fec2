"""Browser tests' shared parts: Debian's Chromium, where screenshots go, the portal under
real gunicorn (two workers, Prometheus multiprocess mode) on free ports, pointed at a sandbox,
the whole system around it (a database and a vhost of their own, a scheduler and a
communicator), and the steps every browser test takes (a page, the real sign-in).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bbp_portal.app import create_app
from sandbox.testing import free_port, stop_process
from tests.support.pipeline import Pipeline, create_database, drop_database, new_vhost
from tests.support.portal import DEMO_OTP_USERS, DEMO_PASSWORDS, base_settings, register

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
#: The paying wallet's label the portal shows (masked) on the confirmation page.
PAYER_LABEL = "GP wallet 01711000123"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class RunningPortal:
    base: str
    metrics: str
    log: Path
    pid: int = 0  # gunicorn's master (benchmarks read its and its workers' CPU time)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text(errors='replace')[-4000:]}")


def portal_environment(
    *,
    database_url: str,
    amqp_url: str,
    redis_url: str,
    sandbox: Any,
    port: int,
    metrics_port: int,
    prometheus_dir: Path,
    **settings: str,
) -> dict[str, str]:
    """The portal's environment on these servers: what ``portal_under_gunicorn`` starts it
    with, and what the ``make run`` commands that seed it (demo users, billers) need too.

    ``settings`` are extra ``BBP_…`` variables; the caller's own ``BBP_…`` are not inherited.
    """
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BBP_")},
        "BBP_DATABASE_URL": database_url,
        "BBP_AMQP_URL": amqp_url,
        "BBP_REDIS_URL": redis_url,
        "BBP_REDIS_KEY_PREFIX": f"bbp:e2e:{port}:",
        "BBP_PORTAL_SECRET_KEY": "e2e-" + Fernet.generate_key().decode(),
        "BBP_SESSION_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BBP_SESSION_COOKIE_SECURE": "false",
        "BBP_MOBIQUITY_BASE_URL": sandbox.base_url,
        "BBP_MOBIQUITY_CLIENT_ID": sandbox.client_id,
        "BBP_MOBIQUITY_CLIENT_SECRET": sandbox.client_secret,
        "BBP_SIGNIN_FAILURE_MIN_DURATION": "0.2",
        "BBP_PORTAL_HOST": "127.0.0.1",
        "BBP_PORTAL_PORT": str(port),
        "BBP_PORTAL_WORKERS": "2",
        "BBP_PORTAL_METRICS_HOST": "127.0.0.1",
        "BBP_PORTAL_METRICS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir),
        **settings,
    }


@contextmanager
def portal_under_gunicorn(
    *, tmp_path: Path, **servers_and_settings: Any
) -> Iterator[RunningPortal]:
    """Start the portal, wait for /readyz, stop it (SIGTERM, then SIGKILL) afterwards.

    ``servers_and_settings``: ``portal_environment``'s ``database_url``, ``amqp_url``,
    ``redis_url`` and ``sandbox``, and extra ``BBP_…`` variables; the caller's own ``BBP_…``
    are not inherited. It listens on free ports; its metrics and log are under ``tmp_path``.
    """
    port, metrics_port = free_port(), free_port()
    env = portal_environment(
        port=port,
        metrics_port=metrics_port,
        prometheus_dir=tmp_path / "prometheus",
        **servers_and_settings,
    )
    log = tmp_path / "portal.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--config",
                str(ROOT / "services/portal/gunicorn.conf.py"),
                "bbp_portal.wsgi:create_app()",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", process, log)
        yield RunningPortal(base, f"http://127.0.0.1:{metrics_port}/metrics", log, process.pid)
    finally:
        stop_process(process, timeout=15)


@contextmanager
def portal_for(
    database_url: str, redis_url: str, sandbox: Any, tmp_path: Path, **users_roles: str
) -> Iterator[str]:
    """The portal under gunicorn on the run's database (the local RabbitMQ's default vhost),
    with ``users_roles`` (login id → role) registered; yields its base URL."""
    app = create_app(base_settings(database_url=database_url, redis_url=redis_url))
    for login, role in users_roles.items():
        register(app, login, role)
    app.extensions["bbp.engine"].dispose()
    with portal_under_gunicorn(
        database_url=database_url,
        amqp_url="amqp://guest:guest@127.0.0.1:5672/%2F",
        redis_url=redis_url,
        sandbox=sandbox,
        tmp_path=tmp_path,
    ) as portal:
        yield portal.base


@contextmanager
def whole_system(servers: Any, sandbox: Any, *, latency_ms: int | None = 20) -> Iterator[Pipeline]:
    """A database and a RabbitMQ vhost of their own, the sandbox reset (answering after
    ``latency_ms``), the billers seeded; the services a test starts on the pipeline are
    stopped afterwards, and the database dropped."""
    if not servers.rabbitmqctl:
        pytest.skip("needs rabbitmqctl to make a vhost of its own")
    sandbox.reset()
    if latency_ms is not None:
        sandbox.configure(base_latency_ms=latency_ms)
    name = f"bbp_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
        pipe = Pipeline(url, amqp_url, sandbox)
        try:
            pipe.seed_billers()
            yield pipe
        finally:
            pipe.stop_all()
            pipe.engine.dispose()
    drop_database(servers.db_url(), name)


@contextmanager
def serving(
    pipe: Pipeline, redis_url: str, tmp_path: Path, *, rate_limit: str | None = "8", **settings: str
) -> Iterator[RunningPortal]:
    """A scheduler (at most ``rate_limit`` Mobiquity calls a second) and a communicator on
    ``pipe``, then the portal under gunicorn on the same database and vhost (``settings``:
    its extra ``BBP_…``; the paying wallet is labelled ``PAYER_LABEL`` unless said)."""
    pipe.start("scheduler", **({"BBP_MOBIQUITY_RATE_LIMIT": rate_limit} if rate_limit else {}))
    pipe.start("communicator")
    settings = {"BBP_PAYER_LABEL": PAYER_LABEL, **settings}
    with portal_on(pipe, redis_url, tmp_path, **settings) as portal:
        yield portal


def portal_on(pipe: Pipeline, redis_url: str, tmp_path: Path, **settings: str) -> Any:
    """The portal under gunicorn on ``pipe``'s database, vhost and sandbox (no scheduler or
    communicator unless the test starts them); ``settings``: its extra ``BBP_…``."""
    return portal_under_gunicorn(
        database_url=pipe.database_url,
        amqp_url=pipe.amqp_url,
        redis_url=redis_url,
        sandbox=pipe.sandbox,
        tmp_path=tmp_path,
        **settings,
    )


@contextmanager
def chromium_page(*, console_never: tuple[str, ...] = (), **options: Any) -> Iterator[Any]:
    """A page of Debian's Chromium (``options``: Playwright's ``new_page``'s); at the end, no
    console error may say the Content Security Policy blocked something the page needs (nor
    name any of ``console_never``)."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**options)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            yield page
            never = ("Content Security Policy", *console_never)
            assert not [e for e in errors if any(n in e for n in never)], errors
        finally:
            browser.close()


def sign_in(page: Any, login: str, *, at: str | None = None, sandbox: Any = None) -> None:
    """Sign a demo user in through the real form (the sandbox checks the password; a user it
    asks an OTP of gets the one it sent). ``at``: the address to open first; without it the
    page shows the sign-in form already."""
    from playwright.sync_api import expect

    if at is not None:
        page.goto(at)
    page.get_by_label("Login ID").fill(login)
    page.get_by_label("Password").fill(DEMO_PASSWORDS[login])
    page.get_by_role("button", name="Sign in").click()
    if login in DEMO_OTP_USERS:
        expect(page.get_by_role("heading", name="Enter your one-time password")).to_be_visible()
        page.get_by_label("One-time password (OTP)").fill(sandbox.otp(login))
        page.get_by_role("button", name="Continue").click()


def sign_out(page: Any) -> None:
    """Through the user menu."""
    page.get_by_test_id("user-menu").click()
    page.get_by_role("button", name="Sign out").click()
