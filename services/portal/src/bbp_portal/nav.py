"""The navigation bar: one list, filtered by role.

Daily work comes first, as top-level links; the back-office pages (reconciliation with
Mobiquity's report; the superadmin's billers, users, audit log, notifications) sit in one
"Administration" menu so the bar stays on one line on a laptop screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask_babel import lazy_gettext as _l

from bbp_portal.auth.access import ROLES, current_user


@dataclass(frozen=True)
class NavItem:
    label: object  # a lazy translated string
    endpoint: str
    roles: tuple[str, ...] = ROLES
    admin: bool = False  # listed under "Administration"


NAV: list[NavItem] = [
    NavItem(_l("Dashboard"), "dashboard.home"),
    NavItem(_l("Bill accounts"), "accounts.index", ("admin", "superadmin", "auditor")),
    NavItem(_l("Requests"), "requests.index", ("admin", "superadmin", "auditor")),
    NavItem(_l("Pay bills"), "payments.pending", ("admin", "superadmin")),
    NavItem(_l("Needs attention"), "payments.attention", ("admin", "superadmin", "auditor")),
    NavItem(_l("Find a payment"), "payments.search", ("admin", "superadmin", "auditor")),
    # Back-office work, not daily: in the menu, so the bar stays one line high.
    NavItem(
        _l("Reconciliation"), "reconcile.index", ("admin", "superadmin", "auditor"), admin=True
    ),
    NavItem(_l("Bulk resolutions"), "payments.resolutions", ("superadmin", "auditor"), admin=True),
    NavItem(_l("Billers"), "billers.index", ("superadmin",), admin=True),
    NavItem(_l("Users"), "users.index", ("superadmin",), admin=True),
    NavItem(_l("Audit log"), "audit.index", ("superadmin", "auditor"), admin=True),
    NavItem(_l("Notifications"), "notifications.index", ("superadmin",), admin=True),
    NavItem(_l("All API tokens"), "api_tokens.everyone", ("superadmin",), admin=True),
]


def init_nav(app: Flask) -> None:
    @app.context_processor
    def _nav() -> dict[str, object]:
        user = current_user()
        items = [i for i in NAV if user is not None and user.role in i.roles]
        return {
            "nav_items": [i for i in items if not i.admin],
            "nav_admin_items": [i for i in items if i.admin],
            "user": user,
        }
