"""A cause's pattern and its sentence: what the catalogue is made of (``bbp_portal.words``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Cause:
    """One kind of cause: the stable code (for tests and logs), its pattern and sentence."""

    code: str
    pattern: re.Pattern[str]
    sentence: Any  # a lazy string with %(name)s places for the pattern's named groups


def _c(code: str, pattern: str, sentence: Any) -> Cause:
    return Cause(code, re.compile(pattern, re.IGNORECASE), sentence)


FALLBACK = _l("Recorded by the system (the details say more).")
