"""The communicator's clock 5 minutes ahead of, or behind, the database's (issue 15, defect 2).

The communicator runs with Debian's libfaketime preloaded, so every clock read of that
process (``datetime.now``, ``time.time``) is 5 minutes off; the scheduler and the database
keep the true time. Every deadline is judged on the database's clock, so every payment
ends as designed: paid, or enquired until Mobiquity answers, or uncleared after exactly the
configured enquiries — and fetches are asked, not reported expired.

Before the fix, a communicator 90 s ahead reported every enquiry command expired ("never
sent"), so an ambiguous payment was asked about again and again and never became uncleared.
"""

from __future__ import annotations

import glob

import pytest

from bbp_common.core.domain.payments import FINAL_STATES
from bbp_portal.payments.service import create_payment_request
from bbp_portal.requests.service import create_fetch_request
from tests.support.pipeline import Pipeline, seed_fetched_bills

FINAL = {state.value for state in FINAL_STATES}
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))


def skewed(offset: str) -> dict[str, str]:
    """Environment of a process whose wall clock is ``offset`` off (monotonic untouched)."""
    if not LIBFAKETIME:
        pytest.fail("libfaketime is missing: run scripts/ensure-faketime.sh (make test does)")
    return {
        "LD_PRELOAD": LIBFAKETIME[0],
        "FAKETIME": offset,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


@pytest.mark.parametrize("offset", ["+5m", "-5m"], ids=["ahead", "behind"])
def test_every_payment_ends_as_designed_whatever_the_communicators_clock(
    pipeline: Pipeline, offset: str
) -> None:
    paid, enquired, unknown = ("DSCO", "17021275"), ("DSCO", "99020004"), ("DSCO", "99040004")
    seeded = seed_fetched_bills(pipeline, [paid, enquired, unknown])
    request = create_payment_request(
        pipeline.engine, "admin01", [ids[0] for ids in seeded.values()]
    )
    fetch_accounts = pipeline.add_accounts([("DSCO", "17021276"), ("DESCO", "22051276")])
    fetch = create_fetch_request(pipeline.engine, "admin01", fetch_accounts)
    pipeline.start("scheduler")
    communicator = pipeline.start("communicator", **skewed(offset))

    def states() -> dict[str, str]:
        with pipeline.engine.connect() as conn:
            return dict(
                conn.exec_driver_sql(
                    "SELECT consumer_id, state FROM payments WHERE request_id = %s",
                    (request.request_id,),
                ).all()
            )

    pipeline.wait_for(lambda: set(states().values()) <= FINAL, 90, f"payments to stop {states()}")
    pipeline.wait_finished(fetch.request_id, timeout=60)
    final = states()
    assert final[paid[1]] == "posted"
    assert final[enquired[1]] == "succeeded"  # processed, answer lost, an enquiry found it
    assert final[unknown[1]] == "uncleared"  # Mobiquity never had it: 3 enquiries, a person
    with pipeline.engine.connect() as conn:
        counted = conn.exec_driver_sql(
            "SELECT enquiry_count FROM payments WHERE consumer_id = %s", (unknown[1],)
        ).scalar_one()
        fetched = conn.exec_driver_sql(
            "SELECT outcome, COUNT(*) FROM fetch_items WHERE request_id = %s GROUP BY outcome",
            (fetch.request_id,),
        ).all()
    assert counted == 3  # the schedule 1s,2s,3s, each one really asked
    assert len([c for c in pipeline.sandbox.calls("enquiry")]) >= 4
    assert dict(fetched) == {"bills": 2}
    for entry in pipeline.sandbox.ledger():
        assert entry["consumer_id"] != unknown[1] or entry["answered"] != "answered"
    assert any("clock_offset_to_database" in str(line) for line in communicator.log_lines())
