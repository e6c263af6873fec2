"""No source module over 400 lines without a stated reason (a line in its docstring
starting "Why one module of more than 400 lines:"): a reader finds rooms, not halls."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400
MARK = "Why one module of more than 400 lines:"


def test_every_long_module_says_why() -> None:
    unexplained = []
    for source in sorted(ROOT.glob("*/**/src/**/*.py")):
        if ".venv" in source.parts:
            continue
        text = source.read_text(encoding="utf-8")
        if text.count("\n") + 1 <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if MARK not in " ".join(doc.split()):
            unexplained.append(f"{source.relative_to(ROOT)} ({text.count(chr(10)) + 1} lines)")
    assert unexplained == [], "split these, or say why in their docstring: " + ", ".join(
        unexplained
    )
