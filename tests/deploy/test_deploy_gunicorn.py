"""The portal's gunicorn configuration (services/portal/gunicorn.conf.py), run for real on a
probe app: JSON access log, Prometheus multiprocess metrics added up over the workers, and
SIGTERM letting the request in flight finish. (Not in the unit tier: it starts a server on
the loopback interface.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "services/portal/gunicorn.conf.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def _wait_until_up(url: str, proc: subprocess.Popen, deadline: float = 15) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            _get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_portal_gunicorn_config(tmp_path):
    web, metrics = _free_port(), _free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale")  # wiped at start-up
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "BBP_PORTAL_HOST": "127.0.0.1",
        "BBP_PORTAL_PORT": str(web),
        "BBP_PORTAL_METRICS_HOST": "127.0.0.1",
        "BBP_PORTAL_METRICS_PORT": str(metrics),
        "BBP_PORTAL_WORKERS": "2",
        "BBP_PORTAL_GRACEFUL_TIMEOUT": "10",
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "--config", str(CONF), "probe_wsgi:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{web}/", proc)
        assert not (multiproc / "counter_999999.db").exists()
        for _ in range(9):
            _get(f"http://127.0.0.1:{web}/x?token=secret")
        _wait_until_up(f"http://127.0.0.1:{metrics}/metrics", proc)
        _, body = _get(f"http://127.0.0.1:{metrics}/metrics")
        assert "probe_requests_total 10.0" in body.decode(), body.decode()

        # SIGTERM while a request is in flight: it still gets its answer.
        answer: dict[str, object] = {}

        def slow() -> None:
            answer["status"], answer["body"] = _get(f"http://127.0.0.1:{web}/slow", timeout=10)

        caller = threading.Thread(target=slow)
        caller.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        caller.join(timeout=15)
        assert proc.wait(timeout=15) == 0
        assert answer == {"status": 200, "body": b"done"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = proc.communicate()
    access = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(access) == 11
    first = next(a for a in access if a["path"] == "/x")
    assert first["event"] == "http_request" and first["status"] == 200
    assert first["request_id"] == "probe-rid-42"  # the app's correlation id, from its answer
    assert "secret" not in out, "no query strings in the log"
    assert any(a["path"] == "/slow" and a["status"] == 200 for a in access)
    assert {"timestamp", "method", "duration_ms", "remote"} <= set(first)
    errors = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any("Handling signal: term" in e["event"] for e in errors)
