"""Who is signed in, and what they may do.

The session holds a ``user`` mapping ``{"login_id", "role", "language"}`` once sign-in
succeeded (see the sign-in views). Every view outside sign-in, health and readiness is
guarded: by :func:`install_guard` (deny by default) and by :func:`login_required` or
:func:`role_required`. Actions that move money also need a fresh step-up
(:func:`step_up_fresh`, made on the step-up pages of ``auth.stepup``).
"""

from bbp_portal.auth.access import (
    OPERATORS,
    ROLES,
    SignedInUser,
    TokenCaller,
    current_token,
    current_user,
    install_guard,
    is_public,
    login_required,
    public,
    role_required,
    safe_next,
)
from bbp_portal.auth.sessions import (
    forget_step_up,
    refused_or_step_up,
    step_up_fresh,
    step_up_required,
    step_up_until,
)

__all__ = [
    "OPERATORS",
    "ROLES",
    "SignedInUser",
    "TokenCaller",
    "current_token",
    "current_user",
    "forget_step_up",
    "install_guard",
    "is_public",
    "login_required",
    "public",
    "refused_or_step_up",
    "role_required",
    "safe_next",
    "step_up_fresh",
    "step_up_required",
    "step_up_until",
]
