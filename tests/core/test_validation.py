"""Every field rule of the sendSip page, and the recordSipQuery page's own."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from laaffic_async import Call, RequestValidationError
from laaffic_async._core.requests import record_query_request, send_sip_request

UTC8 = timezone(timedelta(hours=8))


@pytest.mark.parametrize("callee", ["1234567", "123456789012345", "932111111111"])
def test_callee_accepts_7_to_15_digits(callee: str) -> None:
    assert Call(callee=callee, account="a").callee == callee


@pytest.mark.parametrize(
    "callee",
    ["123456", "1234567890123456", "+93211111111", "93 211111111", "abcdefghi", "", "١٢٣٤٥٦٧٨"],
)
def test_callee_rule(callee: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        Call(callee=callee, account="a")
    assert info.value.field == "callee"
    assert "7-15 digits" in str(info.value)


def test_callee_must_be_a_string() -> None:
    with pytest.raises(RequestValidationError, match="callee"):
        Call(callee=932111111111, account="a")  # type: ignore[arg-type]


@pytest.mark.parametrize("display_num", [None, "1008122211", "1234567", "123456789012345"])
def test_display_num_ok(display_num: str | None) -> None:
    assert Call(callee="932111111111", account="a", display_num=display_num)


@pytest.mark.parametrize("display_num", ["123456", "1234567890123456", "10081a2211", ""])
def test_display_num_rule(display_num: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        Call(callee="932111111111", account="a", display_num=display_num)
    assert info.value.field == "displayNum"


@pytest.mark.parametrize("called_info", [None, "", "x" * 1000, "用户"])
def test_called_info_ok(called_info: str | None) -> None:
    assert Call(callee="932111111111", account="a", called_info=called_info)


def test_called_info_rule() -> None:
    with pytest.raises(RequestValidationError) as info:
        Call(callee="932111111111", account="a", called_info="x" * 1001)
    assert info.value.field == "calledInfo"
    assert "0-1000" in info.value.rule


@pytest.mark.parametrize("account", ["", "   ", None])
def test_account_required(account: str | None) -> None:
    with pytest.raises(RequestValidationError) as info:
        Call(callee="932111111111", account=account)  # type: ignore[arg-type]
    assert info.value.field == "account"


def test_app_id_required_at_send_time() -> None:
    call = Call(callee="932111111111", account="a")
    with pytest.raises(RequestValidationError) as info:
        send_sip_request(call, None)
    assert info.value.field == "appId"
    with pytest.raises(RequestValidationError):
        Call(callee="932111111111", account="a", app_id="")


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="callee"):
        Call(callee="1", account="a")


def test_send_sip_body() -> None:
    request = send_sip_request(
        Call(
            callee="932111111111", account="test_001", display_num="1008122211", called_info="ref"
        ),
        "4luaKsL2",
    )
    assert request.method == "POST"
    assert request.endpoint == "voice/sendSip"
    assert request.dials
    assert json.loads(request.body or b"") == {
        "callee": "932111111111",
        "displayNum": "1008122211",
        "account": "test_001",
        "appId": "4luaKsL2",
        "calledInfo": "ref",
    }


def test_send_sip_body_omits_absent_fields_and_prefers_call_app_id() -> None:
    request = send_sip_request(Call(callee="932111111111", account="a", app_id="own"), "default")
    assert json.loads(request.body or b"") == {
        "callee": "932111111111",
        "account": "a",
        "appId": "own",
    }


def test_record_query_body() -> None:
    start = datetime(2022, 2, 18, tzinfo=UTC8)
    request = record_query_request(start, start + timedelta(days=1), current=2, size=20)
    assert not request.dials
    assert json.loads(request.body or b"") == {
        "current": 2,
        "size": 20,
        "params": {"strTime": "2022-02-18T00:00:00+08:00", "endTime": "2022-02-19T00:00:00+08:00"},
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"size": 0}, "size"),
        ({"size": 101}, "size"),
        ({"current": 0}, "current"),
        ({"size": True}, "size"),
        ({"sip_group_name": ""}, "sipGroupName"),
        ({"phone_name": " "}, "phoneName"),
    ],
)
def test_record_query_rules(kwargs: dict[str, object], field: str) -> None:
    start = datetime(2022, 2, 18, tzinfo=UTC8)
    with pytest.raises(RequestValidationError) as info:
        record_query_request(start, start + timedelta(days=1), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_record_query_refuses_naive_and_reversed_windows() -> None:
    naive = datetime(2022, 2, 18)
    aware = naive.replace(tzinfo=UTC8)
    with pytest.raises(RequestValidationError, match="timezone-aware") as info:
        record_query_request(naive, aware)
    assert info.value.field == "strTime"
    with pytest.raises(RequestValidationError, match="before") as info:
        record_query_request(aware, aware - timedelta(seconds=1))
    assert info.value.field == "endTime"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("calledInfo", {"called_info": "ref \ud800"}),
        ("account", {"account": "acc\udfff"}),
        ("appId", {"app_id": "\ud83d"}),
    ],
)
def test_lone_surrogates_are_refused(field: str, kwargs: dict[str, str]) -> None:
    # They pass as str, then fail to encode on the wire: a never-sent call once came back
    # from send_many as "unknown".
    with pytest.raises(RequestValidationError, match="lone surrogate") as info:
        Call(**{"callee": "932111111111", "account": "a", **kwargs})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_key", "key\r\nX-Injected: 1"),
        ("api_key", "ключ"),
        ("api_secret", "secret\n"),
        ("api_secret", "s\x00cret"),
        ("app_id", "app\r"),
        ("app_id", "app\u4e00"),
    ],
)
def test_credentials_that_cannot_be_sent_are_refused_at_construction(
    field: str, value: str
) -> None:
    from laaffic_async import AsyncClient

    given = {"api_key": "bDqJFiq9", "api_secret": "7bz1lzh9", "app_id": "4luaKsL2"}
    given[field] = value
    with pytest.raises(RequestValidationError) as info:
        AsyncClient(given["api_key"], given["api_secret"], app_id=given["app_id"])
    assert info.value.field == field
    assert value not in str(info.value)  # a secret is never echoed


def test_concurrency_arguments_are_bounded() -> None:
    from laaffic_async import AsyncClient
    from laaffic_async._dialing.options import BatchOptions

    client = AsyncClient("bDqJFiq9", "7bz1lzh9", app_id="4luaKsL2")
    start = datetime.now(UTC8) - timedelta(days=1)
    with pytest.raises(RequestValidationError, match="1-1000") as info:
        client.records(start, start + timedelta(hours=1), concurrency=10**6)
    assert info.value.field == "concurrency"
    with pytest.raises(RequestValidationError, match="1-1000"):
        BatchOptions(concurrency=10**6)
    with pytest.raises(RequestValidationError, match="lookahead"):
        BatchOptions(concurrency=10, lookahead=10**9)
    with pytest.raises(RequestValidationError, match="1-1000"):
        AsyncClient("bDqJFiq9", "7bz1lzh9", concurrency=10**6)
    with pytest.raises(RequestValidationError, match="1-1000"):
        client.call_center.groups(concurrency=10**6)
