"""Every query parameter and form field: a bad date, a huge string, an unknown id, a wrong
type, an unknown or repeated parameter gets our error page (or the API's JSON error) with
the reason — never a 500, never silently ignored. And every link and filter form the pages
themselves make still works (a crawl of the pages as a superadmin).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest

from bbp_portal.inputs import MAX_QUERY_CHARS
from tests.support.accounts import unique

#: (path and query, status, words the page must show)
PAGE_CASES = [
    # bad dates: every date filter of the pages
    ("/requests?created_from=2026-13-45", 400, "The first day is not a date: 2026-13-45"),
    ("/requests?created_to=yesterday", 400, "The last day is not a date: yesterday"),
    ("/payments/pending?due_from=31/12/2026", 400, "The first due date is not a date"),
    ("/payments/pending?due_to=2026-02-30", 400, "The last due date is not a date"),
    ("/payments/new?scope=filter&due_to=2026-2-3", 400, "The last due date is not a date"),
    ("/audit/?from=2026-1-1", 400, "The first day is not a date: 2026-1-1"),
    ("/audit/?to=20261231", 400, "The last day is not a date"),
    # huge strings (cut without a word before)
    ("/accounts?q=" + "9" * 65, 400, "The search is longer than 64 characters (it has 65)"),
    ("/payments/search?q=" + "R" * 100, 400, "The search is longer than 64 characters"),
    ("/requests?created_by=" + "a" * 65, 400, "The person is longer than 64 characters"),
    ("/requests/fetch/new?scope=filter&utility=" + "D" * 17, 400, "The utility is longer"),
    ("/audit/?actor=" + "x" * 300, 400, "The person is longer than 64 characters"),
    # wrong types and unknown values (dropped before)
    ("/payments/pending?group_id=abc", 400, "The group must be a whole number, not abc"),
    ("/payments/pending?request=-4", 400, "The fetch request must be a whole number"),
    ("/notifications/?before=1.5", 400, "The page position must be a whole number"),
    ("/audit/?size=100000", 400, "The page size must be between 1 and 200"),
    ("/accounts?status=deleted", 400, "The status cannot be deleted; it is one of: active"),
    ("/accounts?sort=password", 400, "The sort order cannot be password"),
    ("/requests?kind=refund", 400, "The kind cannot be refund; it is one of: fetch, payment"),
    ("/requests?state=lost", 400, "The state cannot be lost"),
    ("/audit/?action=everything", 400, "The action cannot be everything"),
    ("/requests/fetch/new?scope=everyone", 400, "The selection cannot be everyone"),
    ("/requests/fetch/new?scope=ids&ids=1&ids=x", 400, "The chosen items must be a whole number"),
    ("/payments/new?ids=1,2,three", 400, "The chosen bills must be a whole number, not three"),
    # unknown ids in filters (an empty list before, as if nothing matched)
    ("/payments/pending?group_id=987654321", 404, "There is no group #987,654,321."),
    ("/accounts?group_id=987654321", 404, "There is no group #987,654,321."),
    ("/payments/pending?request=987654321", 404, "There is no fetch request #987,654,321."),
    ("/requests/fetch/new?scope=group&group_id=987654321", 404, "There is no group"),
    ("/requests/987654321", 404, "Not found"),
    ("/requests/99999999999999999999999999", 404, "Not found"),
    ("/payments/99999999999999999999999999", 404, "Not found"),
    # parameters a page does not take, or takes once
    ("/requests?q=x", 400, "This page does not take q."),
    ("/payments/search?q=a&q=b", 400, "q is given more than once."),
    ("/attention?all=1", 400, "This page does not take all."),
    ("/language/xx", 404, "Not found"),
    # the address itself
    ("/payments/search?q=" + "x" * 6000, 414, "The address is too long (6,002 characters"),
]


@pytest.fixture()
def superadmin(client_as):
    return client_as("superadmin")


@pytest.mark.parametrize(("url", "status", "words"), PAGE_CASES)
def test_a_bad_parameter_gets_our_page_with_the_reason(superadmin, url, status, words):
    answer = superadmin.get(url)
    page = answer.get_data(as_text=True)
    assert answer.status_code == status, page[-2000:]
    assert answer.mimetype == "text/html"
    assert words in re.sub(r"\s+", " ", page.replace("&#39;", "'")), page[-2000:]
    assert "Traceback" not in page


def test_good_and_empty_filters_still_work(superadmin):
    group = superadmin.post("/api/v1/groups", json={"name": f"Inputs {unique()}"}).json["id"]
    for url in [
        "/requests?kind=&state=&created_by=&created_from=&created_to=",
        "/requests?created_from=2026-01-01&created_to=2026-12-31&kind=fetch",
        f"/payments/pending?utility=&group_id={group}&due_from=2026-01-01&due_to=",
        f"/accounts?q=&utility=DSCO&group_id={group}&status=active&sort=label&order=desc",
        "/audit/?actor=&action=login&outcome=&from=2026-01-01&to=2026-12-31&size=10",
        "/payments/search?q=" + "R" * 64,
        f"/requests/fetch/new?scope=group&group_id={group}",
        "/login?next=/requests",
    ]:
        answer = superadmin.get(url)
        assert answer.status_code in (200, 302), (url, answer.get_data(as_text=True)[-1500:])


def test_the_reason_is_in_the_readers_language(superadmin):
    superadmin.get("/language/bn")
    page = superadmin.get("/requests?created_from=2026-13-45").get_data(as_text=True)
    assert "প্রথম দিন একটি তারিখ নয়: 2026-13-45" in page, page[-1500:]
    page = superadmin.get("/payments/search?q=" + "x" * 5000).get_data(as_text=True)
    assert "ঠিকানাটি অনেক লম্বা" in page
    superadmin.get("/language/en")


#: (method, path, form fields, status, words)
FORM_CASES = [
    ("post", "/accounts/new", {"group_ids": "abc"}, 400, "The groups must be a whole number"),
    ("post", "/payments", {"ids": "1,x"}, 400, "The chosen bills must be a whole number, not x"),
    ("post", "/payments", {"scope": "all"}, 400, "The selection cannot be all"),
    ("post", "/requests/fetch", {"status": "gone"}, 400, "The status cannot be gone"),
    ("post", "/requests/1/cancel", {"comment": "c" * 10_001}, 400, "The comment is longer"),
    ("post", "/payments/1/resolve", {"resolution": "maybe"}, 400, "The resolution cannot be"),
    ("post", "/wallet/close", {"why": "x"}, 400, "This form has no field why."),
    ("post", "/billers/new", {"product_id": "12a"}, 400, "The product id must be a whole number"),
]


@pytest.mark.parametrize(("method", "url", "form", "status", "words"), FORM_CASES)
def test_a_bad_form_field_gets_our_page_with_the_reason(
    superadmin, method, url, form, status, words
):
    answer = getattr(superadmin, method)(url, data=form)
    page = re.sub(r"\s+", " ", answer.get_data(as_text=True).replace("&#39;", "'"))
    assert answer.status_code == status, page[-1500:]
    assert words in page, page[-1500:]


def test_a_huge_form_field_is_named_not_blamed_on_a_file(superadmin):
    answer = superadmin.post("/requests/1/cancel", data={"comment": "c" * 600_000})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "The comment is longer than 10,000 characters (it has 600,000)" in page
    # multipart: werkzeug refuses a field over its form memory limit before any view
    answer = superadmin.post(
        "/requests/1/cancel",
        data={"comment": "c" * 600_000},
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 413
    assert "A field of the form is too long" in page and "split the file" not in page


#: (path and query, status, error code, field)
API_CASES = [
    ("/api/v1/requests?created_from=2026-13-45", 422, "invalid", "created_from"),
    ("/api/v1/pending-bills?due_to=soon", 422, "invalid", "due_to"),
    ("/api/v1/accounts?group_id=abc", 422, "invalid", "group_id"),
    ("/api/v1/accounts?q=" + "9" * 65, 422, "invalid", "q"),
    ("/api/v1/accounts?colour=red", 422, "invalid", "colour"),
    ("/api/v1/accounts?q=a&q=b", 400, "repeated_parameter", "q"),
    ("/api/v1/accounts?q=" + "x" * 6000, 414, "uri_too_long", None),
    ("/api/v1/requests/987654321", 404, "not_found", None),
    ("/api/v1/accounts?group_id=987654321", 404, "not_found", "group_id"),
    ("/api/v1/pending-bills?fetch_request_id=987654321", 404, "not_found", "fetch_request_id"),
]


@pytest.mark.parametrize(("url", "status", "code", "field"), API_CASES)
def test_a_bad_api_parameter_gets_a_json_error_with_the_reason(
    superadmin, url, status, code, field
):
    answer = superadmin.get(url)
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    error = answer.json["error"]
    assert error["code"] == code and error["message"]
    assert error.get("field") == field


# --------------------------------------------------------------------------- the crawl


class _Links(HTMLParser):
    """Same-site GET links, and GET forms as the query their default values make."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._form: tuple[str, list[tuple[str, str]]] | None = None
        self._select: str | None = None
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("/"):
            self.urls.append(a["href"])
        elif tag == "form" and a.get("method", "get").lower() == "get":
            self._form = (a.get("action", ""), [])
        elif self._form is not None and tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self._form[1].append((a["name"], a.get("value", "")))
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select, self._option = a["name"], None
        elif self._select and tag == "option" and (self._option is None or "selected" in a):
            self._option = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self._form is not None:
            self._form[1].append((self._select, self._option or ""))
            self._select = None
        elif tag == "form" and self._form is not None:
            action, fields = self._form
            self.urls.append(f"{action}?{urlencode(fields)}")
            self._form = None


SKIP = re.compile(r"^/(logout|language/|static/|api/|accounts/template|requests/\d+/export)")


def test_every_link_and_filter_form_of_the_pages_is_accepted(superadmin):
    """Walk the pages a superadmin sees (links and GET forms submitted as they come): none
    is refused by the parameter checks, none answers 500."""
    superadmin.post("/api/v1/groups", json={"name": f"Crawl {unique()}"})
    queue, seen, visited = ["/"], set(), 0
    while queue and visited < 160:
        url = queue.pop(0)
        key = urlsplit(url).path + "?" + "&".join(sorted(urlsplit(url).query.split("&")))
        if key in seen or SKIP.match(url):
            continue
        seen.add(key)
        answer = superadmin.get(url)
        visited += 1
        assert answer.status_code in (200, 302, 404), (url, answer.get_data(as_text=True)[-1500:])
        if answer.status_code == 404:
            assert re.match(r"^/(requests|payments|accounts/uploads)/\d+", url), url
        if answer.mimetype != "text/html":
            continue
        links = _Links()
        links.feed(answer.get_data(as_text=True))
        queue += [urljoin(url, u) for u in links.urls]
    assert visited > 20


def test_an_address_at_the_limit_is_read():
    assert MAX_QUERY_CHARS < 8190  # gunicorn's maximum request line: ours must come first
