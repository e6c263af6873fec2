"""The Bangla catalogue: every text a person can see on the portal has its Bangla, and the
catalogue compiles.

The texts are extracted from the portal's Python modules and Jinja2 templates as
``make translations`` extracts them (``services/portal/babel.cfg`` and the keywords below),
then looked up in ``translations/bn/LC_MESSAGES/messages.po``: a text missing there, empty or
still marked fuzzy (a changed English text whose Bangla nobody has checked) fails the test.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import bbp_portal

PACKAGE = Path(bbp_portal.__file__).parent
PORTAL = PACKAGE.parents[1]  # services/portal, where babel.cfg is
PO = PACKAGE / "translations" / "bn" / "LC_MESSAGES" / "messages.po"
#: Babel's keywords plus the lazy ones ``make translations`` adds (``-k _l -k lazy_gettext``).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def extracted() -> dict[str, str]:
    """Every text marked for translation in the portal → where it is first found."""
    with (PORTAL / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, str] = {}
    for name, line, message, _comments, _context in extract_from_dir(
        str(PORTAL), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{name}:{line}")
    return found


def catalogue() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="bn")


def test_every_text_a_person_sees_has_its_bangla():
    texts = extracted()
    assert len(texts) > 300  # the extraction really read the templates and the code
    bn = catalogue()
    lacking = []
    for msgid, where in sorted(texts.items(), key=lambda t: t[1]):
        message = bn.get(msgid)
        strings = message.string if message is not None else ""
        translated = all(strings) if isinstance(strings, tuple) else bool(strings)
        if message is None or message.fuzzy or not translated:
            state = "missing" if message is None else "fuzzy" if message.fuzzy else "empty"
            lacking.append(f"{where}: {state}: {msgid!r}")
    assert lacking == [], "run `make translations`, then translate these:\n" + "\n".join(lacking)


def test_the_catalogue_compiles():
    bn = catalogue()
    assert not bn.fuzzy  # pybabel compile skips a catalogue whose header is marked fuzzy
    problems = [f"{message.id!r}: {error}" for message, errors in bn.check() for error in errors]
    assert problems == []  # e.g. a %(count)s the Bangla lost
    compiled = io.BytesIO()
    write_mo(compiled, bn)
    compiled.seek(0)
    # A plural entry (ngettext) reads back with its forms as a list: key it by the singular.
    texts = {
        m.id[0] if isinstance(m.id, list | tuple) else m.id: m.string
        for m in read_mo(compiled)
        if m.id
    }
    assert texts["Dashboard"] == "ড্যাশবোর্ড"
    assert len(texts) == sum(1 for m in bn if m.id)
