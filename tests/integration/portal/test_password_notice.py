"""A password change in the portal (real MariaDB and the sandbox) writes the password-changed
e-mail: its notification row and its command.notify outbox row, in one transaction, in the
user's language, and without the password anywhere. (Its delivery through the communicator
is what tests/integration/notify proves for every notification.)"""

from __future__ import annotations

import json

import sqlalchemy as sa

from bbp_common.platform.db.tables import notifications, outbox
from tests.support.portal import (
    change_password,
    register,
)


def test_a_changed_password_queues_the_e_mail_in_the_users_language(
    portal_app, portal_client, signed_in
):
    engine = portal_app.extensions["bbp.engine"]
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.max(notifications.c.id))).scalar() or 0
    signed_in(portal_client, role="admin")
    register(portal_app, "admin01", "admin", language="bn")
    answer = change_password(portal_client, "Admin@123", "Next@123")
    assert answer.headers["Location"] == "/"
    with engine.connect() as conn:
        found = conn.execute(sa.select(notifications).where(notifications.c.id > before)).all()
        assert len(found) == 1
        row = found[0]
        assert (row.kind, row.channel, row.recipient, row.language, row.state) == (
            "password_changed",
            "email",
            "admin01@bbp.example",
            "bn",
            "pending",
        )
        params = json.loads(row.params)
        assert params["login_id"] == "admin01" and params["how"] == "changed"
        commands = [
            json.loads(r.body)
            for r in conn.execute(
                sa.select(outbox.c.body).where(outbox.c.routing_key == "command.notify")
            )
        ]
    assert {
        "notification_id": row.notification_id,
        "channel": "email",
        "kind": "password_changed",
    } in [c["body"] for c in commands]
    for text in (row.params, *map(json.dumps, commands)):
        assert "Next@123" not in text and "Admin@123" not in text
