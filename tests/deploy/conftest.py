"""Fixtures of the deployment checks: the rendered kustomizations, once per run.

The checks live in deploy/tools/deploycheck/ (one module per concern) and are run by
deploy/tools/deploy_check.py (`make deploy-check`); these tests run them and show, on mutated
copies, that each rule catches what it is for.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "deploy" / "tools", ROOT / "deploy" / "docker"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from deploycheck.render import render_all_once  # noqa: E402


@pytest.fixture(scope="session")
def units() -> dict[str, list[dict]]:
    """Every kustomization (dev, dev/migrate, prod, prod/migrate), rendered once."""
    return render_all_once(ROOT)


@pytest.fixture()
def fresh(units: dict[str, list[dict]]):  # type: ignore[no-untyped-def]
    """A deep copy of one render, for tests that break it on purpose."""

    def _copy(unit: str) -> list[dict]:
        return copy.deepcopy(units[unit])

    return _copy
