"""Every page names the parameters it takes (bbp_portal.inputs), proven by walking the URL map.

A page added later without its entry fails here: otherwise its parameters would all be
refused as unknown (a page without parameters declares ``{}``).
"""

from __future__ import annotations

from bbp_portal.inputs import API_IDS, PAGES, UNCHECKED, WTFORMS_PAGES
from tests.support.portal import make_unit_portal


def test_every_page_declares_its_parameters():
    app = make_unit_portal().app
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    pages = {e for e in endpoints if not e.startswith("api_v1.")}
    undeclared = pages - set(PAGES) - WTFORMS_PAGES - UNCHECKED
    assert not undeclared, f"add these endpoints to bbp_portal.inputs.PAGES: {sorted(undeclared)}"
    assert not (set(PAGES) | WTFORMS_PAGES | UNCHECKED | set(API_IDS)) - endpoints  # none stale


def test_a_long_address_gets_our_page_even_signed_out():
    client = make_unit_portal().client()
    answer = client.get("/login?next=/" + "x" * 5000)
    assert answer.status_code == 414
    page = answer.get_data(as_text=True)
    assert "The address is too long (5,006 characters; at most 4,096)" in page
    assert '<html lang="en">' in page
