"""The accounts the fetch benchmark and its Celery peer fetch (the same for both)."""

from __future__ import annotations


def fetch_accounts(count: int) -> list[tuple[str, str]]:
    """(utility, consumer id) the sandbox answers with bills or with none — no failure:
    retries would measure the retry policy, not the rate."""
    utilities = ("DSCO", "DESCO", "JGDCL")
    stems = {"DSCO": "1702", "DESCO": "2205", "JGDCL": "3265"}
    return [(utilities[n % 3], f"{stems[utilities[n % 3]]}{n:05d}") for n in range(count)]
