"""Shared by the unit and contract tests of mobiquity_client.

The helper modules (``mq_doc``: the document's payloads; ``mq_sockets``: tiny misbehaving
socket servers) live beside this file; put it on ``sys.path`` so both test tiers import them.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
