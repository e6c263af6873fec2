"""The core: the money domain (states, transitions, decisions, free of I/O), the stores —
the only writers of the state tables — the request tallies, and the notification rules.

It works inside the caller's transaction and never touches the messaging transport (an
import contract holds it): what must be published is written to the outbox in the same
transaction, and the relay (platform) publishes it.
"""
