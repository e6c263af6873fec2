"""Benchmark: what an API token costs per call (issue 18), against a browser session.

Times GET /api/v1/billers through the app (test client, in process), a person's session and
an API token interleaved call by call, so both see the same load: the token's path adds its
check (one indexed SELECT of the token with its user, SHA-256 and a constant-time compare),
the per-token rate limit (one Redis round trip) and the last-used write — at most once a
minute per token, which the run counts. Also times the check alone. Own database
(BBP_BENCH_DATABASE_URL, default bbp_bench_accounts) and Redis db 15. Not run by CI::

    .venv/bin/python bench/api_tokens.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from _accounts_setup import percentile, prepare

from bbp_portal import create_app
from bbp_portal.api_tokens import service, store
from bbp_portal.audit_trail import Actor
from tests.support.accounts import sign_in
from tests.support.portal import base_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per side")
    args = parser.parse_args()
    settings = base_settings(
        database_url=prepare(),
        redis_url=os.environ.get("BBP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        log_level="WARNING",
        api_token_rate_limit="1000000/minute",  # counted as in production, never reached
    )
    app = create_app(settings, TESTING=True)
    engine = app.extensions["bbp.engine"]
    login = f"bench-tok-{uuid.uuid4().hex[:6]}"
    person = sign_in(app.test_client(), "admin", login)
    token = service.create(engine, Actor(login, "admin"), name="bench", days=1).text
    machine = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    writes = 0
    touch = store.touch

    def counting_touch(*a, **kw):  # type: ignore[no-untyped-def]
        nonlocal writes
        wrote = touch(*a, **kw)
        writes += int(wrote)
        return wrote

    store.touch = counting_touch  # type: ignore[assignment]

    for _ in range(50):  # warm both paths (pools, caches)
        person.get("/api/v1/billers")
        machine.get("/api/v1/billers", headers=headers)

    cookie_ms: list[float] = []
    token_ms: list[float] = []
    started_all = time.perf_counter()
    for _ in range(args.calls):
        t0 = time.perf_counter()
        assert person.get("/api/v1/billers").status_code == 200
        t1 = time.perf_counter()
        assert machine.get("/api/v1/billers", headers=headers).status_code == 200
        t2 = time.perf_counter()
        cookie_ms.append((t1 - t0) * 1000)
        token_ms.append((t2 - t1) * 1000)
    elapsed = time.perf_counter() - started_all

    check_us: list[float] = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        found = service.check(engine, token, ip="127.0.0.1")
        check_us.append((time.perf_counter() - t0) * 1e6)
        assert not isinstance(found, service.Refusal)

    def line(name: str, values: list[float], unit: str) -> str:
        return (
            f"{name:<38} median {statistics.median(values):8.2f} {unit}   "
            f"p95 {percentile(values, 95):8.2f} {unit}"
        )

    print(f"GET /api/v1/billers, {args.calls} calls per side, interleaved ({elapsed:.0f} s)")
    print(line("browser session (cookie, Redis)", cookie_ms, "ms"))
    print(line("API token (check + per-token limit)", token_ms, "ms"))
    print(line("service.check alone", check_us, "µs"))
    print(
        f"last-used writes: {writes} for {args.calls + 50 + args.calls} token checks in "
        f"{elapsed:.0f} s (at most one a minute: {store.TOUCH_EVERY} s)"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
