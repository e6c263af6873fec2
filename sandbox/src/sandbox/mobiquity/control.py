"""The sandbox-only control API under /__sandbox__/ (docs/decisions.md, "Sandbox").

Tests and `make run` use it to read OTPs, the ledger and the calls, to add faults and to
change the config. It is never answered with latency or faults, and never listed in calls.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from sandbox.mobiquity import catalogue, report
from sandbox.mobiquity.billing import enquiry_status
from sandbox.mobiquity.bills import bills_for
from sandbox.mobiquity.faults import FaultError
from sandbox.mobiquity.http import json_response, state
from sandbox.mobiquity.settings import ConfigError

bp = Blueprint("control", __name__, url_prefix="/__sandbox__")


def _problem(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


@bp.get("/health")
def health() -> Response:
    """Alive (the test helper waits for this)."""
    return json_response({"status": "ok", "service": "mobiquity"})


@bp.post("/reset")
def reset() -> Response:
    """Forget ledger, calls, OTPs, faults, tokens; restore demo users and the start-up config.

    `?keep_tokens=1` keeps issued tokens valid (a client's cached system token survives).
    """
    keep = request.args.get("keep_tokens", "").lower() in ("1", "true", "yes")
    state().reset(keep_tokens=keep)
    return json_response({"status": "reset", "kept_tokens": keep})


@bp.get("/otps/<login_id>")
def otp(login_id: str) -> Response:
    """The latest OTP issued to a login id (404 if none)."""
    st = state()
    with st.lock:
        latest = st.latest_otp.get(login_id)
        if latest is None:
            return _problem(f"no OTP issued for {login_id!r}", 404)
        return json_response(latest.to_json(st.config.otp_ttl_seconds))


@bp.get("/ledger")
def ledger() -> Response:
    """Every billpay call processed, oldest first; filters reference, consumer_id, bill_number,
    outcome. Each entry also shows `enquiry_status`, what an enquiry would answer now."""
    filters = {
        k: request.args[k]
        for k in ("reference", "consumer_id", "bill_number", "outcome")
        if k in request.args
    }
    st = state()
    with st.lock:
        rows = [
            dict(e, enquiry_status=enquiry_status(st, e))
            for e in st.ledger
            if all(e.get(k) == v for k, v in filters.items())
        ]
    return json_response(rows)


@bp.get("/report")
def transaction_report() -> Response:
    """The ledger as Mobiquity's transaction report, a download (`report.py`, README).

    `from`, `to`: dates (`YYYY-MM-DD`, the whole day) or times (`YYYY-MM-DDTHH:MM:SS`),
    inclusive, in `tz` (default UTC); `status`: SUCCEEDED, PENDING, FAILED (comma-separated);
    `format`: csv (default) or xlsx. Streamed: the ledger is never copied.
    """
    try:
        query = report.parse_query(request.args)
    except report.ReportError as err:
        return _problem(str(err))
    st = state()
    with st.lock:
        ledger, count = st.ledger, len(st.ledger)

    lines = report.rows(ledger, count, query, lambda entry: enquiry_status(st, entry))
    if query.fmt == "xlsx":
        body = report.xlsx_chunks(lines)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = report.csv_chunks(lines)
        mimetype = "text/csv; charset=utf-8"
    name = query.filename(request.args.get("from", ""), request.args.get("to", ""))
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/calls")
def calls() -> Response:
    """Every Mobiquity call received (endpoint, time, status), oldest first.

    Filters: `endpoint`, `since` (only calls with seq greater than it).
    """
    endpoint = request.args.get("endpoint")
    try:
        since = int(request.args.get("since", 0))
    except ValueError:
        return _problem("since must be an integer")
    st = state()
    with st.lock:
        rows = [
            c.to_json()
            for c in st.calls
            if c.seq > since and (endpoint is None or c.endpoint == endpoint)
        ]
    return json_response(rows)


@bp.get("/faults")
def list_faults() -> Response:
    """The active faults (with how often each was applied and how many `times` remain)."""
    st = state()
    with st.lock:
        return json_response([f.to_json() for f in st.faults.values()])


@bp.post("/faults")
def add_fault() -> Response:
    """Add a fault: {endpoint, fault, consumer_id?, reference?, probability?, latency_ms?,
    seconds?, times?} → 201 {"id"}."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return _problem("body must be a JSON object")
    try:
        fault = state().add_fault(body)
    except FaultError as err:
        return _problem(str(err))
    return json_response({"id": fault.id, **fault.to_json()}, 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    """Remove every fault."""
    st = state()
    with st.lock:
        removed = len(st.faults)
        st.faults.clear()
    return json_response({"removed": removed})


@bp.delete("/faults/<int:fault_id>")
def delete_fault(fault_id: int) -> Response:
    """Remove one fault (404 if it is not active)."""
    st = state()
    with st.lock:
        if st.faults.pop(fault_id, None) is None:
            return _problem(f"no active fault {fault_id}", 404)
    return json_response({"removed": 1})


@bp.get("/config")
def get_config() -> Response:
    """The runtime config."""
    return json_response(state().config.to_json())


@bp.patch("/config")
def patch_config() -> Response:
    """Change runtime config keys; unknown keys or wrong types → 400 and nothing changes."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return _problem("body must be a JSON object")
    st = state()
    with st.lock:
        try:
            st.config = st.config.patched(body)
        except ConfigError as err:
            return _problem(str(err))
        return json_response(st.config.to_json())


@bp.get("/billers")
def billers() -> Response:
    """The biller catalogue (to seed our own biller table from the same data)."""
    return json_response([b.to_json() for b in catalogue.BILLERS])


@bp.get("/users")
def users() -> Response:
    """The demo users, without passwords (the README lists those)."""
    st = state()
    with st.lock:
        return json_response([u.public_json() for u in st.users.values()])


@bp.get("/bills")
def bills() -> Response:
    """All bills of an account (`utility`, `consumer_id`), each with `paid` and `index`."""
    biller = catalogue.by_utility(request.args.get("utility"))
    consumer_id = request.args.get("consumer_id", "")
    if biller is None or not consumer_id:
        return _problem("utility (a catalogue code) and consumer_id are required")
    st = state()
    rows: list[dict[str, Any]] = []
    for bill in bills_for(biller, consumer_id):
        with st.lock:
            paid = (biller.code, consumer_id, bill.bill_number) in st.paid
        rows.append({"index": bill.index, "paid": paid, **bill.to_json()})
    return json_response(rows)
