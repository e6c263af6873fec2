"""The README's and decisions' state machines are generated from the transition tables the
stores enforce, and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "state_tables", ROOT / "scripts" / "state_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_documents_show_the_state_machines_the_stores_enforce():
    module = _module()
    block = module.render()
    for path in module.FILES:
        text = path.read_text(encoding="utf-8")
        current = text[text.index(module.START) : text.index(module.END) + len(module.END)]
        assert current == block, (
            f"{path.name}'s state machine is out of date: run `python scripts/state_tables.py"
            " --write`"
        )


def test_every_transition_is_explained():
    module = _module()
    for kind, table in (
        ("payment", module.payments.TRANSITIONS),
        ("request", module.requests.REQUEST_TRANSITIONS),
        ("fetch", module.requests.FETCH_TRANSITIONS),
    ):
        for source, targets in table.items():
            for target in targets:
                assert (kind, source.value, target.value) in module.WHO, (kind, source, target)
