"""Shared foundation of the bulk bill-payment services.

Nothing here connects to anything at import time: every connection is made by the
service's own ``bootstrap()`` from settings it loaded itself.
"""
