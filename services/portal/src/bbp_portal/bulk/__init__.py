"""What every bulk request shares, whatever its kind (fetch or payment).

The request row and its progress read from the tallies (``queries``), the outbox rows that
tell the scheduler (``service``: ``request.submitted``, ``request.changed``, cancelling), the
after-commit relay of this worker process (``publishing``), the request's JSON shape
(``schemas``), the portal's request metrics (``metrics``) and the registry of request kinds
(``kinds``) through which the pages every request shares (``/requests/<id>``, its cancel
button, its export) reach the kind's own page, cancel and rows.

``requests/`` (fetch requests and the request list) and ``payments/`` (payment requests)
both build on this package; neither imports the other.
"""
