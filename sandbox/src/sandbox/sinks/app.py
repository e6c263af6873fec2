"""The SMS-gateway sink and the read-back of both sinks (one small Flask app).

* ``GET|POST /sms/send`` — the gateway: fields from a JSON body, a form or the query string
  (``msisdn``, ``sms``, ``sid``, ``csms_id``; every field is kept). When a token is set
  (``SANDBOX_SMS_TOKEN``) it must come as field ``api_token`` or as a Bearer header (401
  otherwise). Accepted: HTTP 200 ``{"status": "SUCCESS", "status_code": 200, "smsinfo":
  [{"sms_status": "SUCCESS", "reference_id": …, "csms_id": …}]}``.
* ``GET /__sandbox__/mail``, ``GET /__sandbox__/sms`` (``?to=`` filters) — what was kept,
  oldest first, as JSON; ``DELETE`` forgets it.
* ``GET/POST/DELETE /__sandbox__/faults``, ``POST /__sandbox__/reset``, ``GET
  /__sandbox__/health``.
* ``GET /`` — the demo's inbox as a page: every e-mail and SMS, newest first.
"""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import asdict
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template_string, request

from sandbox.sinks.state import FaultError, SinkState

SECRET_FIELDS = ("api_token", "token", "password", "api_key")


def _fields() -> dict[str, str]:
    fields: dict[str, Any] = {}
    fields.update(request.args.to_dict())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            fields.update(body)
    else:
        fields.update(request.form.to_dict())
    return {str(k): str(v) for k, v in fields.items()}


def create_app(state: SinkState, *, sms_token: str = "") -> Flask:
    app = Flask(__name__)

    def authorised(fields: dict[str, str]) -> bool:
        if not sms_token:
            return True
        header = request.headers.get("Authorization", "")
        given = fields.get("api_token") or (header[7:] if header.startswith("Bearer ") else "")
        return hmac.compare_digest(given.encode(), sms_token.encode())

    @app.route("/sms/send", methods=["GET", "POST"])
    def send_sms() -> Any:
        fields = _fields()
        if not authorised(fields):
            return jsonify(status="FAILED", status_code=401, error_message="Unauthorized"), 401
        to = fields.get("msisdn") or fields.get("to") or ""
        text = fields.get("sms") or fields.get("text") or fields.get("message") or ""
        if not to or not text:
            return jsonify(status="FAILED", status_code=400, error_message="msisdn and sms"), 400
        fault = state.take_fault("sms", [to])
        if fault is not None and fault.fault == "outage":
            state.note_refused("sms", [to], "outage")
            return jsonify(status="FAILED", error_message="Service unavailable (sandbox)"), 503
        if fault is not None and fault.fault == "permanent":
            state.note_refused("sms", [to], "permanent")
            return jsonify(
                status="FAILED", status_code=4025, error_message="Invalid MSISDN (sandbox fault)"
            )
        kept = state.keep(
            "sms",
            {
                "to": to,
                "text": text,
                "sender": fields.get("sid") or fields.get("from") or "",
                "id": fields.get("csms_id") or fields.get("id") or "",
                "fields": {
                    k: ("***" if k.lower() in SECRET_FIELDS else v) for k, v in fields.items()
                },
                "method": request.method,
            },
        )
        if fault is not None and fault.fault == "slow":
            time.sleep(fault.seconds)
        return jsonify(
            status="SUCCESS",
            status_code=200,
            error_message="",
            smsinfo=[
                {
                    "sms_status": "SUCCESS",
                    "status_message": "Success",
                    "msisdn": to,
                    "reference_id": f"SBX{kept['seq']:08d}",
                    "csms_id": kept["id"],
                }
            ],
        )

    # ------------------------------------------------------------------ control

    @app.get("/__sandbox__/health")
    def health() -> Any:
        return jsonify(status="ok", service="sinks")

    @app.get("/__sandbox__/mail")
    def mails() -> Any:
        return jsonify(state.list("mail", request.args.get("to")))

    @app.get("/__sandbox__/sms")
    def sms() -> Any:
        return jsonify(state.list("sms", request.args.get("to")))

    @app.get("/__sandbox__/refused")
    def refused() -> Any:
        with state.lock:
            return jsonify(list(state.refused))

    @app.delete("/__sandbox__/mail")
    @app.delete("/__sandbox__/sms")
    def forget() -> Any:
        channel = "mail" if request.path.endswith("mail") else "sms"
        with state.lock:
            items = state.mails if channel == "mail" else state.sms
            removed = len(items)
            items.clear()
        return jsonify(removed=removed)

    @app.post("/__sandbox__/reset")
    def reset() -> Any:
        state.reset()
        return jsonify(status="ok")

    @app.get("/__sandbox__/faults")
    def faults() -> Any:
        with state.lock:
            return jsonify([asdict(f) for f in state.faults])

    @app.post("/__sandbox__/faults")
    def add_fault() -> Any:
        try:
            fault = state.add_fault(request.get_json(force=True, silent=True) or {})
        except (FaultError, TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(asdict(fault)), 201

    @app.delete("/__sandbox__/faults")
    def clear_faults() -> Any:
        return jsonify(removed=state.clear_faults())

    # ------------------------------------------------------------------ the demo's inbox

    @app.get("/")
    def inbox() -> Any:
        return render_template_string(
            INBOX,
            mails=list(reversed(state.list("mail"))),
            sms=list(reversed(state.list("sms"))),
        )

    @app.get("/mail/<int:seq>/attachments/<int:index>")
    def attachment(seq: int, index: int) -> Any:
        found = next((m for m in state.list("mail") if m["seq"] == seq), None)
        if found is None or index >= len(found["attachments"]):
            abort(404)
        item = found["attachments"][index]
        data = (
            item["content"].encode()
            if "content" in item
            else base64.b64decode(item.get("content_base64", ""))
        )
        return Response(
            data,
            mimetype=item["content_type"],
            headers={"Content-Disposition": f'attachment; filename="{item["filename"]}"'},
        )

    return app


INBOX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox inbox</title>
<meta http-equiv="refresh" content="10">
<style>
 body{font-family:system-ui,"Noto Sans Bengali",sans-serif;margin:2rem;max-width:70rem}
 article{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin:.6rem 0}
 pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem} small{color:#555}
</style></head><body>
<h1>Sandbox inbox</h1>
<p><small>What the communicator sent to the SMTP sink and the SMS-gateway sink (newest first;
kept in memory until the sandbox stops). JSON: <code>/__sandbox__/mail</code>,
<code>/__sandbox__/sms</code>. This page reloads every 10 s.</small></p>
<h2>SMS ({{ sms|length }})</h2>
{% for s in sms %}<article><small>#{{ s.seq }} · {{ s.received_at }} · to {{ s.to }}
 · from {{ s.sender }}</small><pre>{{ s.text }}</pre></article>
{% else %}<p>None yet.</p>{% endfor %}
<h2>E-mail ({{ mails|length }})</h2>
{% for m in mails %}<article><small>#{{ m.seq }} · {{ m.received_at }} · to
 {{ m.rcpt_tos|join(", ") }} · {{ m.language or "" }}</small>
<h3>{{ m.subject }}</h3><pre>{{ m.text }}</pre>
{% for a in m.attachments %}<p>📎
 <a href="/mail/{{ m.seq }}/attachments/{{ loop.index0 }}">{{ a.filename }}</a>
 ({{ a.size }} bytes)</p>{% endfor %}</article>
{% else %}<p>None yet.</p>{% endfor %}
</body></html>
"""
