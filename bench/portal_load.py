"""Benchmark: the portal under concurrent signed-in users (issue 19, item 6).

The portal runs as in production — gunicorn, gthread workers (``--workers`` × 4 threads),
sessions and rate limits in Redis — on a database of its own seeded with ``--accounts``
accounts, their fetched bills (one finished fetch request) and ``--payment-requests``
queued payment requests. ``--users`` virtual users sign in through the real pages (the
sandbox's demo users, registered as superadmins; the OTP read from the sandbox when
Mobiquity asks), then each walks the main pages and the ``/api/v1`` lists with its session,
one request after the other without think time, for ``--seconds``.

Alongside, a script with an API token (three threads) calls ``/api/v1/billers`` as fast
as it can: the per-token limit (``BBP_API_TOKEN_RATE_LIMIT``, production's default
``120/minute``, counted in Redis across the workers) must answer 429 past it. Afterwards
every session must still be valid, and a burst of sign-ins for one login id must meet the
per-login-id limit. Printed: p50/p95/max per page, errors (non-2xx, or a redirect to the
sign-in page: a lost session), requests/s, the portal's CPU ms per request (gunicorn's
master and workers, from /proc), the machine's load averages. Not run by CI::

    .venv/bin/python bench/portal_load.py [--users 8] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support

from _cpu import cpu_seconds, with_children  # noqa: E402

from bbp_common.platform.logging import configure_logging  # noqa: E402
from bbp_portal.api_tokens import service as tokens  # noqa: E402
from bbp_portal.audit_trail import Actor  # noqa: E402
from bbp_portal.directory import SqlUserStore, UserRecord  # noqa: E402
from bbp_portal.payments.service import create_payment_request  # noqa: E402
from sandbox.testing import run_sandbox  # noqa: E402
from tests.conftest import Servers  # noqa: E402
from tests.support.browser import portal_under_gunicorn  # noqa: E402
from tests.support.pipeline import (  # noqa: E402
    Pipeline,
    create_database,
    drop_database,
    new_vhost,
    seed_fetched_bills,
)
from tests.support.portal import DEMO_OTP_USERS, DEMO_PASSWORDS  # noqa: E402

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
USERS = ("admin01", "Aman01", "superadmin", "admin02", "OTP01")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def csrf(session: requests.Session, url: str) -> str:
    found = META_CSRF.search(session.get(url, timeout=30).text)
    assert found, url
    return found.group(1)


def sign_in(base: str, sandbox: object, login_id: str) -> requests.Session:
    """A person's browser session, signed in through the login (and OTP) pages."""
    person = requests.Session()
    answer = person.post(
        f"{base}/login",
        data={
            "login_id": login_id,
            "password": DEMO_PASSWORDS[login_id],
            "csrf_token": csrf(person, f"{base}/login"),
        },
        allow_redirects=False,
        timeout=30,
    )
    if login_id in DEMO_OTP_USERS:
        assert answer.headers.get("Location") == "/login/otp", (answer.status_code, login_id)
        answer = person.post(
            f"{base}/login/otp",
            data={"otp": sandbox.otp(login_id), "csrf_token": csrf(person, f"{base}/login/otp")},  # type: ignore[attr-defined]
            allow_redirects=False,
            timeout=30,
        )
    assert answer.headers.get("Location") == "/", (answer.status_code, login_id)
    return person


class Tally:
    """Latencies and failures per page, from every virtual user's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, page: str, ms: float, error: str | None) -> None:
        with self.lock:
            self.ms[page].append(ms)
            if error:
                self.errors[page][error] += 1


def walk(
    person: requests.Session, base: str, pages: list[tuple[str, str]], start: int, until: float
) -> Tally:
    tally = Tally()
    i = start
    while time.monotonic() < until:
        name, path = pages[i % len(pages)]
        i += 1
        t0 = time.perf_counter()
        try:
            answer = person.get(base + path, allow_redirects=False, timeout=30)
            status = answer.status_code
            error = None
            if status == 302 and "/login" in answer.headers.get("Location", ""):
                error = "signed out"
            elif status != 200:
                error = str(status)
            elif path.startswith("/api/"):
                answer.json()
        except (requests.RequestException, ValueError) as exc:
            error = type(exc).__name__
        tally.add(name, (time.perf_counter() - t0) * 1000, error)
    return tally


def hammer(base: str, token: str, until: float, statuses: Counter[int]) -> None:
    """A script with an API token, as fast as it can: the per-token limit must hold."""
    machine = requests.Session()
    machine.headers["Authorization"] = f"Bearer {token}"
    while time.monotonic() < until:
        statuses[machine.get(f"{base}/api/v1/billers", timeout=30).status_code] += 1


def seed(pipe: Pipeline, accounts: int, payment_requests: int) -> tuple[int, int]:
    """Accounts, their fetched bills, payment requests; returns (fetch id, payment id)."""
    pipe.seed_billers()
    store = SqlUserStore(pipe.engine)
    for login_id in USERS:
        store.add(
            UserRecord(
                login_id=login_id,
                email=f"{login_id.lower()}@bbp.example",
                role="superadmin",
                created_by="bench",
            )
        )
    utilities = ("DSCO", "DESCO", "JGDCL")
    wanted = [
        (utilities[i % 3], f"71{i:05d}{1 + i % 8}") for i in range(accounts)
    ]  # last digit 1-8: every account has bills
    found = seed_fetched_bills(pipe, wanted)
    bill_ids = [ids[0] for ids in found.values()]
    payment_id = 0
    for n in range(payment_requests):
        chunk = bill_ids[n * 10 : (n + 1) * 10]
        if chunk:
            payment_id = create_payment_request(pipe.engine, "admin01", chunk).request_id
    with pipe.engine.connect() as conn:
        import sqlalchemy as sa

        fetch_id = conn.execute(
            sa.text("SELECT MAX(id) FROM bulk_requests WHERE kind = 'fetch'")
        ).scalar_one()
    return int(fetch_id), int(payment_id)


def main() -> None:
    configure_logging("bench", "WARNING", "console")  # not the seeding's own lines
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--payment-requests", type=int, default=10)
    args = parser.parse_args()

    servers = Servers()
    redis_url = os.environ.get("BBP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    name = f"bbp_bench_load_{uuid.uuid4().hex[:6]}"
    url = create_database(servers.db_url(), name)
    try:
        with (
            new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url,
            run_sandbox() as sandbox,
            tempfile.TemporaryDirectory() as tmp,
        ):
            pipe = Pipeline(url, amqp_url, sandbox)
            fetch_id, payment_id = seed(pipe, args.accounts, args.payment_requests)
            with portal_under_gunicorn(
                database_url=url,
                amqp_url=amqp_url,
                redis_url=redis_url,
                sandbox=sandbox,
                tmp_path=Path(tmp),
                BBP_PORTAL_WORKERS=str(args.workers),
                BBP_LOG_LEVEL="WARNING",
            ) as portal:
                run(args, portal, sandbox, pipe, fetch_id, payment_id)
            pipe.engine.dispose()
    finally:
        drop_database(servers.db_url(), name)


def run(args, portal, sandbox, pipe, fetch_id: int, payment_id: int) -> None:  # type: ignore[no-untyped-def]
    base = portal.base
    pages = [
        ("dashboard", "/"),
        ("requests list", "/requests"),
        (f"request page (fetch, {args.accounts} items)", f"/requests/{fetch_id}"),
        ("request page (payment)", f"/requests/{payment_id}"),
        ("pending bills", "/payments/pending"),
        ("accounts list", "/accounts"),
        ("audit", "/audit/"),
        ("api requests", "/api/v1/requests"),
        ("api request items", f"/api/v1/requests/{fetch_id}/items"),
        ("api payments", f"/api/v1/requests/{payment_id}/payments"),
        ("api pending bills", "/api/v1/pending-bills"),
        ("api accounts", "/api/v1/accounts"),
        ("api billers", "/api/v1/billers"),
    ]
    people = [
        (USERS[i % len(USERS)], sign_in(base, sandbox, USERS[i % len(USERS)]))
        for i in range(args.users)
    ]
    token = tokens.create(pipe.engine, Actor("admin01", "admin"), name="load", days=1).text
    for _login, person in people:  # warm up: every page once per user
        for _name, path in pages:
            person.get(base + path, allow_redirects=False, timeout=30)

    pids = with_children(portal.pid)
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    load_before = os.getloadavg()
    until = time.monotonic() + args.seconds
    tallies: list[Tally] = []
    statuses: Counter[int] = Counter()

    def user(i: int, person: requests.Session) -> None:
        tallies.append(walk(person, base, pages, i * 3, until))

    threads = [threading.Thread(target=user, args=(i, p)) for i, (_l, p) in enumerate(people)]
    threads += [
        threading.Thread(target=hammer, args=(base, token, until, statuses)) for _ in range(3)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    load_after = os.getloadavg()

    # Sessions held: every person is still signed in as who they were.
    lost = 0
    for login_id, person in people:
        me = person.get(f"{base}/api/v1/session", allow_redirects=False, timeout=30)
        lost += not (me.status_code == 200 and me.json().get("login_id") == login_id)
    # The sign-in limit per login id (5/minute) holds across the workers.
    stranger = requests.Session()
    sign_ins = Counter(
        stranger.post(
            f"{base}/login",
            data={
                "login_id": "loadcheck01",
                "password": "Wrong@123",
                "csrf_token": csrf(stranger, f"{base}/login"),
            },
            allow_redirects=False,
            timeout=30,
        ).status_code
        for _ in range(7)
    )

    merged = Tally()
    for tally in tallies:
        for page, values in tally.ms.items():
            merged.ms[page] += values
        for page, errors in tally.errors.items():
            merged.errors[page] += errors
    user_calls = sum(len(v) for v in merged.ms.values())
    all_calls = user_calls + sum(statuses.values())
    print(
        f"portal under load: {args.users} signed-in users + 1 token script, {elapsed:.0f} s, "
        f"{args.workers} gunicorn workers × 4 threads; {args.accounts} accounts, "
        f"{args.payment_requests} payment requests"
    )
    print(f"{'page':<34}{'calls':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  errors")
    for name, _path in pages:
        values = merged.ms.get(name, [])
        if not values:
            continue
        errors = dict(merged.errors.get(name, {})) or "0"
        print(
            f"{name:<34}{len(values):>7}{statistics.median(values):>9.1f}"
            f"{percentile(values, 95):>9.1f}{max(values):>9.1f}  {errors}"
        )
    every = [v for values in merged.ms.values() for v in values]
    print(
        f"{'all pages':<34}{len(every):>7}{statistics.median(every):>9.1f}"
        f"{percentile(every, 95):>9.1f}{max(every):>9.1f}  "
        f"{sum(sum(c.values()) for c in merged.errors.values())}"
    )
    print(
        f"users: {user_calls / elapsed:.1f} requests/s; with the token script: "
        f"{all_calls / elapsed:.1f} requests/s"
    )
    print(
        f"portal CPU: {cpu:.1f} s over {elapsed:.0f} s = {cpu * 1000 / all_calls:.1f} ms per "
        f"request ({len(pids)} processes)"
    )
    # A fixed window: a run of s seconds meets at most ceil(s / 60) + 1 windows.
    allowed = 120 * (int(elapsed // 60) + 2)
    calls = sum(statuses.values())
    verdict = (
        "not reached (too few calls)"
        if calls <= 120
        else ("holds" if statuses[429] and statuses[200] <= allowed else "DOES NOT HOLD")
    )
    print(
        f"token script, 3 threads, one token (limit 120/minute, fixed window, at most "
        f"{allowed} in this run): {dict(statuses)} — {verdict}"
    )
    print(
        f"sessions still valid after the run: {len(people) - lost}/{len(people)}; "
        f"7 sign-ins of one login id: {dict(sign_ins)}"
    )
    print(
        "load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f} ({} CPUs)".format(
            *load_before, *load_after, os.cpu_count()
        )
    )


if __name__ == "__main__":
    main()
