"""Payment operations (issue 8): paying from the portal, maker-checker, pause/resume/cancel,
resolving uncleared payments, the wallet breaker, needs-attention, search.

``operations`` holds every change (each one transaction: the change, its audit entry, its
notifications and its outbox row commit together); ``queries`` the reading side; ``views``
and ``api`` are thin layers over both, so a page and an API call do exactly the same.
"""
