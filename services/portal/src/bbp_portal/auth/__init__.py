"""Who is signed in, and what they may do.

The session holds a ``user`` mapping ``{"login_id", "role", "language"}`` once sign-in
succeeded (see the sign-in views). Every view outside sign-in, health and readiness is
guarded by :func:`login_required` or :func:`role_required`.
"""

from bbp_portal.auth.access import (
    ROLES,
    SignedInUser,
    current_user,
    login_required,
    public,
    role_required,
)

__all__ = ["ROLES", "SignedInUser", "current_user", "login_required", "public", "role_required"]
