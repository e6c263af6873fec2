"""Every example payload of ``shared/mobiquity-api.md``, restated as data (``<jwt>`` shortened).

Bodies are kept as JSON *text* where the exact numbers matter (amounts must never pass through
float), as dicts otherwise.
"""

from mobiquity_client import DeviceInfo

#: The document's login device (§1.2).
DEVICE = DeviceInfo(
    device_id="ffed2d4608c5191f5086b2f2cf160afd",
    app_name="mobilePay",
    app_version="V X.9",
    browser="Google Chrome",
    model="Desktop - Windows 10",
    provider_ip_address="136.226.255.14",
)

TOKEN = {
    "access_token": "eyJhbGciOiJSUzI1NiJ9.system-token-secret",
    "token_type": "bearer",
    "expires_in": 299,
    "scope": "GET_USER_AND_ACCOUNT_DETAILS SELFSETAUTHFACTOR FETCH_USER_QUESTION TXN CORRECT "
    "ATMCASHOUT ATMCASHOUT_V4 ADMTXNREFID",
    "jti": "bab1f664-5605-4842-a12c-30145dc66e4f",
}

ERROR_INVALID_CREDENTIALS = {
    "txnStatus": "TF",
    "status": "FAILED",
    "language": "en",
    "mfsTenantId": "mfsPrimaryTenant",
    "errors": [
        {
            "code": "AUTH_06",
            "message": "Invalid login credentials. Please try again.",
            "componentName": "user-authentication",
        }
    ],
    "transactionTimeStamp": "2023-07-06T20:30:00",
    "errorCode": "Authen01",
    "traceId": "19422597-1711-4bc6-bcab-baf6734549a8",
    "step": "get.userid.service",
    "errorUserMsg": "Invalid credentials.",
    "httpErrorCode": "400",
}

LOGIN_REQUEST = {
    "bearerCode": "WEB",
    "language": "en",
    "workspaceId": "ADMIN",
    "identifierType": "LOGINID",
    "identifierValue": "Aman01",
    "authenticationValue": "Com@1357",
    "isTokenRequired": "Y",
    "deviceInfo": {
        "appName": "mobilePay",
        "appVersion": "V X.9",
        "deviceId": "ffed2d4608c5191f5086b2f2cf160afd",
        "browser": "Google Chrome",
        "isPublicDevice": "N",
        "latitude": "",
        "longitude": "",
        "mac": "",
        "model": "Desktop - Windows 10",
        "networkOperator": "",
        "networkType": "",
        "os": "",
        "providerIpAddress": "136.226.255.14",
    },
}

LOGIN_SUCCEEDED = {
    "serviceRequestId": "5b1c2d3e-0000-4000-8000-000000000001",
    "message": "Login Successfully",
    "transactionId": None,
    "txnStatus": None,
    "serviceFlow": "LOGIN_POLICY",
    "status": "SUCCEEDED",
    "language": "en",
    "token": {
        "access_token": "eyJ.user-access-token-secret",
        "expires_in": 299,
        "refresh_token": "eyJ.user-refresh-token-secret",
    },
    "lastLoginTime": "2023-10-04T10:31:28",
    "userId": "US.29211689145575742",
    "sessionIdList": ["fd4e5489-3280-4aa7-b1d0-596570277b2f"],
}

LOGIN_PAUSED_OTP = {
    "serviceRequestId": "d8b7d414-b4d0-4d02-9f42-d1c3edb6459b",
    "message": "OTP validation is required. Please enter OTP to continue",
    "transactionId": None,
    "txnStatus": None,
    "serviceFlow": "LOGIN_POLICY",
    "status": "PAUSED",
    "language": "en",
    "code": "otp.validation.required",
    "mfsTenantId": "mfsPrimaryTenant",
    "transactionTimeStamp": "2023-02-09T10:18:56",
}

LOGIN_CONFIRM_REQUEST = {
    "resumeServiceRequestId": "0a24aaa1-3e71-4468-a7a7-e7bc8aef6d31",
    "otp": "560727",
    "serviceCode": "LOGIN_POLICY",
}

LOGIN_CONFIRM_SUCCEEDED = {
    **LOGIN_SUCCEEDED,
    "message": "Login Successfully",
    "token": {
        "access_token": "eyJ.confirmed-access-token-secret",
        "expires_in": 2999,
        "refresh_token": "eyJ.confirmed-refresh-token-secret",
    },
}

ERROR_EMPTY_RESUME_ID = {
    "status": "FAILED",
    "language": "en",
    "errors": [
        {
            "code": "sfm.errors.invalid.resume.service.request.id",
            "message": "resume request id mandatory cannot have null or empty value",
        }
    ],
    "errorCode": "Generic06",
    "traceId": "0f9e8d7c-0000-4000-8000-000000000006",
    "errorUserMsg": "resume request id mandatory cannot have null or empty value",
    "httpErrorCode": "400",
}

# decisions.md §9: the sandbox's answer to a wrong / expired / reused OTP.
ERROR_OTP_INVALID = {
    "status": "FAILED",
    "language": "en",
    "errors": [{"code": "OTP_INVALID", "message": "Invalid OTP"}],
    "errorCode": "Authen02",
    "traceId": "0f9e8d7c-0000-4000-8000-000000000009",
    "errorUserMsg": "Invalid OTP",
    "httpErrorCode": "400",
}

CHANGE_CREDENTIAL_REQUEST = {
    "requestedBy": "SELF",
    "oldAuthenticationValue": "Com@8989",
    "newAuthenticationValue": "Com@4545",
    "confirmedAuthenticationValue": "Com@4545",
    "language": "en",
    "workspaceId": "ADMIN",
    "identifierType": "LOGINID",
    "identifierValue": "OTP01",
}

CHANGE_CREDENTIAL_SUCCEEDED = {
    "serviceRequestId": "79143bb4-9be3-4315-8cd8-33ee63703911",
    "message": "Authentication factor is successfully changed",
    "serviceFlow": "CHANGEAUTHFACTOR",
    "status": "SUCCEEDED",
    "userId": "US.462873139693364",
    "userName": None,
    "workspaceId": "ADMIN",
    "identifierType": "LOGINID",
    "identifierValue": "OTP01",
    "sessionIdList": ["dcbccb29-4aad-407d-a8b1-4738e53f478b"],
}

ERROR_WORKSPACE_MANDATORY = {
    "status": "FAILED",
    "language": "en",
    "errors": [{"code": "WORK02", "message": "Workspace is mandatory"}],
    "errorCode": "Generic04",
    "traceId": "0f9e8d7c-0000-4000-8000-000000000004",
    "errorUserMsg": "Workspace is mandatory",
    "httpErrorCode": "400",
}

RESET_INITIATE_REQUEST = {
    "requestedBy": "SELF",
    "workspaceId": "ADMIN",
    "identifierType": "LOGINID",
    "identifierValue": "OTP01",
    "language": "en",
    "bearerCode": "WEB",
}

RESET_INITIATE_PAUSED = {
    "serviceRequestId": "cfd43988-7adf-4168-bdcd-0523ce0a8634",
    "originalServiceRequestId": "cfd43988-7adf-4168-bdcd-0523ce0a8634",
    "status": "PAUSED",
    "code": "otp.validation.required",
    "serviceFlow": "SELFSETAUTHMFA",
    "message": "OTP validation is required. Please enter OTP to continue",
}

ERROR_INVALID_VALUE = {
    "status": "FAILED",
    "errors": [{"code": "invalid.value", "message": "Unexpected value 'LOGINI'"}],
    "errorCode": "invalid.value",
    "errorUserMsg": "Unexpected value 'LOGINI'",
    "httpErrorCode": "400",
}

RESET_VALIDATE_REQUEST = {
    "language": "en",
    "otp": "655336",
    "resumeServiceRequestId": "cfd43988-7adf-4168-bdcd-0523ce0a8634",
}

RESET_VALIDATE_PAUSED = {
    "serviceRequestId": "11111111-2222-4333-8444-555555555555",
    "originalServiceRequestId": "cfd43988-7adf-4168-bdcd-0523ce0a8634",
    "status": "PAUSED",
    "code": "new.auth.value.required",
    "serviceFlow": "SELFSETAUTHMFA",
}

ERROR_RESUME_NOT_FOUND = {
    "status": "FAILED",
    "errors": [
        {"code": "sfm.errors.resume.service.request.id.not.found", "message": "No data found"}
    ],
    "errorCode": "Generic05",
    "traceId": "0f9e8d7c-0000-4000-8000-000000000005",
    "errorUserMsg": "No data found",
    "httpErrorCode": "400",
}

RESET_CONFIRM_REQUEST = {
    "confirmedAuthenticationValue": "Com@0822",
    "language": "en",
    "newAuthenticationValue": "Com@0822",
    "resumeServiceRequestId": "11111111-2222-4333-8444-555555555555",
}

RESET_CONFIRM_SUCCEEDED = {
    "serviceRequestId": "22222222-2222-4333-8444-555555555555",
    "status": "SUCCEEDED",
    "code": "AUTH_04",
    "message": "Authentication factor is successfully changed",
}

FETCH_REQUEST = {
    "utility": "DSCO",
    "consumer_id": "17021270",
    "thirdParty": "aggregator",
    "params": {"MOB_NO": "9810036587"},
}

FETCH_SEVERAL_BILLS = """{"message": "OK", "code": 200, "utility": "DSCO", "account_no": "17021270",
 "bill_list": [
  {"bill_number": "012331291314", "due_date": "2023-08-14", "amount": 110.0,
   "service_charge": 0.0,
   "detail": {"accountNo": "31291311", "billNo": "012331291314", "billMonth": "07",
     "billYear": "2023", "totalKwh": "333", "amount": "100.0", "lpc": "10.0", "vat": "10.0",
     "issueDate": "14-07-2023", "dueDate": "14-08-2023", "paymentStatus": "UNPAID"}},
  {"bill_number": "012331291315", "due_date": "2023-03-14", "amount": 220.10,
   "service_charge": 5.55,
   "detail": {"accountNo": "31291311", "billNo": "012331291315", "billMonth": "2",
     "billYear": "2023", "totalKwh": "512", "amount": "200.1", "lpc": "10.0", "vat": "10.0",
     "issueDate": "14-02-2023", "dueDate": "14-03-2023", "paymentStatus": "UNPAID"}}]}"""

FETCH_ONE_BILL_NO_DETAIL = """{"message": "OK", "code": 200, "utility": "JGDCL",
 "account_no": "3265725864",
 "bill_list": [{"bill_number": "3265725864641415", "due_date": null, "amount": 430.0,
   "service_charge": 0.0, "detail": null}]}"""

FETCH_NO_BILL = """{"message": "OK", "code": 200, "utility": "DSCO", "account_no": "17021270",
 "bill_list": []}"""

FETCH_CONSUMER_ID_EMPTY = {"message": "Consumer Id can not be empty", "code": 422}

FETCH_NOT_APPLICABLE = {
    "message": "This API is not applicable for the specific utility",
    "timestamp": 1695725748098,
    "status": 403,
}

BILLPAY_REQUEST = {
    "bearerCode": "MOBILE",
    "currency": 101,
    "initiator": "sender",
    "language": "en",
    "serviceFlowId": "BILLPAYOAP",
}

BILLPAY_ACCEPTED = {
    "code": "process.fulfilment",
    "message": "Order is placed successfully",
    "orderId": "169647-825021-446643",
    "orderStatus": "PENDING",
    "serviceRequestId": "96c7bed5-e9bf-4f5e-96a4-3eaed32bddd3",
    "transactionTimeStamp": "2023-10-05T09:57:31",
}

BILLPAY_FAILED = {
    "status": "FAILED",
    "language": "en",
    "mfsTenantId": "mfsPrimaryTenant",
    "errors": [
        {
            "code": "AUTH03",
            "message": "Provided Password Authentication is invalid. Remaining attempts: 3",
            "componentName": "user-authentication",
        }
    ],
    "transactionTimeStamp": "2023-10-05T09:58:43",
    "errorCode": "Authen01",
    "traceId": "79f0dc48-3ecb-441e-b70c-4adaab4d722c",
    "step": "validate.initiator:E.update.order.initiator.authentication.failed",
    "errorUserMsg": "Invalid credentials.",
    "orderId": "169647-832294-424111",
    "orderStatus": "FAILED",
    "orderState": "VALIDATION_FAILED",
    "httpErrorCode": "400",
}

# decisions.md §1 (assumed enquiry contract)
REFERENCE = "REF0000000000000001A"


def enquiry_found(order_status: str, **extra: object) -> dict[str, object]:
    return {
        "status": "SUCCEEDED",
        "externalReferenceId": REFERENCE,
        "orderId": "169647-825021-446643",
        "orderStatus": order_status,
        "serviceRequestId": "96c7bed5-e9bf-4f5e-96a4-3eaed32bddd3",
        **extra,
    }


ENQUIRY_NOT_FOUND = {
    "status": "FAILED",
    "errors": [{"code": "order.not.found", "message": "Order not found"}],
    "errorCode": "Generic05",
    "traceId": "0f9e8d7c-0000-4000-8000-000000000404",
    "errorUserMsg": "No data found",
    "httpErrorCode": "404",
}

# decisions.md / the sandbox: a refused bearer token, OAuth2 fields plus the common envelope.
UNAUTHORIZED_ENVELOPE = {
    "error": "invalid_token",
    "error_description": "Access token expired",
    "txnStatus": "TF",
    "status": "FAILED",
    "errors": [{"code": "AUTH_TOKEN_EXPIRED", "message": "Access token expired"}],
    "errorCode": "Authen04",
    "traceId": "0f9e8d7c-0000-4000-8000-000000000401",
    "errorUserMsg": "Unauthorized",
    "httpErrorCode": "401",
}
