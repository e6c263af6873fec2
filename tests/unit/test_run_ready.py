"""`make run`'s "ready" block (scripts/run_ready.py): when it is printed, and what it says."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_ready() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_ready", ROOT / "scripts" / "run_ready.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_block_gives_the_readme_s_demo_users_and_where_things_are(
    run_ready: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", "var/sandbox")
    for name in ("BBP_PORTAL_PORT", "SANDBOX_PORT", "SANDBOX_SMS_PORT"):
        monkeypatch.delenv(name, raising=False)
    block = run_ready.ready_block()
    readme = (ROOT / "README.md").read_text()
    pairs = re.findall(r"`(superadmin|admin01)` / `([^`]+)`", readme)
    assert {login for login, _ in pairs} == {"superadmin", "admin01"}
    for login, password in pairs:
        assert re.search(rf"^\s+{login}\s+{re.escape(password)}\s", block, re.M), block
    assert "http://localhost:8000" in block
    assert "http://localhost:8090/__sandbox__/otps/superadmin" in block
    assert "http://localhost:8091/" in block
    assert "var/sandbox/" in block and "Ctrl-C" in block


def test_printed_once_everything_answers(
    run_ready: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    up: set[str] = set()

    def answers(url: str) -> bool:
        asked.append(url)
        up.add(url)  # each answers from its second question on
        return asked.count(url) > 1

    monkeypatch.setattr(run_ready, "answers", answers)
    monkeypatch.setattr(run_ready.time, "sleep", lambda _s: None)
    assert run_ready.main(["--watch", str(os.getpid())]) == 0
    out = capsys.readouterr().out
    assert out.count("is ready") == 1
    assert up == set(run_ready.checks().values())


def test_names_what_does_not_answer_after_the_timeout(
    run_ready: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run_ready, "answers", lambda url: "8082" not in url)
    assert run_ready.main(["--timeout", "0"]) == 1
    out = capsys.readouterr().out
    assert "no answer from scheduler (http://127.0.0.1:8082/readyz)" in out
    assert "is ready" not in out


def test_says_nothing_once_make_run_is_gone(
    run_ready: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    monkeypatch.setattr(run_ready, "answers", lambda url: False)
    assert run_ready.main(["--watch", gone.stdout.strip(), "--timeout", "60"]) == 0
    assert capsys.readouterr().out == ""
