"""The portal's gunicorn configuration (services/portal/gunicorn.conf.py), run for real on a
probe app: access and error lines through the platform's logging (JSON or console, as
BBP_LOG_FORMAT says; secrets masked; the correlation id kept), Prometheus multiprocess
metrics added up over the workers, and SIGTERM letting the request in flight finish. (Not in
the unit tier: it starts a server on the loopback interface.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from probe_wsgi import BOOM_SECRET

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "services/portal/gunicorn.conf.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


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


def _start(tmp_path: Path, **env_overrides: str) -> tuple[subprocess.Popen, int, int, Path]:
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
        "BBP_LOG_FORMAT": "json",
        "BBP_LOG_LEVEL": "INFO",
        **env_overrides,
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
    return proc, web, metrics, multiproc


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return proc.communicate()


def test_portal_gunicorn_config(tmp_path):
    proc, web, metrics, multiproc = _start(tmp_path)
    try:
        _wait_until_up(f"http://127.0.0.1:{web}/", proc)
        assert not (multiproc / "counter_999999.db").exists()
        for _ in range(9):
            _get(f"http://127.0.0.1:{web}/x?token=secret", headers={"User-Agent": UA})
        _wait_until_up(f"http://127.0.0.1:{metrics}/metrics", proc)
        _, body = _get(f"http://127.0.0.1:{metrics}/metrics")
        assert "probe_requests_total 10.0" in body.decode(), body.decode()
        assert _get(f"http://127.0.0.1:{web}/boom")[0] == 500

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
        out, err = _stop(proc)
    # Every line gunicorn writes is one JSON object of the platform's logging, on stdout.
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert not err.strip(), err
    assert {line["service"] for line in lines} == {"portal"}
    access = [a for a in lines if a["logger"] == "gunicorn.access"]
    assert len(access) == 12
    first = next(a for a in access if a["path"] == "/x")
    assert first["event"] == "http_request" and first["status"] == 200
    assert first["correlation_id"] == "probe-rid-42"  # the app's correlation id, from its answer
    assert {"timestamp", "level", "method", "duration_ms", "remote", "process"} <= set(first)
    assert "secret" not in out, "no query strings in the log"
    assert first["user_agent"] == "probe/1.0 Bearer ***", "the secret masker saw the line"
    assert any(a["path"] == "/slow" and a["status"] == 200 for a in access)
    assert any(a["path"] == "/boom" and a["status"] == 500 for a in access)
    errors = [e for e in lines if e["logger"] == "gunicorn.error"]
    assert any("Handling signal: term" in e["event"] for e in errors)
    boom = next(e for e in errors if "/boom" in e["event"])
    assert boom["level"] == "error" and "RuntimeError" in boom["exception"]
    assert "mpin=***" in boom["exception"]
    assert BOOM_SECRET not in out and UA_SECRET not in out


def test_portal_gunicorn_logs_console_lines_when_told(tmp_path):
    """`make run` sets BBP_LOG_FORMAT=console: gunicorn's lines then look like the app's."""
    proc, web, _, _ = _start(tmp_path, BBP_LOG_FORMAT="console")
    try:
        _wait_until_up(f"http://127.0.0.1:{web}/", proc)
        _get(f"http://127.0.0.1:{web}/x", headers={"User-Agent": UA})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        out, err = _stop(proc)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines and not err.strip(), err
    assert not [line for line in lines if line.lstrip().startswith("{")], "no JSON line"
    access = [line for line in lines if "http_request" in line and "path=/x" in line]
    assert access and "correlation_id=probe-rid-42" in access[0], lines
    assert any("Handling signal: term" in line for line in lines)
    assert UA_SECRET not in out


def test_a_malformed_log_setting_stops_gunicorn_naming_it(tmp_path):
    proc, _, _, _ = _start(tmp_path, BBP_LOG_FORMAT="xml")
    assert proc.wait(timeout=15) != 0
    _, err = _stop(proc)
    assert "BBP_LOG_FORMAT" in err, err


UA_SECRET = "abcdef123456"
UA = f"probe/1.0 Bearer {UA_SECRET}"
