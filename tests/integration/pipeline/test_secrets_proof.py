"""Secrets proof (issue 19, item 5): passwords, OTPs, the MPIN, Mobiquity's client secret and
an API token never reach a log line, a row, a Redis value, a message or a page.

One run is the whole life of a user against the real services: the portal under gunicorn,
a real scheduler and communicator, MariaDB, RabbitMQ, Redis and the Mobiquity sandbox
(started with an MPIN and a client secret of the run's own). ``OTP01`` (Mobiquity asks it
for OTPs) forgets its password and sets a new one (OTP), signs in (a mistyped password and
a mistyped OTP first), changes its password, makes an API token (step-up: password + OTP)
and uses it, confirms a payment (step-up: password + OTP) that the scheduler and
communicator pay at the sandbox with the MPIN. Then everything the run left is searched
(``tests.support.secrets``): the three services' logs (at DEBUG), every column of every
table, the portal's Redis values, every message that crossed the two exchanges (a tracing
queue bound with ``#``), and every page and header served, except the one page that shows
the new token, once.

The flow runs twice with different secrets; a short secret (OTP, MPIN) counts only where
both runs find theirs at the same place. The proof can fail: each run plants a 6-digit
"secret" of its own in the path of a page it asks for and in the API token's name; the
search must find it in the portal's access log and in the ``api_tokens.name`` column, in
both runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import signal
import string
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from bbp_common.platform.db.tables import api_tokens
from bbp_portal.directory import SqlUserStore, UserRecord
from sandbox.testing import RunningSandbox, run_sandbox
from tests.conftest import Servers, new_database
from tests.support import secrets as search
from tests.support.browser import portal_under_gunicorn
from tests.support.pipeline import (
    ROOT,
    Pipeline,
    drop_database,
    new_vhost,
    seed_fetched_bills,
)
from tests.support.portal import form_value, href

pytestmark = pytest.mark.timeout(240)

LOGIN_ID = "OTP01"  # Mobiquity asks this demo user for an OTP at every sign-in
TOKEN_TEXT = re.compile(r"bbp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


def password() -> str:
    """10 characters (Mobiquity's most): letters, digits and a sign, unlike anything else."""
    alphabet = string.ascii_letters + string.digits
    return "Q" + "".join(secrets.choice(alphabet) for _ in range(7)) + "#" + secrets.choice("xyz")


def location(answer: requests.Response) -> str:
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:1500])
    return answer.headers["Location"]


@dataclass
class Run:
    """What one run used and what it left."""

    secrets: dict[str, list[str]]
    haystacks: list[search.Haystack]
    token: str
    token_row: Any
    exempt_pages: list[search.Page]
    routing_keys: set[str]


def step_up(
    person: search.Client, sandbox: RunningSandbox, url: str, typed: str, otps: list[str]
) -> str:
    """The step-up page: the password, then Mobiquity's OTP; returns where it sends back."""
    assert location(person.post(url, {"password": typed})) == "/step-up/otp"
    otps.append(sandbox.otp(LOGIN_ID))
    return location(person.post("/step-up/otp", {"otp": otps[-1]}))


def life_of_a_user(pipe: Pipeline, base: str, planted: str) -> tuple[search.Client, dict[str, Any]]:
    """Forgot password, sign-in with OTP, change password, an API token, a paid request."""
    sandbox = pipe.sandbox
    first, second, otps = password(), password(), []
    person = search.Client(base)

    # Forgotten password: Mobiquity's OTP, then the first new password.
    assert location(person.post("/forgot-password", {"login_id": LOGIN_ID})) == (
        "/forgot-password/otp"
    )
    otps.append(sandbox.otp(LOGIN_ID))
    answer = person.post("/forgot-password/otp", {"otp": otps[-1]})
    assert location(answer) == "/forgot-password/new"
    answer = person.post("/forgot-password/new", {"new_password": first, "confirm_password": first})
    assert location(answer) == "/login"

    # Sign-in: a mistyped password first (often a near miss of the real one: it must not be
    # written down either), then the password, a mistyped OTP, and the OTP.
    mistyped = password()
    refused = person.post("/login", {"login_id": LOGIN_ID, "password": mistyped})
    assert refused.status_code in (200, 400, 401), refused.status_code
    assert location(person.post("/login", {"login_id": LOGIN_ID, "password": first})) == (
        "/login/otp"
    )
    otps.append(sandbox.otp(LOGIN_ID))
    wrong_otp = next(c for c in (f"{secrets.randbelow(10**6):06d}" for _ in "xyz") if c != otps[-1])
    refused = person.post("/login/otp", {"otp": wrong_otp})
    assert refused.status_code == 400 or location(refused) == "/login/otp", refused.status_code
    assert location(person.post("/login/otp", {"otp": otps[-1]})) == "/"

    # Change the password (Mobiquity's user token from the sign-in is still fresh).
    changed = person.post(
        "/account/password",
        {"old_password": first, "new_password": second, "confirm_password": second},
    )
    assert location(changed) == "/", changed.text[:1000]

    # An API token: a step-up, then the page that shows it once.
    here = location(person.get("/tokens/new"))
    step = href(person.get(here).text, "token-step-up")
    assert step_up(person, sandbox, step, second, otps) == here
    made = person.post(here, {"name": f"proof {planted}", "expires_in_days": "7", "role": "admin"})
    assert made.status_code == 200, made.text[:1000]
    (token,) = set(TOKEN_TEXT.findall(made.text))
    person.pages[-1].exempt = True
    bearer = {"Authorization": f"Bearer {token}"}
    assert person.get("/api/v1/session", headers=bearer).json()["via"] == "token"

    # A paid request: confirm two fetched bills, step up, pay; the pipeline pays them.
    bills = seed_fetched_bills(pipe, [("DSCO", "61000002"), ("JGDCL", "61000005")])
    ids = ",".join(str(found[0]) for found in bills.values())
    confirm = person.get(f"/payments/new?scope=ids&ids={ids}").text
    form = {
        name: form_value(confirm, name)
        for name in ("idempotency_key", "scope", "ids", "selection", "confirm_url")
    }
    asked = location(person.post("/payments", form, page=form["confirm_url"]))
    assert asked.startswith("/step-up?")
    assert step_up(person, sandbox, asked, second, otps) == form["confirm_url"]
    paid = location(person.post("/payments", form, page=form["confirm_url"]))
    request_id = int(paid.rsplit("/", 1)[1])
    pipe.wait_finished(request_id, timeout=60)
    assert sandbox.ledger(), "the sandbox was paid"

    # What people and scripts read afterwards, the planted secret's page among them (the
    # audit trail as a superadmin reads it).
    SqlUserStore(pipe.engine).update(
        LOGIN_ID, email="otp01@bbp.example", role="superadmin", mobile=None, language="en"
    )
    request = f"/requests/{request_id}"
    pages = ("/", "/requests", request, f"{request}/export.csv", "/payments/pending", "/audit/")
    for page in (*pages, "/accounts", "/tokens/", "/tokens/all", "/users/", "/notifications/"):
        assert person.get(page).status_code == 200, page
    apis = ("/api/v1/requests", f"/api/v1{request}", f"/api/v1{request}/payments")
    for api in (*apis, f"/api/v1{request}/history", "/api/v1/pending-bills", "/api/v1/session"):
        assert person.get(api, headers=bearer).status_code == 200, api
    assert person.get(f"/secrets-proof/{planted}").status_code == 404
    used = {
        "password_reset": [first],
        "password_changed": [second],
        "password_mistyped": [mistyped],
        "otp": otps,
        "otp_mistyped": [wrong_otp],
        "api_token": [token, token.split("_", 2)[2]],
    }
    return person, used


def migrated_database(servers: Servers, name: str) -> str:
    """A new database, migrated by a child process: alembic's API is not thread-safe, and
    the two runs migrate theirs at the same time."""
    admin = sa.create_engine(servers.db_url(), isolation_level="AUTOCOMMIT")
    new_database(admin, name)
    admin.dispose()
    url = servers.db_url(name)
    migrate = "import sys; from tests.conftest import migrate; migrate(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", migrate, url], cwd=ROOT, check=True, capture_output=True, timeout=180
    )
    return url


def one_run(servers: Servers, redis_url: str, folder: Path) -> Run:
    """A whole run on a database, vhost, sandbox and portal of its own; all gone afterwards."""
    mpin = "".join(secrets.choice(string.digits) for _ in range(5))
    client_secret = "cs-" + secrets.token_urlsafe(18)
    planted = f"{secrets.randbelow(10**6):06d}"
    name = f"bbp_secrets_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(3) as pool:
        # Database, vhost and sandbox side by side (each mostly waits for another process).
        stack.callback(drop_database, servers.db_url(), name)
        database = pool.submit(migrated_database, servers, name)
        vhost = new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url)
        amqp = pool.submit(stack.enter_context, vhost)
        sandbox_env = {"SANDBOX_PAYER_MPIN": mpin, "SANDBOX_CLIENT_SECRET": client_secret}
        sandbox = stack.enter_context(run_sandbox(env=sandbox_env))
        url, amqp_url = database.result(), amqp.result()
        pipe = Pipeline(url, amqp_url, sandbox, env_overrides={"BBP_LOG_LEVEL": "DEBUG"})
        stack.callback(pipe.engine.dispose)
        stack.callback(pipe.stop_all)
        pipe.seed_billers()
        SqlUserStore(pipe.engine).add(
            UserRecord(login_id=LOGIN_ID, email="otp01@bbp.example", role="admin", created_by="t")
        )
        search.trace_messages(amqp_url)
        starting = [pool.submit(pipe.start, kind) for kind in ("scheduler", "communicator")]
        with portal_under_gunicorn(
            database_url=url,
            amqp_url=amqp_url,
            redis_url=redis_url,
            sandbox=sandbox,
            tmp_path=folder,
            BBP_PORTAL_WORKERS="1",
            BBP_LOG_LEVEL="DEBUG",
            BBP_LOG_FORMAT="json",
            BBP_APPROVAL_THRESHOLD="off",
            BBP_APPROVAL_DAILY_THRESHOLD="off",
        ) as portal:
            services = [started.result() for started in starting]
            person, used = life_of_a_user(pipe, portal.base, planted)
            prefix = f"bbp:e2e:{portal.base.rsplit(':', 1)[1]}:"
            stacks = [*search.redis_haystacks(redis_url, prefix)]
            for service in services:  # they stop while the portal does
                service.signal(signal.SIGTERM)
        for service in services:  # every line written: they flush their logs as they stop
            service.process.wait(60)
        messages = search.traced(amqp_url)
        stacks += search.log_haystacks("portal", folder / "portal.log")
        for service in services:
            stacks += search.log_haystacks(service.kind, service.log_path)
        stacks += search.database_haystacks(pipe.engine)
        stacks += search.message_haystacks(messages)
        stacks += search.page_haystacks(person.pages)
        token = used["api_token"][0]
        with pipe.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_tokens).where(api_tokens.c.public_id == token.split("_")[1])
            ).one()
    return Run(
        {**used, "mpin": [mpin], "client_secret": [client_secret], "planted": [planted]},
        stacks,
        token,
        row,
        [page for page in person.pages if page.exempt],
        {message.routing_key for message in messages},
    )


def test_no_secret_in_any_log_row_message_or_page_of_two_runs(
    servers: Servers, redis_url: str, tmp_path: Path
) -> None:
    if not servers.rabbitmqctl:
        pytest.skip("the secrets proof needs rabbitmqctl to make a vhost of its own")
    # The two runs share nothing (database, vhost, sandbox, portal, Redis prefix): side by
    # side, the proof takes the time of one.
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(one_run, servers, redis_url, tmp_path / n) for n in ("a", "b")]
        first, second = (run.result() for run in runs)
    for run in (first, second):
        # Everything the search needs was there to search.
        places = {stack.place[0] for stack in run.haystacks}
        assert places == {"log", "db", "redis", "amqp", "page"}, places
        assert any(key.startswith("command.pay") for key in run.routing_keys), run.routing_keys
        # The person's session in Redis (Mobiquity's token in it sealed) and the rate-limit
        # counters were searched.
        assert any(st.place == ("redis", "session:K") for st in run.haystacks)
        assert any("ratelimit" in st.place[-1] for st in run.haystacks if st.place[0] == "redis")
        services = {stack.place[1] for stack in run.haystacks if stack.place[0] == "log"}
        assert services == {"portal", "scheduler", "communicator"}, services
        # The token is kept as a hash of its secret part, never as itself.
        secret_part = run.token.split("_", 2)[2]
        assert run.token_row.secret_sha256 == hashlib.sha256(secret_part.encode()).hexdigest()
        assert secret_part not in repr(tuple(run.token_row))
        # The one page that shows it (and only that one) has it: the search would see it.
        (shown,) = run.exempt_pages
        assert run.token in shown.body

    hits = [search.find(run.haystacks, run.secrets) for run in (first, second)]
    leaks = search.counted(*hits, first.secrets, second.secrets)

    # The planted secret (short, so only counted where both runs found it) is found where it
    # was planted: the portal's access log line of that request.
    planted = {hit.place for hit in leaks if hit.secret == "planted"}
    evidence = [*search.excerpts(first.haystacks, first.secrets, hits[0])]
    evidence += search.excerpts(second.haystacks, second.secrets, hits[1])
    assert ("log", "portal", "http_request") in planted, evidence
    assert ("db", "api_tokens", "name") in planted, evidence

    real = sorted((hit for hit in leaks if hit.secret != "planted"), key=str)
    assert real == [], "\n".join(e for e in evidence if not e.startswith("planted"))


def test_a_short_secret_counts_only_where_both_runs_find_it() -> None:
    """The rule that keeps chance digits out, and keeps distinctive secrets in."""
    one = {"otp": ["123456"], "password": ["Qabcdefg#x"]}
    two = {"otp": ["654321"], "password": ["Qhijklmn#y"]}
    first = search.find(
        [
            search.Haystack(("db", "payments", "amount"), "1234567.00"),  # chance digits
            search.Haystack(("log", "portal", "otp_checked"), "otp 123456"),
            search.Haystack(("page", "GET", "/"), "Qabcdefg%23x"),  # URL-encoded
        ],
        one,
    )
    second = search.find([search.Haystack(("log", "portal", "otp_checked"), "654321")], two)
    assert search.counted(first, second, one, two) == {
        search.Hit("otp", ("log", "portal", "otp_checked")),
        search.Hit("password", ("page", "GET", "/")),
    }
