"""The navigation bar: one list, filtered by role.

A feature adds its page by giving its entry an ``endpoint``; entries without one are shown
disabled ("coming soon") so people see where the portal is heading.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask_babel import lazy_gettext as _l

from bbp_portal.auth.access import ROLES, current_user


@dataclass(frozen=True)
class NavItem:
    label: object  # a lazy translated string
    endpoint: str | None
    roles: tuple[str, ...] = ROLES


NAV: list[NavItem] = [
    NavItem(_l("Dashboard"), "home"),
    NavItem(_l("Bill accounts"), "accounts.index", ("admin", "superadmin", "auditor")),
    NavItem(_l("Billers"), "billers.index", ("superadmin",)),
    NavItem(_l("Requests"), "requests.index", ("admin", "superadmin", "auditor")),
    NavItem(_l("Pay bills"), "payments.pending", ("admin", "superadmin")),
    NavItem(_l("Needs attention"), "payments.attention", ("admin", "superadmin", "auditor")),
    NavItem(_l("Find a payment"), "payments.search", ("admin", "superadmin", "auditor")),
    NavItem(_l("Users"), "users.index", ("superadmin",)),
    NavItem(_l("Audit log"), "audit.index", ("superadmin", "auditor")),
    NavItem(_l("Notifications"), "notifications.index", ("superadmin",)),
]


def init_nav(app: Flask) -> None:
    @app.context_processor
    def _nav() -> dict[str, object]:
        user = current_user()
        items = [i for i in NAV if user is not None and user.role in i.roles]
        return {"nav_items": items, "user": user}
