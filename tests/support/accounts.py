"""Helpers for the accounts tests (integration, e2e, benchmarks)."""

from __future__ import annotations

import uuid


def unique(prefix: str = "") -> str:
    """A fresh digits-only consumer-id stem, so tests sharing the run's database never clash."""
    return prefix + str(uuid.uuid4().int)[:12]
