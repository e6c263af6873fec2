"""Demo admin users of the Mobiquity stand-in (demo data: the README lists the passwords).

`Aman01` and `OTP01` are the users of the scope document's examples, with the passwords the
examples use, so the document's payloads replay against the sandbox unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: What `GET /__sandbox__/users` shows of a user, in this order.
PUBLIC = ("login_id", "user_id", "name", "email", "msisdn", "workspace", "otp_enabled", "blocked")


@dataclass
class User:
    """A Mobiquity web user; `password` changes through change-credential and self-set-auth."""

    login_id: str
    password: str
    otp_enabled: bool
    user_id: str
    email: str
    msisdn: str
    name: str
    workspace: str = "ADMIN"
    blocked: bool = False
    last_login_time: str | None = field(default=None)

    def public_json(self) -> dict[str, object]:
        """What `GET /__sandbox__/users` shows: everything but the password."""
        return {name: getattr(self, name) for name in PUBLIC}


def demo_users() -> dict[str, User]:
    """A fresh copy of the demo users, keyed by login id (reset restores these)."""
    users = [
        User(
            "superadmin",
            "Super@123",
            True,
            "US.10000000000000001",
            "superadmin@bbp.example",
            "01710000001",
            "Demo Super Admin",
        ),
        User(
            "admin01",
            "Admin@123",
            False,
            "US.10000000000000002",
            "admin01@bbp.example",
            "01710000002",
            "Demo Admin",
        ),
        User(
            "admin02",
            "Admin@234",
            True,
            "US.10000000000000003",
            "admin02@bbp.example",
            "01710000003",
            "Demo Admin With OTP",
        ),
        User(
            "Aman01",
            "Com@1357",
            False,
            "US.29211689145575742",
            "aman01@bbp.example",
            "01710000004",
            "Aman (scope document login example)",
        ),
        User(
            "OTP01",
            "Com@8989",
            True,
            "US.462873139693364",
            "otp01@bbp.example",
            "01710000005",
            "OTP user (scope document password examples)",
        ),
        User(
            "blocked01",
            "Block@123",
            False,
            "US.10000000000000006",
            "blocked01@bbp.example",
            "01710000006",
            "Blocked Demo Admin",
            blocked=True,
        ),
    ]
    return {u.login_id: u for u in users}
