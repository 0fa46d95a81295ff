from __future__ import annotations

import json

import pytest

from laaffic_async import errors
from laaffic_async._core.envelope import decode

SEND_SIP_CODES = [
    ("-1", errors.AuthenticationError),
    ("-2", errors.IpRestrictedError),
    ("-10", errors.InsufficientBalanceError),
    ("-16", errors.TimestampExpiredError),
    ("-18", errors.MalformedRequestError),
    ("-22", errors.InvalidParameterError),
    ("-26", errors.FeeLookupError),
    ("-68", errors.SipBusyError),
]
RECORD_QUERY_CODES = [
    ("-1", errors.AuthenticationError),
    ("-2", errors.IpRestrictedError),
    ("-15", errors.RateLimitedError),
    ("-16", errors.TimestampExpiredError),
    ("-18", errors.MalformedRequestError),
    ("-22", errors.InvalidParameterError),
    ("-25", errors.TimeRangeError),
]


def body(status: object, reason: str = "x", data: object = None) -> bytes:
    return json.dumps({"status": status, "reason": reason, "data": data}).encode()


def test_success_returns_data() -> None:
    assert decode("voice/sendSip", 200, body("0", "success", "2203031113381000002")) == (
        "2203031113381000002"
    )


def test_numeric_status_is_accepted() -> None:
    assert decode("voice/sendSip", 200, body(0, "success", "1")) == "1"
    with pytest.raises(errors.SipBusyError):
        decode("voice/sendSip", 200, body(-68))


@pytest.mark.parametrize(("code", "cls"), SEND_SIP_CODES)
def test_send_sip_codes(code: str, cls: type[errors.ApiError]) -> None:
    with pytest.raises(cls) as info:
        decode("voice/sendSip", 200, body(code, "why"))
    assert type(info.value) is cls
    assert info.value.status == code
    assert info.value.reason == "why"
    assert info.value.endpoint == "voice/sendSip"


@pytest.mark.parametrize(("code", "cls"), RECORD_QUERY_CODES)
def test_record_query_codes(code: str, cls: type[errors.ApiError]) -> None:
    with pytest.raises(cls):
        decode("voice/recordSipQuery", 200, body(code))


def test_codes_are_per_endpoint() -> None:
    # -68 is "SIP not idle" on sendSip only; elsewhere it is just an ApiError.
    with pytest.raises(errors.ApiError) as info:
        decode("cc/seat/query", 200, body("-68"))
    assert type(info.value) is errors.ApiError


def test_unknown_code_is_plain_api_error() -> None:
    with pytest.raises(errors.ApiError) as info:
        decode("voice/sendSip", 200, body("-999", "new"))
    assert type(info.value) is errors.ApiError
    assert info.value.status == "-999"


def test_path_parameter_endpoints_use_their_table() -> None:
    with pytest.raises(errors.DataNotFoundError):
        decode("voice/recordSip/123", 200, body("-24"))


def test_http_status_error() -> None:
    with pytest.raises(errors.HttpStatusError) as info:
        decode("voice/sendSip", 502, b"bad gateway")
    assert info.value.status_code == 502
    assert "bad gateway" in info.value.body


@pytest.mark.parametrize("raw", [b"<html>", b"[]", b'{"reason":"no status"}', b'{"status":null}'])
def test_not_an_envelope(raw: bytes) -> None:
    with pytest.raises(errors.ResponseFormatError):
        decode("voice/sendSip", 200, raw)


def test_missing_reason_is_empty() -> None:
    with pytest.raises(errors.InvalidParameterError) as info:
        decode("voice/sendSip", 200, b'{"status":"-22"}')
    assert info.value.reason == ""
