"""Start the sandbox for tests: `run_sandbox()` spawns `python -m sandbox` on a free port.

Only tests (and benchmarks) import this. The control helpers use the standard library's
urllib so that the sandbox package needs no HTTP client.

    with run_sandbox() as sb:
        sb.reset()
        sb.add_fault(endpoint="billpay", fault="drop_after_process", times=1)
        ... point the client at sb.base_url ...
        assert len(sb.ledger(reference=ref)) == 1
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sandbox.mobiquity.settings import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PAYER_MPIN,
    DEMO_PAYER_MSISDN,
)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def control(base_url: str, method: str, path: str, body: Any = None, **query: Any) -> Any:
    """Call ``<base_url>/__sandbox__/<path>`` (the query without its ``None`` values); returns
    the decoded JSON (raises HTTPError on 4xx/5xx)."""
    params = {k: v for k, v in query.items() if v is not None}
    url = f"{base_url}/__sandbox__/{path.lstrip('/')}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own URL
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not exited ``timeout`` seconds later."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _spawned(
    command: Literal["mobiquity", "sinks"], env: Mapping[str, str], log_prefix: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``python -m sandbox <command>``, its output in a log file of its own; afterwards the
    process is stopped and its log removed (unless SANDBOX_KEEP_LOGS is set)."""
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
        prefix=log_prefix, suffix=".log", delete=False
    )
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
        [sys.executable, "-m", "sandbox", command],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, Path(log_file.name)
    finally:
        stop_process(process)
        log_file.close()
        if not os.environ.get("SANDBOX_KEEP_LOGS"):
            Path(log_file.name).unlink(missing_ok=True)


def _wait_until_up(
    up: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float, what: str
) -> None:
    """Poll ``up`` until it holds; a process that exits or ``timeout`` seconds gone fail, with
    the end of its log."""
    deadline = time.monotonic() + timeout
    while not up():
        if process.poll() is not None or time.monotonic() > deadline:
            log_tail = log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{what} did not start:\n{log_tail}")
        time.sleep(0.1)


@dataclass
class RunningSandbox:
    """A started sandbox: its address, its log file, and the control API."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    payer_msisdn: str = DEMO_PAYER_MSISDN
    payer_mpin: str = DEMO_PAYER_MPIN

    def control(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """Call `/__sandbox__/<path>`; returns the decoded JSON (raises HTTPError on 4xx/5xx)."""
        return control(self.base_url, method, path, body, **query)

    def reset(self, *, keep_tokens: bool = False) -> None:
        """Forget ledger, calls, OTPs, faults (and tokens unless kept); restore users/config."""
        self.control("POST", "reset", keep_tokens=1 if keep_tokens else None)

    def add_fault(self, **fault: Any) -> int:
        """Add a fault (see the README); returns its id."""
        return int(self.control("POST", "faults", fault)["id"])

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.control("DELETE", "faults")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """PATCH the runtime config; returns the whole config."""
        return dict(self.control("PATCH", "config", changes))

    def ledger(self, **filters: Any) -> list[dict[str, Any]]:
        """Billpay calls processed (filters: reference, consumer_id, bill_number, outcome)."""
        return list(self.control("GET", "ledger", **filters))

    def report(self, **query: Any) -> bytes:
        """`GET /__sandbox__/report` (from, to, tz, status, format): the file's bytes."""
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.base_url}/__sandbox__/report?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=120) as resp:  # noqa: S310 - our own URL
            data: bytes = resp.read()
            return data

    def calls(self, endpoint: str | None = None, since: int | None = None) -> list[dict[str, Any]]:
        """Mobiquity calls received."""
        return list(self.control("GET", "calls", endpoint=endpoint, since=since))

    def otp(self, login_id: str) -> str:
        """The latest OTP issued to `login_id`."""
        return str(self.control("GET", f"otps/{urllib.parse.quote(login_id)}")["otp"])

    def billers(self) -> list[dict[str, Any]]:
        """The biller catalogue."""
        return list(self.control("GET", "billers"))


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/__sandbox__/health", timeout=1) as resp:  # noqa: S310
            status: int = resp.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def run_sandbox(
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[RunningSandbox]:
    """Spawn `python -m sandbox mobiquity` on `port` (default: a free one) and wait for health.

    `env` adds SANDBOX_* variables (e.g. {"SANDBOX_STATUS_IN_BODY_ONLY": "1"}; a
    {"SANDBOX_DATA_DIR": ...} of its own keeps the ledger there across restarts). The process
    is terminated on exit; its output is in `log_path` (shown if start-up fails; removed on
    exit unless SANDBOX_KEEP_LOGS is set).
    """
    port = port or free_port(host)
    base_url = f"http://{host}:{port}"
    # No data directory unless the test asks for one: a sandbox started for a test forgets
    # everything when it stops, even when the shell has `make run`'s SANDBOX_DATA_DIR.
    child_env = {
        **os.environ,
        "SANDBOX_DATA_DIR": "",
        **(env or {}),
        "SANDBOX_HOST": host,
        "SANDBOX_PORT": str(port),
    }
    with _spawned("mobiquity", child_env, f"sandbox-{port}-") as (process, log_path):
        running = RunningSandbox(
            base_url,
            port,
            process,
            log_path,
            client_id=child_env.get("SANDBOX_CLIENT_ID", DEMO_CLIENT_ID),
            client_secret=child_env.get("SANDBOX_CLIENT_SECRET", DEMO_CLIENT_SECRET),
            payer_msisdn=child_env.get("SANDBOX_PAYER_MSISDN", DEMO_PAYER_MSISDN),
            payer_mpin=child_env.get("SANDBOX_PAYER_MPIN", DEMO_PAYER_MPIN),
        )
        _wait_until_up(
            lambda: _healthy(base_url), process, log_path, startup_timeout, f"sandbox on {base_url}"
        )
        yield running


# --------------------------------------------------------------------------- mail and SMS sinks


@dataclass
class RunningSinks:
    """Started sinks (``python -m sandbox sinks``): where they listen, and their read-back."""

    host: str
    smtp_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    sms_token: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def sms_url(self) -> str:
        return f"{self.base_url}/sms/send"

    def control(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        return control(self.base_url, method, path, body, **query)

    def reset(self) -> None:
        """Forget every message, refusal and fault."""
        self.control("POST", "reset")

    def mails(self, to: str | None = None) -> list[dict[str, Any]]:
        """E-mails kept, oldest first (``to``: a part of a recipient address)."""
        return list(self.control("GET", "mail", to=to))

    def sms(self, to: str | None = None) -> list[dict[str, Any]]:
        """SMS kept, oldest first (``to``: a part of the number)."""
        return list(self.control("GET", "sms", to=to))

    def refused(self) -> list[dict[str, Any]]:
        """Messages a fault refused (outage, permanent), oldest first."""
        return list(self.control("GET", "refused"))

    def add_fault(self, **fault: Any) -> int:
        """``add_fault(channel="sms", fault="outage", times=3, to=None, seconds=None)``."""
        return int(self.control("POST", "faults", fault)["id"])

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")


@contextmanager
def run_sinks(
    *,
    host: str = "127.0.0.1",
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[RunningSinks]:
    """Spawn ``python -m sandbox sinks`` on free ports and wait until both answer."""
    smtp_port, http_port = free_port(host), free_port(host)
    child_env = {
        **os.environ,
        **(env or {}),
        "SANDBOX_HOST": host,
        "SANDBOX_SMTP_PORT": str(smtp_port),
        "SANDBOX_SMS_PORT": str(http_port),
    }
    with _spawned("sinks", child_env, f"sinks-{http_port}-") as (process, log_path):
        running = RunningSinks(
            host,
            smtp_port,
            http_port,
            process,
            log_path,
            child_env.get("SANDBOX_SMS_TOKEN", "sandbox-sms-token"),
        )
        _wait_until_up(
            lambda: _healthy(running.base_url) and _listening(host, smtp_port),
            process,
            log_path,
            startup_timeout,
            "sinks",
        )
        yield running


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
