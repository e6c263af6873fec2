"""The dashboard: live request counts, what needs attention, the person's own latest requests."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from tests.support.payments import make_uncleared, payment_rows, seed_bills

POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))


def live_count(html: str, state: str) -> int:
    found = re.search(rf'<tr data-state="{state}">.*?fw-semibold">([\d,]+)<', html, re.S)
    assert found, f"no {state} row"
    return int(found.group(1).replace(",", ""))


def recent_ids(html: str) -> list[int]:
    table = html.split('id="recent"', 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', table)]


def test_the_dashboard_shows_live_requests_attention_and_my_latest(engine, client_as) -> None:
    me = Actor(f"dash-{uuid.uuid4().hex[:6]}", "admin")
    other = Actor(f"dash-{uuid.uuid4().hex[:6]}", "admin")
    client = client_as("admin", me.login_id)
    before = client.get("/").get_data(as_text=True)
    assert recent_ids(before) == [] and "You have not started a request yet." in before

    mine = [
        operations.create_payment(
            engine, me, seed_bills(engine, [("DSCO", f"{10 + n}.00")]), key=f"d{n}", policy=POLICY
        ).request_id
        for n in range(6)
    ]
    operations.create_payment(
        engine, other, seed_bills(engine, [("DSCO", "9.00")]), key="d-other", policy=POLICY
    )
    operations.pause(engine, me, mine[0], "lunch")
    (payment,) = payment_rows(engine, mine[1])
    make_uncleared(engine, payment.id)

    after = client.get("/").get_data(as_text=True)
    # Newest first, five of them, none of another person's.
    assert recent_ids(after) == sorted(mine, reverse=True)[:5]
    # Seven new requests (nothing dispatches here): six queued, one paused by a person.
    assert live_count(after, "queued") == live_count(before, "queued") + 6
    assert live_count(after, "paused") == live_count(before, "paused") + 1
    assert live_count(after, "running") == live_count(before, "running")
    # The uncleared payment is counted and named; the card is marked.
    assert 'data-testid="uncleared"' in after
    assert int(re.search(r'data-testid="attention-count">(\d+)<', after).group(1)) >= 1
    assert 'id="card-attention"' in after and "border-danger" in after
    assert 'href="/attention"' in after and 'href="/wallet"' in after


def test_an_auditor_sees_figures_but_no_start_buttons(client_as) -> None:
    html = client_as("auditor", "dash-auditor").get("/").get_data(as_text=True)
    assert 'id="card-live"' in html and 'id="card-attention"' in html
    assert 'id="start-fetch"' not in html and 'id="start-payment"' not in html
    assert 'href="/audit/"' in html
    admin = client_as("admin", "dash-admin").get("/").get_data(as_text=True)
    assert 'id="start-fetch"' in admin and 'id="start-payment"' in admin
