"""API tokens for machine clients (issue 18): made by a registered user right after a step-up,
at most that user's role, shown once, stored as a hash, revocable, at most 30 days.

``codec`` (the token's text: make, parse, hash) → ``store`` (the ``api_tokens`` table) →
``service`` (create, revoke, check a presented token: the rules) → ``forms`` → ``views`` (the
pages: mine, everyone's for a superadmin) and ``bearer`` (the Flask wiring of ``/api/v1``:
the token's own empty session, the check before the guard, no CSRF for a token, the
per-token rate limit, the audit entry of every mutating call).
"""
