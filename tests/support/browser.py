"""Browser tests' shared parts: Debian's Chromium, where screenshots go, and the portal under
real gunicorn (two workers, Prometheus multiprocess mode) on free ports, pointed at a sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from sandbox.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
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
    *,
    database_url: str,
    amqp_url: str,
    redis_url: str,
    sandbox: Any,
    tmp_path: Path,
    **settings: str,
) -> Iterator[RunningPortal]:
    """Start the portal, wait for /readyz, stop it (SIGTERM, then SIGKILL) afterwards.

    ``settings`` are extra ``BBP_…`` variables; the caller's own ``BBP_…`` are not inherited.
    """
    port, metrics_port = free_port(), free_port()
    env = portal_environment(
        database_url=database_url,
        amqp_url=amqp_url,
        redis_url=redis_url,
        sandbox=sandbox,
        port=port,
        metrics_port=metrics_port,
        prometheus_dir=tmp_path / "prometheus",
        **settings,
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
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
