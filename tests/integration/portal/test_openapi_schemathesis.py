"""The OpenAPI document tells the truth (issue 19, item 2): schemathesis runs every operation
of ``/api/v1`` against the real portal — the run's MariaDB and Redis, served on a loopback
port by this process — signed in as a superadmin, and all its default checks must
pass: no 5xx, every answer valid against the document (status code listed, body schema,
content type, date-times with their zone, amounts as decimal strings), schema-valid
requests accepted, schema-violating ones refused, authentication enforced, 405s that say
``Allow``, and the stateful phase following the document's links (create an account → read,
change, delete it; a page → its first item, its next page).

Two runs: a person's session (the ``bbp_session`` cookie and X-CSRFToken), and an API token
(``Authorization: Bearer``) over the operations the document opens to tokens. Data-driven:
whatever operations the document lists are tested, so new ones are covered as they come.

The fixed seed and the bounded number of examples keep it at about a minute;
``BBP_SCHEMATHESIS_EXAMPLES=40`` (and ``BBP_SCHEMATHESIS_SEED``) make the longer run of
``docs/security.md``. The portal never calls Mobiquity from ``/api/v1`` (fetches and payments
are queued through the outbox; the broker here is a closed port, so they stay there);
Mobiquity's address is a closed port all the same.

How schemathesis is driven: its engine (what ``schemathesis run`` uses, every phase, the
stateful one included) over HTTP. Its pytest integration (``schemathesis.pytest``) does not
run under pytest 9 (it writes ``Node._nodeid``, gone in pytest 9), and its in-process WSGI
transport passes ``max_redirects`` to werkzeug; the HTTP transport is the one the CLI uses.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from schemathesis import engine as st_engine
from schemathesis.engine import events
from schemathesis.generation import GenerationMode
from werkzeug.serving import WSGIRequestHandler, make_server

from bbp_portal.api.openapi import DECIMAL_PATTERN, ERRORS, build_spec
from bbp_portal.api_tokens import service as tokens
from bbp_portal.app import create_app
from bbp_portal.audit_trail import Actor
from tests.conftest import RUN_ID, Servers, migrate
from tests.support.accounts import sign_in
from tests.support.payments import seed_billers, seed_bills
from tests.support.portal import base_settings, register

SEED = int(os.environ.get("BBP_SCHEMATHESIS_SEED", "42"))
#: Fuzzing cases per operation (the examples and coverage phases add their own).
EXAMPLES = int(os.environ.get("BBP_SCHEMATHESIS_EXAMPLES", "2"))
#: Stateful scenarios (chains of linked calls) per run.
SCENARIOS = int(os.environ.get("BBP_SCHEMATHESIS_SCENARIOS", str(max(10, EXAMPLES * 5))))

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def own_database(servers: Servers) -> Iterator[str]:
    """A database of this module's own: the fuzzer deactivates billers, renames groups and
    deletes accounts that the other tests of the run's database rely on."""
    name = f"bbp_test_{RUN_ID}_openapi"
    admin = sa.create_engine(servers.db_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    try:
        migrate(servers.db_url(name))
        yield servers.db_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="module")
def portal(own_database: str, redis_url: str) -> Iterator[Flask]:
    """The portal as deployed (CSRF on), its API-token rate limit out of the way of the
    fuzzer (the limit itself is tested in test_api_tokens), a few billers and bills. Its
    broker is a closed port, as in the other portal tests: what it queues stays in the
    outbox table, so nothing can start a fetch or a payment."""
    app = create_app(
        base_settings(
            database_url=own_database,
            redis_url=redis_url,
            api_token_rate_limit="1000000/minute",
        ),
        TESTING=True,
    )
    engine = app.extensions["bbp.engine"]
    seed_billers(engine)
    seed_bills(engine, [("DSCO", "120.50"), ("DESCO", "75.00")], group="schemathesis")
    yield app
    engine.dispose()


class _Quiet(WSGIRequestHandler):
    """No access log line per request (thousands of them)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(portal: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, portal, threaded=False, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@dataclass
class Credentials:
    cookie: str
    csrf: str
    token: str


@pytest.fixture(scope="module")
def superadmin(portal: Flask) -> Credentials:
    login = f"st-{uuid.uuid4().hex[:8]}"
    register(portal, login, "superadmin")
    client = sign_in(portal.test_client(), "superadmin", login)
    csrf = client.get("/api/v1/session").json["csrf_token"]
    cookie = client.get_cookie(portal.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    token = tokens.create(
        portal.extensions["bbp.engine"], Actor(login, "superadmin"), name="schemathesis", days=7
    ).text
    return Credentials(cookie.value, csrf, token)


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    cases: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    links: set[str] = field(default_factory=set)
    links_total: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.per_operation)} operations, {self.cases} cases, "
            f"{sum(self.statuses.values())} responses {dict(sorted(self.statuses.items()))}, "
            f"links followed {len(self.links)} of {self.links_total}, "
            f"{len(self.failures)} failures, {self.seconds:.1f} s"
        )


#: A valid file per upload operation (the schema can only say "binary"). A new upload
#: operation adds its own, or its schema-valid cases fail with its parser's 422.
UPLOAD_SAMPLES: dict[str, bytes] = {
    "/api/v1/uploads": (
        b"utility,consumer_id,mobile,label,groups\r\nDSCO,ST-1001,01712345678,Office,\r\n"
    ),
}


def _keep_positive_cases_positive(context: Any, case: Any) -> Any:
    """The rules the document states in words, not in JSON schema (no schema can), applied
    to the schema-valid cases only — a schema-violating case keeps what makes it one:

    - a ``cursor`` is one the portal made (``page.next``/``prev``/``last``); a random string
      is refused (400 invalid_cursor) however well-formed. A schema-valid case gets none:
      the stateful phase passes real ones along the ``next_page`` links;
    - a range's ``…_from`` comes no later than its ``…_to`` (422 otherwise);
    - a schedule's ``start_at`` lies in the future (422 start_past);
    - an upload's file is a CSV (random bytes are refused, 422, by the parser — whose own
      fuzzing is item 3 of issue 19).
    """
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    query = case.query if isinstance(case.query, dict) else {}
    query.pop("cursor", None)
    for start in [name for name in query if name.endswith("_from")]:
        end = start.removesuffix("_from") + "_to"
        first, last = query.get(start), query.get(end)
        if isinstance(first, str) and isinstance(last, str) and first > last:
            query[start], query[end] = last, first
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("start_at"), str):
            body["start_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        sample = UPLOAD_SAMPLES.get(case.operation.path)
        if case.media_type == "multipart/form-data" and "file" in body and sample:
            body["file"] = sample
    return case


def run_schemathesis(
    base_url: str,
    document: dict[str, Any],
    config: dict[str, Any],
    only: Callable[[dict[str, Any]], bool] | None = None,
) -> Outcome:
    """The phases of ``schemathesis run`` with all default checks on; every failed check and
    engine error is collected. ``only``: which operations to test (the others stay in the
    document, for the links and the ``Allow`` check)."""
    settings: dict[str, Any] = {
        "seed": SEED,
        "base-url": base_url,
        "workers": 1,
        "generation": {"max-examples": EXAMPLES},
        **config,
    }
    phases = settings.setdefault("phases", {})
    # One undeclared method per path proves the 405 and its Allow header; the five more
    # schemathesis sends by default would add ~200 requests to every run.
    phases.setdefault("coverage", {}).setdefault("unexpected-methods", ["TRACE"])
    stateful = phases.setdefault("stateful", {})
    stateful.setdefault("max-steps", 6)
    stateful.setdefault("generation", {"max-examples": SCENARIOS})
    schema = schemathesis.openapi.from_dict(
        document, config=schemathesis.Config.from_dict(settings)
    )
    if only is not None:
        schema = schema.include(func=lambda ctx: only(ctx.operation.definition.raw))
    schema.hook("map_case")(_keep_positive_cases_positive)
    outcome = Outcome()
    started = time.monotonic()
    for event in st_engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            outcome.links_total = event.payload.transitions_selected
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            outcome.cases += len(recorder.cases)
            outcome.links |= {
                node.transition.id
                for node in recorder.cases.values()
                if node.transition is not None and node.is_transition_applied
            }
            outcome.per_operation[recorder.label] += len(recorder.cases)
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    outcome.statuses[interaction.response.status_code] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    detail = ""
                    interaction = recorder.interactions.get(case_id)
                    if interaction is not None:
                        sent = interaction.request
                        detail = f"\n    {sent.method} {sent.uri} {(sent.body or b'')[:300]!r}"
                        if interaction.response is not None:
                            answer = interaction.response
                            detail += f"\n    → {answer.status_code} {answer.content[:300]!r}"
                    outcome.failures.append(
                        f"{failure.operation} [{check.name}] {failure.title}: "
                        f"{failure.message[:500]}{detail}"
                    )
        elif isinstance(event, events.NonFatalError):
            outcome.failures.append(f"error in {event.label}: {event.info.message[:800]}")
        elif isinstance(event, events.FatalError):
            outcome.failures.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            outcome.failures += [f"{f.operation} {f.title}: {f.message}" for f in event.failures]
    outcome.seconds = time.monotonic() - started
    return outcome


def _report(name: str, outcome: Outcome) -> None:
    print(f"\nschemathesis ({name}, seed {SEED}, {EXAMPLES} examples): {outcome.summary()}")
    for label, count in sorted(outcome.per_operation.items()):
        print(f"  {count:5d}  {label}")
    unique = sorted(set(outcome.failures))
    assert not unique, f"{len(unique)} distinct failures:\n" + "\n".join(unique[:60])


def test_the_document_is_true_for_a_persons_session(
    portal: Flask, base_url: str, superadmin: Credentials
) -> None:
    document = build_spec(portal)
    outcome = run_schemathesis(
        base_url,
        document,
        {
            "headers": {"X-CSRFToken": superadmin.csrf},
            "auth": {"openapi": {"session": {"api_key": superadmin.cookie}}},
        },
    )
    operations = sum(len(item) for item in document["paths"].values())
    tested = {label for label in outcome.per_operation if label.split(" ")[0].isupper()}
    _report("session", outcome)
    assert len(tested) == operations, (operations, sorted(tested))
    assert outcome.links, "the stateful phase followed no link"


def test_the_document_is_true_for_an_api_token(
    portal: Flask, base_url: str, superadmin: Credentials
) -> None:
    """The operations the document opens to tokens (their ``security`` lists ``bearer``),
    called with the token alone — no cookie, no CSRF token; that a token is refused
    elsewhere is test_api_tokens' business. The boundaries of every value were walked by
    the session's run (the coverage phase, the same document); here the examples, fuzzing
    and stateful phases check what changes with the scheme, every default check on."""
    outcome = run_schemathesis(
        base_url,
        build_spec(portal),
        {
            "auth": {"openapi": {"bearer": {"bearer": superadmin.token}}},
            "generation": {"max-examples": max(1, EXAMPLES // 2)},
            "phases": {"coverage": {"enabled": False}},
        },
        only=lambda operation: {"bearer": []} in operation.get("security", []),
    )
    _report("API token", outcome)
    assert outcome.per_operation


def test_the_document_says_what_the_code_does(portal: Flask) -> None:
    """What schemathesis cannot see by sending requests: the security schemes name the real
    cookie and the bearer scheme, amounts are decimal strings, every error status is one the
    document explains, and a marshmallow validator's limit is in the document."""
    document = build_spec(portal)
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"]["name"] == portal.config["SESSION_COOKIE_NAME"] == "bbp_session"
    assert schemes["session"]["in"] == "cookie"
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    schemas = document["components"]["schemas"]
    amount = schemas["PendingBill"]["properties"]["amount"]
    assert amount == {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}
    assert re.match(DECIMAL_PATTERN, "1250.00") and not re.match(DECIMAL_PATTERN, "1e3")
    assert schemas["AccountIn"]["properties"]["consumer_id"]["maxLength"] == 40
    assert schemas["Group"]["properties"]["name"]["maxLength"] == 80
    listing = document["paths"]["/api/v1/accounts"]["get"]["parameters"]
    limit = next(p["schema"] for p in listing if p["name"] == "limit")
    assert (limit["minimum"], limit["maximum"]) == (1, 200)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"], (method, path)
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert answer["description"] == ERRORS[int(status)], (method, path, status)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
            if method != "get":
                assert {"400", "409"} <= set(operation["responses"]), (method, path)
    links = document["paths"]["/api/v1/accounts"]["post"]["responses"]["201"]["links"]
    assert links["api_v1.accounts.get_account.account_id"]["parameters"] == {
        "account_id": "$response.body#/id"
    }
