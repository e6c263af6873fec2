"""A zip bomb or a hostile CSV through the portal: refused by the limit it breaks, with the
limit named in the reader's language, audited, and nothing staged."""

from __future__ import annotations

import io
import time

from sqlalchemy import func, select

from bbp_common.platform.db.tables import account_uploads
from tests.support import upload_bombs as bombs
from tests.support.accounts import upload_refusals
from tests.support.portal import flashes


def post_file(client, url: str, data: bytes, name: str):
    return client.post(
        url, data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def staged(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(account_uploads)).scalar_one()


def last_refusal(engine) -> dict:
    (refusal,) = upload_refusals(engine)
    return refusal


def test_a_zip_bomb_through_the_api_names_the_limit_and_is_audited(admin, engine):
    before = staged(engine)
    started = time.process_time()
    answer = post_file(admin, "/api/v1/uploads", bombs.shared_strings_bomb(), "accounts.xlsx")
    assert time.process_time() - started < 2  # the whole request, Flask and audit included
    assert answer.status_code == 413
    error = answer.json["error"]
    assert error["code"] == "too_many_strings" and error["field"] == "file"
    assert "more than 300,000 different texts" in error["message"]
    assert last_refusal(engine)["code"] == "too_many_strings"
    assert staged(engine) == before


def test_a_hostile_file_is_explained_in_bangla_on_the_page(admin, engine):
    admin.get("/language/bn")
    answer = post_file(admin, "/accounts/upload", bombs.giant_cell_bomb(), "accounts.xlsx")
    assert answer.status_code == 302
    shown = " ".join(flashes(admin.get(answer.headers["Location"])))
    assert "লাইন 2, কলাম A: মানটি 1,000টির বেশি অক্ষরের" in shown, shown
    assert last_refusal(engine)["code"] == "cell_too_long"
    answer = post_file(admin, "/accounts/upload", bombs.csv_nul_byte(), "accounts.csv")
    shown = " ".join(flashes(admin.get(answer.headers["Location"])))
    assert "লাইন 3-এ একটি NUL অক্ষর আছে" in shown, shown
    admin.get("/language/en")
    answer = post_file(admin, "/accounts/upload", bombs.dimension_bomb(), "accounts.xlsx")
    shown = " ".join(flashes(admin.get(answer.headers["Location"])))
    assert "goes on to line 1,048,576" in shown and "60,001 lines" in shown, shown
