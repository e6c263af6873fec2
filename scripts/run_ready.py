"""Print `make run`'s "ready" block once every process answers (run in the background).

`make run` starts this beside honcho, with `--watch` set to the shell that runs honcho: it
asks each process's health URL until all answer, then prints where to go, how to sign in
and where the one-time passwords, e-mails and SMS are — or, after `--timeout`, which ones
still do not answer. It ends quietly as soon as the watched process is gone (Ctrl-C).

The demo users' passwords come from the sandbox (`sandbox.mobiquity.users`), the same
source as the README's table: they are demo data of the Mobiquity stand-in, nothing real.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from sandbox.mobiquity.users import demo_users

# The users scripts/seed_demo.py registers in the portal.
DEMO_LOGINS = ("superadmin", "admin01")


def _env_port(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def checks() -> dict[str, str]:
    """Each process of the Procfile and the URL that says it is ready."""
    portal = _env_port("BBP_PORTAL_PORT", 8000)
    sandbox = _env_port("SANDBOX_PORT", 8090)
    sinks = _env_port("SANDBOX_SMS_PORT", 8091)
    return {
        "portal": f"http://127.0.0.1:{portal}/readyz",
        "sandbox": f"http://127.0.0.1:{sandbox}/__sandbox__/health",
        "sinks": f"http://127.0.0.1:{sinks}/__sandbox__/health",
        # BBP_HEALTH_PORT of the scheduler and the communicator, as the Procfile sets them.
        "scheduler": "http://127.0.0.1:8082/readyz",
        "communicator": "http://127.0.0.1:8083/readyz",
    }


def answers(url: str) -> bool:
    """True when `url` answers 2xx within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def alive(pid: int | None) -> bool:
    """Is the watched process still there (None: nothing watched)?"""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ready_block() -> str:
    """What a newcomer needs once everything answers."""
    portal = _env_port("BBP_PORTAL_PORT", 8000)
    sandbox = _env_port("SANDBOX_PORT", 8090)
    sinks = _env_port("SANDBOX_SMS_PORT", 8091)
    users = demo_users()
    width = max(len(login) for login in DEMO_LOGINS)
    sign_in = []
    for login in DEMO_LOGINS:
        user = users[login]
        otp = "asks for a one-time password" if user.otp_enabled else "no one-time password"
        sign_in.append(f"{login:<{width}}  {user.password:<10} ({otp})")
    data_dir = os.environ.get("SANDBOX_DATA_DIR", "").strip()
    ledger = (
        f"kept in {data_dir}/ across restarts (make sandbox-reset empties it)"
        if data_dir
        else "in memory only (forgotten when make run stops)"
    )
    lines = [
        f"Bulk Bill Payment is ready:  http://localhost:{portal}",
        "",
        "Sign in (demo users of the Mobiquity sandbox):",
        *(f"  {line}" for line in sign_in),
        f"One-time passwords:  http://localhost:{sandbox}/__sandbox__/otps/<login id>",
        f"                     e.g. http://localhost:{sandbox}/__sandbox__/otps/superadmin",
        f"E-mails and SMS:     http://localhost:{sinks}/",
        f"Mobiquity report:    http://localhost:{sandbox}/__sandbox__/report?from=YYYY-MM-DD",
        f"Sandbox ledger:      {ledger}",
        "",
        "Ctrl-C stops everything.",
    ]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join(["", rule, *lines, rule, ""])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watch", type=int, help="stop quietly when this process is gone")
    parser.add_argument("--timeout", type=float, default=180.0, help="give up after (s)")
    args = parser.parse_args(argv)
    pending = checks()
    deadline = time.monotonic() + args.timeout
    while pending:
        if not alive(args.watch):
            return 0
        pending = {name: url for name, url in pending.items() if not answers(url)}
        if not pending:
            break
        if time.monotonic() > deadline:
            missing = ", ".join(f"{name} ({url})" for name, url in pending.items())
            sys.stdout.write(
                f"\nmake run: not ready after {args.timeout:.0f} s: no answer from {missing}. "
                "Their lines above say why.\n"
            )
            sys.stdout.flush()
            return 1
        time.sleep(0.5)
    if alive(args.watch):
        sys.stdout.write(ready_block())
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
