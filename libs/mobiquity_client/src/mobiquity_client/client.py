"""``MobiquityClient``: every Mobiquity call the platform makes, with its rules.

Rules kept here (see the README for the reasoning):

* ``pay_bill`` is sent exactly once, never retried (not by tenacity, not by urllib3), and
  returns one of ``Accepted | Rejected | NotSent | Unknown`` — classified from the answer or
  from what the transport failure proves, never guessed.
* Only the idempotent calls (token, fetch-bill, enquiry) are retried, per ``RetryPolicy``,
  on connection errors, timeouts and HTTP 5xx only.
* Secrets (passwords, OTPs, MPINs, tokens, client secret) never reach a log line, an exception
  message or a ``repr``.

Why one module of more than 400 lines: one class with one method per Mobiquity endpoint; its
transport, answer checks, models, errors and schemas are modules of their own.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import tenacity

from . import _json
from .answers import envelope, pending_bills
from .config import (
    IDEMPOTENT_ENDPOINTS,
    AuthPolicy,
    BillpaySettings,
    Endpoint,
    EnquiryAnswer,
    EnquiryContract,
    Paths,
    ReferencePlacement,
    RetryPolicy,
    Timeouts,
    UmsSettings,
)
from .errors import (
    ClientCredentialsRejected,
    ConfigurationError,
    ConsumerIdRequired,
    InvalidCredentials,
    InvalidInput,
    MandatoryFieldMissing,
    MobiquityError,
    MobiquityUnavailable,
    NotApplicableForUtility,
    OtpRejected,
    RequestRefused,
    ResumeRequestNotFound,
    TokenRejected,
    UnexpectedResponse,
    UnsupportedFlow,
)
from .models import (
    Accepted,
    BillPayment,
    DeviceInfo,
    EnquiryFailed,
    EnquiryNotFound,
    EnquiryOutcome,
    EnquiryPending,
    EnquirySucceeded,
    EnquiryUnknown,
    LoginSucceeded,
    NotSent,
    OtpRequired,
    PayerWallet,
    PaymentOutcome,
    PendingBill,
    Rejected,
    ResetStep,
    Unknown,
)
from .schemas import TokenSchema, UmsAnswerSchema, load
from .transport import (
    TRANSPORT_ERRORS,
    HttpTransport,
    TransportFailure,
    classify_exception,
)

log = logging.getLogger("mobiquity_client")

T = TypeVar("T")

#: ``on_call(endpoint, outcome, seconds)``: called once per HTTP request sent.
OnCall = Callable[[str, str, float], None]

OTP_REQUIRED = "otp.validation.required"
NEW_VALUE_REQUIRED = frozenset({"new.auth.value.required", "new.authentication.value.required"})
ACCEPTED_ORDER_STATUSES = frozenset({"PENDING", "SUCCEEDED"})
PROCESS_FULFILMENT = "process.fulfilment"

_SERVER_DEVICE = DeviceInfo(device_id="bbp-communicator", app_name="bbp", model="server")


# ---------------------------------------------------------------------------------------------
# Internal values


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer: its status, the effective status (open point 0) and the parsed body."""

    http_status: int
    status: int
    body: Any  # parsed JSON, or None if the body was empty or not JSON
    parse_error: str | None
    elapsed: float

    @property
    def envelope(self) -> Mapping[str, Any]:
        return self.body if isinstance(self.body, Mapping) else {}

    @property
    def failed(self) -> bool:
        return self.status >= 400 or self.envelope.get("status") == "FAILED"

    @property
    def label(self) -> str:
        """The outcome name of logs and metrics for a call other than billpay."""
        return "server_error" if self.status >= 500 else "refused" if self.failed else "ok"


class _SendFailed(Exception):
    def __init__(self, failure: TransportFailure, elapsed: float) -> None:
        super().__init__(failure.detail)
        self.failure = failure
        self.elapsed = elapsed


@dataclass(frozen=True)
class _CachedToken:
    value: str
    renew_at: float

    def __repr__(self) -> str:
        return f"_CachedToken(renew_at={self.renew_at!r})"


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def effective_status(http_status: int, body: Any) -> int:
    """The status an answer means (open point 0): the HTTP status unless it is 2xx; for a 2xx,
    a status carried in the body (``httpErrorCode``, or fetch-bill's numeric ``code`` or
    ``status``) wins. Either one is enough to classify an answer."""
    if not 200 <= http_status < 300 or not isinstance(body, Mapping):
        return http_status
    candidates = [_int_or_none(body.get("httpErrorCode"))]
    for key in ("code", "status"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            candidates.append(value)
    for number in candidates:
        if number is not None and 100 <= number <= 599:
            return number
    return http_status


def _error_details(answer: _Answer) -> dict[str, Any]:
    """Mobiquity's error fields of an answer, for exceptions and outcomes (lenient)."""
    env = answer.envelope
    errors = env.get("errors")
    codes: list[str] = []
    messages: list[str] = []
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, Mapping):
                if isinstance(item.get("code"), str):
                    codes.append(item["code"])
                if isinstance(item.get("message"), str):
                    messages.append(item["message"])
    error_code = env.get("errorCode") if isinstance(env.get("errorCode"), str) else None
    own_code = env.get("code") if isinstance(env.get("code"), str) else None
    user_message = env.get("errorUserMsg")
    if not isinstance(user_message, str) or not user_message:
        user_message = messages[0] if messages else None
    if user_message is None and isinstance(env.get("message"), str):
        user_message = env["message"]

    def _str(key: str) -> str | None:
        value = env.get(key)
        return value if isinstance(value, str) else None

    return {
        "code": codes[0] if codes else own_code,
        "error_code": error_code,
        "error_codes": tuple(codes),
        "user_message": user_message,
        "http_status": answer.http_status,
        "trace_id": _str("traceId"),
        "service_request_id": _str("serviceRequestId"),
    }


def _is_documented_failure(answer: _Answer) -> bool:
    """A FAILED envelope carrying at least one of Mobiquity's error codes."""
    env = answer.envelope
    if env.get("status") != "FAILED" and env.get("orderStatus") != "FAILED":
        return False
    details = _error_details(answer)
    return bool(details["error_code"] or details["error_codes"])


def _token_refused(answer: _Answer) -> bool:
    """HTTP 401 (or 401 in the body): the bearer token was refused, whatever the body says."""
    return answer.status == 401


def _mentions(answer: _Answer, *needles: str) -> bool:
    message = answer.envelope.get("message")
    text = message.lower() if isinstance(message, str) else ""
    return any(n in text for n in needles)


# ---------------------------------------------------------------------------------------------


class MobiquityClient:
    """Client of the Mobiquity APIs. One instance is shared by many threads.

    Args:
        base_url: e.g. ``https://mfsbaastest.grameenphone.com``.
        client_id, client_secret: OAuth client credentials for the system token.
        timeouts: connect and read timeouts of every HTTP request.
        paths: the path of every call (the enquiry path is our assumption).
        sender: the paying wallet; required by ``pay_bill`` only.
        retries: retry policy of the idempotent calls; ``RetryPolicy.none()`` turns them off.
        auth: which calls carry the system token / the user's token; token renewal margin.
        reference_in: where the reference id travels in the billpay body.
        enquiry: the enquiry contract and its answer mapping (hook ``EnquiryContract.mapper``).
        ums, billpay: constant fields of the UMS and billpay bodies.
        billpay_device: ``deviceInfo`` sent with every billpay.
        pool_size: keep-alive connections kept for the host (size it to the worker threads).
        on_call: ``on_call(endpoint, outcome, seconds)`` after every HTTP request, for metrics.
        clock: monotonic clock (tests).
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeouts: Timeouts | None = None,
        paths: Paths | None = None,
        sender: PayerWallet | None = None,
        retries: RetryPolicy | None = None,
        auth: AuthPolicy | None = None,
        reference_in: ReferencePlacement | None = None,
        enquiry: EnquiryContract | None = None,
        ums: UmsSettings | None = None,
        billpay: BillpaySettings | None = None,
        billpay_device: DeviceInfo | None = None,
        pool_size: int = 20,
        on_call: OnCall | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ConfigurationError("base_url must be an absolute http(s) URL")
        if not client_id or not client_secret:
            raise ConfigurationError("client_id and client_secret are mandatory")
        if pool_size < 1:
            raise ConfigurationError("pool_size must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode(
            "ascii"
        )
        self._timeouts = timeouts or Timeouts()
        self._paths = paths or Paths()
        self._retries = retries or RetryPolicy()
        self._auth = auth or AuthPolicy()
        self._reference_in = reference_in or ReferencePlacement()
        self._enquiry = enquiry or EnquiryContract()
        self._ums = ums or UmsSettings()
        self._billpay = billpay or BillpaySettings()
        self._billpay_device = billpay_device or _SERVER_DEVICE
        self._sender = sender
        self._on_call = on_call
        self._clock = clock
        self._transport = HttpTransport(
            self._base_url,
            pool_size=pool_size,
            connect_timeout=self._timeouts.connect,
            read_timeout=self._timeouts.read,
        )
        self._token: _CachedToken | None = None
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MobiquityClient(base_url={self._base_url!r}, client_id={self._client_id!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def __enter__(self) -> MobiquityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------
    # HTTP

    def _notify(self, endpoint: str, outcome: str, seconds: float) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(endpoint, outcome, seconds)
        except Exception:  # a metrics hook must never break a call, least of all a payment
            log.exception("mobiquity on_call hook failed endpoint=%s", endpoint)

    def _send(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, float]:
        """Send one HTTP request, exactly once. Raises ``_SendFailed`` for transport errors."""
        all_headers = {"Accept": "application/json"}
        data: bytes | None = None
        if json_body is not None:
            data = _json.dumps(json_body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        all_headers.update(headers or {})
        started = time.perf_counter()
        try:
            status, content = self._transport.request(method, path, data, all_headers)
        except TRANSPORT_ERRORS as exc:
            raise _SendFailed(classify_exception(exc), time.perf_counter() - started) from exc
        return status, content, time.perf_counter() - started

    @staticmethod
    def _parse(http_status: int, content: bytes, elapsed: float) -> _Answer:
        body: Any = None
        parse_error: str | None = None
        if content.strip():
            try:
                body = _json.loads(content)
            except (ValueError, UnicodeDecodeError) as exc:
                parse_error = f"body is not JSON ({type(exc).__name__}: {exc})"
        else:
            parse_error = "empty body"
        return _Answer(http_status, effective_status(http_status, body), body, parse_error, elapsed)

    def _exchange(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        context: Mapping[str, Any],
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        log_answer: bool = True,
    ) -> _Answer:
        """One request/answer of a call other than billpay.

        Raises ``MobiquityUnavailable`` for transport failures and (effective) HTTP 5xx.
        ``log_answer=False``: the caller logs the answer's line itself (with what it made of
        it); failures are logged here all the same.
        """
        try:
            status, content, elapsed = self._send(
                endpoint, method, path, json_body=json_body, form=form, headers=headers
            )
        except _SendFailed as failed:
            self._log(endpoint, failed.failure.kind, failed.elapsed, context, None)
            self._notify(endpoint, failed.failure.kind, failed.elapsed)
            raise MobiquityUnavailable(
                f"{endpoint}: {failed.failure.kind}: {failed.failure.detail}",
                kind=failed.failure.kind,
                never_sent=failed.failure.never_sent,
                endpoint=endpoint.value,
            ) from failed.__cause__
        answer = self._parse(status, content, elapsed)
        label = answer.label
        if log_answer or answer.status >= 500:
            self._log(endpoint, label, elapsed, context, answer)
        self._notify(endpoint, label, elapsed)
        if answer.status >= 500:
            details = _error_details(answer)
            raise MobiquityUnavailable(
                f"{endpoint}: HTTP {answer.status} from Mobiquity",
                kind="http_5xx",
                endpoint=endpoint.value,
                **details,
            )
        return answer

    def _log(
        self,
        endpoint: Endpoint,
        outcome: str,
        elapsed: float,
        context: Mapping[str, Any],
        answer: _Answer | None,
    ) -> None:
        """One line per HTTP request: INFO when fine, WARNING otherwise. Nothing is built
        when the level is off; no secret is ever among the fields (no body is logged)."""
        level = logging.INFO if outcome in {"ok", "accepted"} else logging.WARNING
        if not log.isEnabledFor(level):
            return
        env = answer.envelope if answer is not None else {}
        fields: dict[str, Any] = {
            "endpoint": endpoint.value,
            "outcome": outcome,
            "latency_ms": round(elapsed * 1000, 1),
            "http_status": answer.http_status if answer is not None else None,
            **context,
            "service_request_id": env.get("serviceRequestId"),
            "trace_id": env.get("traceId"),
        }
        if env.get("orderId") is not None:
            fields["order_id"] = env.get("orderId")
        text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        log.log(level, "mobiquity call %s", text, extra={"mobiquity": fields})

    def _retrying(self, endpoint: Endpoint, attempt: Callable[[], T]) -> T:
        """Run an idempotent attempt under the retry policy (MobiquityUnavailable only)."""
        assert endpoint in IDEMPOTENT_ENDPOINTS, "only idempotent calls are retried"
        policy = self._retries
        if policy.attempts == 1:
            return attempt()  # RetryPolicy.none(): nothing to retry, no Retrying to build

        def _before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "mobiquity retry endpoint=%s attempt=%d kind=%s",
                endpoint.value,
                state.attempt_number,
                getattr(exc, "kind", None),
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_random_exponential(
                multiplier=policy.backoff_initial, max=policy.backoff_max
            ),
            retry=tenacity.retry_if_exception_type(MobiquityUnavailable),
            sleep=policy.sleep,
            before_sleep=_before_sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _authorized(
        self,
        endpoint: Endpoint,
        send: Callable[[Mapping[str, str]], _Answer],
    ) -> _Answer:
        """Send with the system token where the policy says so; on a 401 drop the cached token
        and, for idempotent calls only, send once more with a fresh one."""
        if endpoint not in self._auth.system_token_for:
            return send({})
        token = self.system_token()
        answer = send({"Authorization": f"Bearer {token}"})
        if _token_refused(answer):
            self._drop_token(token)
            if endpoint in IDEMPOTENT_ENDPOINTS:
                token = self.system_token()
                answer = send({"Authorization": f"Bearer {token}"})
                if _token_refused(answer):
                    self._drop_token(token)
        return answer

    def _post(
        self,
        endpoint: Endpoint,
        body: Mapping[str, Any],
        context: Mapping[str, Any],
        *,
        log_answer: bool = True,
    ) -> _Answer:
        """Send a POST (retried if idempotent, with the system token where the policy says).

        ``log_answer=False``: the caller logs the final answer's line itself, with what it
        made of it (``_log_final``); a refused token's answer still gets its own line here,
        since another request follows it.
        """
        path = self._paths.of(endpoint)
        return self._send_authorized(
            endpoint, "POST", path, context=context, json_body=body, log_answer=log_answer
        )

    def _send_authorized(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        context: Mapping[str, Any],
        json_body: Any,
        log_answer: bool,
    ) -> _Answer:
        def send(headers: Mapping[str, str]) -> _Answer:
            def attempt() -> _Answer:
                return self._exchange(
                    endpoint,
                    method,
                    path,
                    context=context,
                    json_body=json_body,
                    headers=headers,
                    log_answer=log_answer,
                )

            if endpoint in IDEMPOTENT_ENDPOINTS:
                answer = self._retrying(endpoint, attempt)
            else:
                answer = attempt()
            if not log_answer and _token_refused(answer):
                self._log(endpoint, answer.label, answer.elapsed, context, answer)
            return answer

        return self._authorized(endpoint, send)

    def _log_final(
        self,
        endpoint: Endpoint,
        outcome: str,
        answer: _Answer,
        context: Mapping[str, Any],
    ) -> None:
        """The one line of a call whose answer was not logged when it came (a refused
        token's answer was: it is not logged twice)."""
        if not _token_refused(answer):
            self._log(endpoint, outcome, answer.elapsed, context, answer)

    # -----------------------------------------------------------------------------------------
    # Errors

    def _refusal(
        self, endpoint: Endpoint, answer: _Answer, *, otp_step: bool = False
    ) -> MobiquityError:
        """The exception for a refused (4xx or FAILED) answer."""
        details = _error_details(answer)
        all_codes = {details["error_code"], *details["error_codes"]} - {None}
        documented = _is_documented_failure(answer)
        what = "/".join(c for c in (details["error_code"], details["code"]) if c)
        summary = f"{endpoint}: HTTP {answer.status}" + (f" {what}" if what else "")
        if details["user_message"]:
            summary += f": {details['user_message']}"
        kw = {**details, "endpoint": endpoint.value}
        if answer.status == 401 or (answer.status == 403 and not documented):
            return TokenRejected(summary, **kw)
        if not all_codes:
            return UnexpectedResponse(
                f"{endpoint}: HTTP {answer.status} without Mobiquity's error envelope"
                + (f" ({answer.parse_error})" if answer.parse_error else ""),
                field="$",
                **kw,
            )
        resume_gone = "Generic05" in all_codes or any(
            "resume" in c and "not.found" in c for c in all_codes
        )
        if otp_step:
            return (ResumeRequestNotFound if resume_gone else OtpRejected)(summary, **kw)
        if "Authen01" in all_codes:
            return InvalidCredentials(summary, **kw)
        if "Generic04" in all_codes:
            return MandatoryFieldMissing(summary, **kw)
        if resume_gone:
            return ResumeRequestNotFound(summary, **kw)
        if "Generic06" in all_codes or "invalid.value" in all_codes:
            return InvalidInput(summary, **kw)
        return RequestRefused(summary, **kw)

    # -----------------------------------------------------------------------------------------
    # System token

    def system_token(self) -> str:
        """The system (client-credentials) token: cached, renewed before expiry, thread-safe.

        Raises ``ClientCredentialsRejected``, ``MobiquityUnavailable`` or ``UnexpectedResponse``.
        """
        cached = self._token
        if cached is not None and self._clock() < cached.renew_at:
            return cached.value
        with self._token_lock:
            cached = self._token
            if cached is not None and self._clock() < cached.renew_at:
                return cached.value
            self._token = self._fetch_token()
            return self._token.value

    def invalidate_system_token(self) -> None:
        """Forget the cached system token (the next call fetches a new one)."""
        with self._token_lock:
            self._token = None

    def _drop_token(self, value: str) -> None:
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self) -> _CachedToken:
        path = self._paths.token

        def attempt() -> dict[str, Any]:
            started = self._clock()
            answer = self._exchange(
                Endpoint.TOKEN,
                "POST",
                path,
                context={},
                form={"grant_type": "client_credentials"},
                headers={"Authorization": self._basic},
            )
            if answer.failed:
                details = _error_details(answer)
                oauth_error = answer.envelope.get("error")
                raise ClientCredentialsRejected(
                    f"token: HTTP {answer.status}"
                    + (f" {oauth_error}" if isinstance(oauth_error, str) else ""),
                    endpoint=Endpoint.TOKEN.value,
                    **details,
                )
            data = load(TokenSchema, answer.body, what="token", http_status=answer.http_status)
            data["_obtained_at"] = started
            return data

        data = self._retrying(Endpoint.TOKEN, attempt)
        lifetime = float(data["expires_in"])
        margin = min(self._auth.renew_margin_seconds, lifetime / 2)
        return _CachedToken(str(data["access_token"]), data["_obtained_at"] + lifetime - margin)

    # -----------------------------------------------------------------------------------------
    # Login and passwords

    def _ums_context(self, login_id: str | None = None) -> dict[str, Any]:
        return {"login_id": login_id} if login_id else {}

    def login(
        self, login_id: str, password: str, device: DeviceInfo
    ) -> LoginSucceeded | OtpRequired:
        """Log a user in with login id and password.

        Returns ``LoginSucceeded`` (two-factor disabled) or ``OtpRequired`` (pass its
        ``resume_id`` and the user's OTP to ``confirm_login_otp``). Raises
        ``InvalidCredentials`` for a wrong login id/password, another ``MobiquityError``
        otherwise. Never retried.
        """
        body = {
            "bearerCode": self._ums.bearer_code,
            "language": self._ums.language,
            "workspaceId": self._ums.workspace_id,
            "identifierType": self._ums.identifier_type,
            "identifierValue": login_id,
            "authenticationValue": password,
            "isTokenRequired": "Y",
            "deviceInfo": device.to_body(),
        }
        answer = self._post(Endpoint.LOGIN, body, self._ums_context(login_id))
        if answer.failed:
            raise self._refusal(Endpoint.LOGIN, answer)
        data = self._ums_answer(Endpoint.LOGIN, answer)
        if data["status"] == "PAUSED":
            if data["code"] != OTP_REQUIRED:
                raise UnsupportedFlow(
                    f"login: paused for {data['code']!r}, which this client does not handle",
                    code=data["code"],
                    http_status=answer.http_status,
                    service_request_id=data["serviceRequestId"],
                    endpoint=Endpoint.LOGIN.value,
                )
            resume_id = self._resume_id(Endpoint.LOGIN, data)
            return OtpRequired(resume_id=resume_id, message=data["message"])
        return self._login_succeeded(Endpoint.LOGIN, answer, data)

    def _login_succeeded(
        self, endpoint: Endpoint, answer: _Answer, data: Mapping[str, Any]
    ) -> LoginSucceeded:
        self._expect_status(endpoint, answer, data, "SUCCEEDED")
        token = data["token"]
        if not token:
            raise UnexpectedResponse(
                f"{endpoint}: succeeded without a token",
                field="token",
                http_status=answer.http_status,
                endpoint=endpoint.value,
            )
        return LoginSucceeded(
            user_id=data["userId"],
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            expires_in=token["expires_in"],
            service_request_id=data["serviceRequestId"],
            last_login_time=data["lastLoginTime"],
            session_ids=tuple(data["sessionIdList"] or ()),
            message=data["message"],
        )

    def confirm_login_otp(self, resume_id: str, otp: str) -> LoginSucceeded:
        """Second login step: the OTP for a paused login. Any FAILED answer raises
        ``OtpRejected`` (``ResumeRequestNotFound`` for an unknown resume id). Never retried."""
        body = {
            "resumeServiceRequestId": resume_id,
            "otp": otp,
            "serviceCode": self._ums.login_service_code,
        }
        answer = self._post(Endpoint.LOGIN_CONFIRM, body, {"resume_id": resume_id})
        if answer.failed:
            raise self._refusal(Endpoint.LOGIN_CONFIRM, answer, otp_step=True)
        data = self._ums_answer(Endpoint.LOGIN_CONFIRM, answer)
        return self._login_succeeded(Endpoint.LOGIN_CONFIRM, answer, data)

    def change_password(
        self, user_token: str, login_id: str, old: str, new: str, confirm: str
    ) -> None:
        """Change a logged-in user's own password (the user's access token as Bearer).

        Raises ``InvalidCredentials`` for a wrong old password, ``TokenRejected`` for an
        expired user token, another ``MobiquityError`` otherwise. Never retried.
        """
        body = {
            "requestedBy": "SELF",
            "oldAuthenticationValue": old,
            "newAuthenticationValue": new,
            "confirmedAuthenticationValue": confirm,
            "language": self._ums.language,
            "workspaceId": self._ums.workspace_id,
            "identifierType": self._ums.identifier_type,
            "identifierValue": login_id,
        }
        endpoint = Endpoint.CHANGE_CREDENTIAL
        if self._auth.user_token_for_change_credential:
            headers = {"Authorization": f"Bearer {user_token}"}
            answer = self._exchange(
                endpoint,
                "POST",
                self._paths.of(endpoint),
                context=self._ums_context(login_id),
                json_body=body,
                headers=headers,
            )
        else:
            answer = self._post(endpoint, body, self._ums_context(login_id))
        if answer.failed:
            raise self._refusal(endpoint, answer)
        self._expect_succeeded(endpoint, answer)

    @staticmethod
    def _ums_answer(endpoint: Endpoint, answer: _Answer) -> dict[str, Any]:
        """The body of a UMS call's answer, checked against its schema."""
        return load(
            UmsAnswerSchema, answer.body, what=endpoint.value, http_status=answer.http_status
        )

    @staticmethod
    def _expect_status(
        endpoint: Endpoint, answer: _Answer, data: Mapping[str, Any], status: str
    ) -> None:
        """A UMS answer in another status than the step expects is not one we understand."""
        if data["status"] != status:
            raise UnexpectedResponse(
                f"{endpoint}: expected status {status}, got {data['status']!r}",
                field="status",
                http_status=answer.http_status,
                endpoint=endpoint.value,
            )

    @staticmethod
    def _resume_id(endpoint: Endpoint, data: Mapping[str, Any]) -> str:
        """The id a paused UMS flow is resumed with (a pause without one cannot go on)."""
        if not data["serviceRequestId"]:
            raise UnexpectedResponse(
                f"{endpoint}: paused without serviceRequestId",
                field="serviceRequestId",
                endpoint=endpoint.value,
            )
        return str(data["serviceRequestId"])

    def _expect_succeeded(self, endpoint: Endpoint, answer: _Answer) -> dict[str, Any]:
        data = self._ums_answer(endpoint, answer)
        self._expect_status(endpoint, answer, data, "SUCCEEDED")
        return data

    def _paused_step(
        self, endpoint: Endpoint, answer: _Answer, expected: frozenset[str]
    ) -> ResetStep:
        data = self._ums_answer(endpoint, answer)
        self._expect_status(endpoint, answer, data, "PAUSED")
        if data["code"] not in expected:
            raise UnsupportedFlow(
                f"{endpoint}: Mobiquity asks for {data['code']!r}, this client expects "
                + " or ".join(sorted(expected)),
                code=data["code"],
                http_status=answer.http_status,
                service_request_id=data["serviceRequestId"],
                endpoint=endpoint.value,
            )
        return ResetStep(
            resume_id=self._resume_id(endpoint, data),
            code=data["code"],
            original_service_request_id=data["originalServiceRequestId"],
            message=data["message"],
        )

    def start_password_reset(self, login_id: str, device: DeviceInfo) -> ResetStep:
        """Forgot password, step 1: Mobiquity sends the user an OTP.

        Returns the paused step (``code`` ``otp.validation.required``); raises
        ``UnsupportedFlow`` if Mobiquity asks for a security answer instead. Never retried.
        """
        body = {
            "requestedBy": "SELF",
            "workspaceId": self._ums.workspace_id,
            "identifierType": self._ums.identifier_type,
            "identifierValue": login_id,
            "language": self._ums.language,
            "bearerCode": self._ums.bearer_code,
            "deviceInfo": device.to_body(),
        }
        answer = self._post(Endpoint.RESET_INITIATE, body, self._ums_context(login_id))
        if answer.failed:
            raise self._refusal(Endpoint.RESET_INITIATE, answer)
        return self._paused_step(Endpoint.RESET_INITIATE, answer, frozenset({OTP_REQUIRED}))

    def verify_password_reset_otp(self, resume_id: str, otp: str) -> ResetStep:
        """Forgot password, step 2: the OTP. Returns the step asking for the new value (with a
        *new* ``resume_id``). Any FAILED answer raises ``OtpRejected``. Never retried."""
        body = {"language": self._ums.language, "otp": otp, "resumeServiceRequestId": resume_id}
        answer = self._post(Endpoint.RESET_VALIDATE, body, {"resume_id": resume_id})
        if answer.failed:
            raise self._refusal(Endpoint.RESET_VALIDATE, answer, otp_step=True)
        return self._paused_step(Endpoint.RESET_VALIDATE, answer, NEW_VALUE_REQUIRED)

    def finish_password_reset(self, resume_id: str, new: str, confirm: str) -> None:
        """Forgot password, step 3: the new password. Never retried."""
        body = {
            "confirmedAuthenticationValue": confirm,
            "language": self._ums.language,
            "newAuthenticationValue": new,
            "resumeServiceRequestId": resume_id,
        }
        answer = self._post(Endpoint.RESET_CONFIRM, body, {"resume_id": resume_id})
        if answer.failed:
            raise self._refusal(Endpoint.RESET_CONFIRM, answer)
        self._expect_succeeded(Endpoint.RESET_CONFIRM, answer)

    # -----------------------------------------------------------------------------------------
    # Bills

    def fetch_pending_bills(self, utility: str, consumer_id: str, mobile: str) -> list[PendingBill]:
        """The consumer's pending bills (possibly none). Retried per ``RetryPolicy``.

        Raises ``ConsumerIdRequired`` (422), ``NotApplicableForUtility`` (403) — whether the
        code is the HTTP status or only in the body — ``TokenRejected``,
        ``MobiquityUnavailable`` or ``UnexpectedResponse``.
        """
        body = {
            "utility": utility,
            "consumer_id": consumer_id,
            "thirdParty": "aggregator",
            "params": {"MOB_NO": mobile},
        }
        context: dict[str, Any] = {"utility": utility, "consumer_id": consumer_id}
        answer = self._post(Endpoint.FETCH, body, context, log_answer=False)
        if answer.failed:
            self._log_final(Endpoint.FETCH, answer.label, answer, context)
            details = {**_error_details(answer), "endpoint": Endpoint.FETCH.value}
            message = details["user_message"] or ""
            if answer.status == 422:
                cls = ConsumerIdRequired if _mentions(answer, "consumer") else InvalidInput
                raise cls(f"fetch: HTTP 422: {message}", **details)
            if answer.status == 403 and _mentions(answer, "not applicable"):
                raise NotApplicableForUtility(f"fetch: HTTP 403: {message}", **details)
            raise self._refusal(Endpoint.FETCH, answer)
        try:
            bills = pending_bills(answer.body, http_status=answer.http_status)
        except UnexpectedResponse as exc:
            context["field"] = exc.field
            self._log_final(Endpoint.FETCH, "bad_body", answer, context)
            raise
        context["bills"] = len(bills)
        self._log_final(Endpoint.FETCH, answer.label, answer, context)
        return bills

    # -----------------------------------------------------------------------------------------
    # Bill payment

    def _billpay_body(self, payment: BillPayment, sender: PayerWallet) -> dict[str, Any]:
        settings = self._billpay
        amount: Any = payment.amount
        if settings.amount_format == "string":
            amount = format(payment.amount, "f")
        partner = {
            "billAccountNumber": payment.consumer_id,
            "billNumber": payment.bill_number,
            "surcharge": payment.surcharge,
            "vat": payment.vat,
            "other1": payment.other1,
            "other2": payment.other2,
            "billerName": payment.biller_name,
            "billerCode": payment.biller_code,
        }
        placement = self._reference_in
        if placement.partner_data_other1:
            partner["other1"] = payment.reference
        body: dict[str, Any] = {
            "bearerCode": settings.bearer_code,
            "currency": settings.currency,
            "deviceInfo": self._billpay_device.to_body(longitude_key="logitude"),
            "initiator": settings.initiator,
            "language": settings.language,
            "partnerData": partner,
            "receiver": {
                "idType": payment.receiver_id_type,
                "idValue": payment.receiver_wallet,
                "productId": payment.receiver_product_id,
            },
            "remarks": payment.reference if placement.remarks else "",
            "sender": {
                "idType": sender.id_type,
                "idValue": sender.msisdn,
                "mpin": sender.mpin,
                "paymentInstruments": [
                    {
                        "instrumentType": sender.instrument_type,
                        "amount": amount,
                        "productId": sender.product_id,
                    }
                ],
                "userRole": sender.user_role,
            },
            "serviceFlowId": settings.service_flow_id,
        }
        body.update(settings.extra_fields)
        if placement.top_level_field:
            body[placement.top_level_field] = payment.reference
        return body

    def pay_bill(self, payment: BillPayment, *, send_by: float | None = None) -> PaymentOutcome:
        """Send one bill payment, exactly once, and classify the outcome.

        Returns ``Accepted``, ``Rejected``, ``NotSent`` (provably never left: safe to send
        later) or ``Unknown`` (enquire; never resend). Never raises for transport or answer
        problems; raises ``ConfigurationError`` when no paying wallet is configured.

        ``send_by`` is a deadline on the client's monotonic clock (``clock``): once it has
        passed, the request does not leave and the answer is ``NotSent`` (kind
        ``send_by``) — a caller that promised to send at once or not at all keeps its word.
        """
        sender = self._sender
        if sender is None:
            raise ConfigurationError("pay_bill needs a paying wallet: MobiquityClient(sender=...)")
        endpoint = Endpoint.BILLPAY
        reference = payment.reference
        body = self._billpay_body(payment, sender)
        context = {"reference": reference, "biller_code": payment.biller_code}
        headers: dict[str, str] = {}
        token: str | None = None
        if endpoint in self._auth.system_token_for:
            try:
                token = self.system_token()
            except MobiquityError as exc:
                outcome: PaymentOutcome = NotSent(
                    reference, "token", f"no system token, billpay not sent: {exc}", 0.0
                )
                self._log(endpoint, "not_sent", 0.0, {**context, "kind": "token"}, None)
                return outcome
            headers["Authorization"] = f"Bearer {token}"

        answer: _Answer | None = None
        if send_by is not None and self._clock() >= send_by:
            self._log(endpoint, "not_sent", 0.0, {**context, "kind": "send_by"}, None)
            return NotSent(reference, "send_by", "the send-by moment passed before sending", 0.0)
        try:
            status, content, elapsed = self._send(
                endpoint, "POST", self._paths.billpay, json_body=body, headers=headers
            )
        except _SendFailed as failed:
            kind, detail = failed.failure.kind, failed.failure.detail
            if failed.failure.never_sent:
                outcome = NotSent(reference, kind, detail, failed.elapsed)
            else:
                outcome = Unknown(reference, kind, detail, None, failed.elapsed)
            elapsed = failed.elapsed
        except Exception as exc:  # safety net: a payment never raises past this point
            elapsed = 0.0
            log.exception("mobiquity billpay: unexpected error reference=%s", reference)
            outcome = Unknown(reference, "internal", f"{type(exc).__name__}", None, elapsed)
        else:
            try:
                answer = self._parse(status, content, elapsed)
                outcome = self._classify_billpay(reference, answer)
            except Exception as exc:  # safety net, as above: an answer came, its meaning is unknown
                log.exception("mobiquity billpay: cannot classify answer reference=%s", reference)
                outcome = Unknown(reference, "internal", f"{type(exc).__name__}", status, elapsed)
            if isinstance(outcome, Rejected) and status == 401 and token is not None:
                self._drop_token(token)
        label = {Accepted: "accepted", Rejected: "rejected", NotSent: "not_sent"}.get(
            type(outcome), "unknown"
        )
        extra = {**context, "kind": getattr(outcome, "kind", None)}
        self._log(endpoint, label, elapsed, extra, answer)
        self._notify(endpoint.value, label, elapsed)
        return outcome

    def _classify_billpay(self, reference: str, answer: _Answer) -> PaymentOutcome:
        status = answer.status
        details = _error_details(answer)
        env = answer.envelope
        order_id = env.get("orderId") if isinstance(env.get("orderId"), str) else None

        def unknown(kind: str, reason: str) -> Unknown:
            return Unknown(
                reference,
                kind,
                reason,
                answer.http_status,
                answer.elapsed,
                order_id=order_id,
                trace_id=details["trace_id"],
                service_request_id=details["service_request_id"],
            )

        def rejected(reason: str) -> Rejected:
            return Rejected(
                reference=reference,
                http_status=answer.http_status,
                error_code=details["error_code"],
                error_codes=details["error_codes"],
                user_message=details["user_message"] if answer.body is not None else None,
                order_id=order_id,
                order_status=env.get("orderStatus")
                if isinstance(env.get("orderStatus"), str)
                else None,
                trace_id=details["trace_id"],
                service_request_id=details["service_request_id"],
                reason=reason,
                elapsed_seconds=answer.elapsed,
                raw=dict(env),
            )

        if status >= 500 or answer.http_status >= 500:
            return unknown("http_5xx", f"HTTP {status}: the order may have been processed")
        if status in (401, 403) or answer.http_status in (401, 403):
            return rejected(f"HTTP {status}: the request was refused before processing")
        if answer.body is None:
            return unknown("bad_body", f"HTTP {status}: {answer.parse_error}")
        try:
            data = envelope(answer.body, what="billpay", http_status=answer.http_status)
        except UnexpectedResponse as exc:
            return unknown("bad_body", str(exc))
        failed = data["status"] == "FAILED" or data["orderStatus"] == "FAILED"
        accepted = (
            data["code"] == PROCESS_FULFILMENT
            or data["orderStatus"] in ACCEPTED_ORDER_STATUSES
            or data["status"] == "SUCCEEDED"
        )
        if failed and accepted:
            return unknown("contradictory", "the answer says both FAILED and accepted")
        if failed:
            if not (details["error_code"] or details["error_codes"]):
                return unknown("bad_body", "FAILED answer without an error code")
            if 200 <= status < 300 or 400 <= status < 500:
                return rejected("documented FAILED answer")
            return unknown("unexpected_status", f"FAILED answer with HTTP {status}")
        if 200 <= status < 300 and 200 <= answer.http_status < 300:
            if accepted:
                return Accepted(
                    reference=reference,
                    order_id=data["orderId"],
                    order_status=data["orderStatus"],
                    code=data["code"] if isinstance(data["code"], str) else None,
                    service_request_id=data["serviceRequestId"],
                    http_status=answer.http_status,
                    elapsed_seconds=answer.elapsed,
                    raw=dict(env),
                )
            return unknown("bad_body", f"HTTP {status} without an acceptance signal")
        return unknown("unexpected_status", f"HTTP {status} without a documented answer")

    # -----------------------------------------------------------------------------------------
    # Enquiry

    def enquire_payment(self, reference: str) -> EnquiryOutcome:
        """What Mobiquity knows of the payment with our reference id (assumed contract,
        decisions.md §1). Retried per ``RetryPolicy``; never raises for transport or answer
        problems: they are ``EnquiryUnknown``."""
        endpoint = Endpoint.ENQUIRY
        contract = self._enquiry
        path = self._paths.enquiry.replace("{reference}", quote(reference, safe=""))
        method = contract.method.upper()
        json_body = {contract.reference_body_field: reference} if method == "POST" else None
        context = {"reference": reference}

        try:
            answer = self._send_authorized(
                endpoint, method, path, context=context, json_body=json_body, log_answer=False
            )
        except MobiquityUnavailable as exc:
            return EnquiryUnknown(reference, exc.kind, str(exc), exc.http_status)
        except MobiquityError as exc:
            return EnquiryUnknown(reference, "token", f"no system token: {exc}", exc.http_status)
        outcome: EnquiryOutcome | None = None
        if contract.mapper is not None:
            outcome = contract.mapper(EnquiryAnswer(reference, answer.http_status, answer.body))
        if outcome is None:
            outcome = self._map_enquiry(reference, answer)
        # one line per call, with what the answer meant
        self._log_final(
            endpoint, answer.label, answer, {**context, "result": type(outcome).__name__}
        )
        return outcome

    def _map_enquiry(self, reference: str, answer: _Answer) -> EnquiryOutcome:
        contract = self._enquiry
        status = answer.status

        def unknown(kind: str, reason: str) -> EnquiryUnknown:
            return EnquiryUnknown(reference, kind, reason, answer.http_status)

        if answer.body is None:
            return unknown("bad_body", f"HTTP {status}: {answer.parse_error}")
        try:
            data = envelope(answer.body, what="enquiry", http_status=answer.http_status)
        except UnexpectedResponse as exc:
            return unknown("bad_body", str(exc))
        details = _error_details(answer)
        codes = {details["error_code"], *details["error_codes"]} - {None}
        if data["status"] == "FAILED" or status >= 400:
            # A bare 404 (wrong path, proxy) is not "not found": only Mobiquity's envelope is.
            if codes & contract.not_found_codes and status in (200, 404):
                return EnquiryNotFound(
                    reference, details["error_code"], details["trace_id"], raw=dict(answer.envelope)
                )
            return unknown("refused", f"HTTP {status} {sorted(c for c in codes if c)}")
        if not 200 <= status < 300:
            return unknown("unexpected_status", f"HTTP {status}")
        env = answer.envelope
        echoed = env.get(contract.reference_body_field)
        if echoed is not None and echoed != reference:
            return unknown("mismatch", "the answer is about another reference")
        order_status = env.get(contract.status_field)
        if not isinstance(order_status, str):
            return unknown("bad_body", f"enquiry: field {contract.status_field} missing")
        order_id = env.get("orderId") if isinstance(env.get("orderId"), str) else None
        srid = details["service_request_id"]
        raw = dict(env)
        if order_status in contract.succeeded:
            return EnquirySucceeded(reference, order_id, order_status, srid, raw=raw)
        if order_status in contract.failed:
            return EnquiryFailed(
                reference,
                order_id,
                order_status,
                details["error_code"],
                details["user_message"] if env.get("errorUserMsg") else None,
                srid,
                raw=raw,
            )
        if order_status in contract.pending:
            return EnquiryPending(reference, order_id, order_status, srid, raw=raw)
        return unknown("bad_body", f"enquiry: unknown {contract.status_field} {order_status!r}")
