"""Push parsing: the three documented bodies field by field, unknown shapes, keys, bad JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laaffic_async import AgentRinging, CallCenterRecord, UnknownPush, VoiceReport
from laaffic_async._core.pushes import (
    AGENT_RINGING,
    CALL_CENTER_RECORD,
    UNKNOWN,
    VOICE_REPORT,
    PushFormatError,
    decode_body,
    parse_push,
    rebuild_event,
)

UTC8 = timezone(timedelta(hours=8))

# Every field NOTES.md lists for the voice report push, times in epoch milliseconds.
VOICE_REPORT_BODY: dict[str, Any] = {
    "voiceId": "2203031113381000002",
    "type": 3,
    "callee": "91856321412",
    "displayNum": "1008122211",
    "submitTime": 1642488160000,  # 2022-01-18T06:42:40Z = 14:42:40+08:00
    "callTime": 1642488161000,
    "ringingTime": 1642488163250,
    "answerTime": 1642488166000,
    "hangupTime": 1642488171000,
    "callDuration": 5,
    "chargedDuration": 20,
    "billPeriod": "20+20",
    "code": "Afghanistan(Kandahar)",
    "voiceFileId": "12022022570cc2484c59d4f8b9745d34226285b1e.mp3",
    "rate": "1.2",
    "baseCost": "0.4",
    "cost": 0.4,
    "terminationCode": "200",
    "terminationReason": "success",
    "sipCode": "200",
    "feedbackValue": "1",
    "calledInfo": "order-17",
    "ringDuration": 3,
    "currency": "EUR",
    "settleRate": "1.1",
    "quoteExchange": "0.92",
    "settlePay": "0.37",
}

CALL_CENTER_BODY: dict[str, Any] = {
    "callId": "2203031113381000002",
    "callSessionId": "CS-9000000000001",
    "called": "919876543210",
    "calledInfo": "lead 4",
    "caller": "1008122211",
    "ccode": "91",
    "ccodeName": "India",
    "agentName": "Jenny",
    "agentGroupName": "test-1",
    "agentAccount": "8001",
    "callDuration": 42,
    "callType": 1,
    "hangupCode": 200,
    "hangupReason": "3",
    "hangingDirection": 1,
    "labels": ["interested", "callback"],
    "baseCost": "0.0084",
    "cost": "0.0084",
    "remark": "group call to agent",
    "callStartTime": "2025-09-12 17:19:05",
    "answerTime": "2025-09-12 17:19:09",
    "callEndTime": "2025-09-12 17:19:51",
    "voiceUrl": "https://files.example/cc/CS-9000000000001.mp3",
}

RINGING_BODY: list[dict[str, Any]] = [
    {
        "callId": "c-77",
        "type": 1,
        "taskId": 71234,
        "called": "919876543210",
        "calledInfo": "",
        "seatGroupName": "test-1",
        "noAnswerSipList": [],
        "sipAccount": "8001",
        "callinEventTime": "2025-09-12 17:19:05",
    },
    {
        "callId": "c-77",
        "type": 1,
        "taskId": 71234,
        "called": "919876543210",
        "seatGroupName": "test-1",
        "noAnswerSipList": ["8001"],
        "sipAccount": "8002",
        "callinEventTime": "2025-09-12 17:19:20",
    },
]


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_voice_report_every_field() -> None:
    [parsed] = parse_push(body(VOICE_REPORT_BODY))
    assert parsed.kind == VOICE_REPORT
    assert parsed.key == "voiceId:2203031113381000002"
    assert parsed.event == VoiceReport(
        voice_id="2203031113381000002",
        type=3,
        callee="91856321412",
        display_num="1008122211",
        submit_time=datetime(2022, 1, 18, 6, 42, 40, tzinfo=UTC),
        call_time=datetime(2022, 1, 18, 6, 42, 41, tzinfo=UTC),
        ringing_time=datetime(2022, 1, 18, 6, 42, 43, 250000, tzinfo=UTC),
        answer_time=datetime(2022, 1, 18, 6, 42, 46, tzinfo=UTC),
        hangup_time=datetime(2022, 1, 18, 6, 42, 51, tzinfo=UTC),
        call_duration=5,
        charged_duration=20,
        bill_period="20+20",
        code="Afghanistan(Kandahar)",
        voice_file_id="12022022570cc2484c59d4f8b9745d34226285b1e.mp3",
        rate=Decimal("1.2"),
        base_cost=Decimal("0.4"),
        cost=Decimal("0.4"),
        termination_code="200",
        termination_reason="success",
        sip_code="200",
        feedback_value="1",
        called_info="order-17",
        ring_duration=3,
        currency="EUR",
        settle_rate=Decimal("1.1"),
        quote_exchange=Decimal("0.92"),
        settle_pay=Decimal("0.37"),
    )
    assert parsed.event.submit_time == datetime(2022, 1, 18, 14, 42, 40, tzinfo=UTC8)


def test_voice_report_absent_times_and_string_millis() -> None:
    data = {"voiceId": 2203031113381000002, "submitTime": "1642488160000", "answerTime": 0}
    data |= {"ringingTime": None, "hangupTime": "", "callTime": 1642488161000.0}
    [parsed] = parse_push(body(data))
    event = parsed.event
    assert isinstance(event, VoiceReport)
    assert event.voice_id == "2203031113381000002"
    assert event.submit_time == datetime(2022, 1, 18, 6, 42, 40, tzinfo=UTC)
    assert event.call_time == datetime(2022, 1, 18, 6, 42, 41, tzinfo=UTC)
    assert event.answer_time is None
    assert event.ringing_time is None
    assert event.hangup_time is None


def test_call_center_record_every_field() -> None:
    [parsed] = parse_push(body(CALL_CENTER_BODY))
    assert parsed.kind == CALL_CENTER_RECORD
    assert parsed.key == "callSessionId:CS-9000000000001"
    assert parsed.event == CallCenterRecord(
        call_session_id="CS-9000000000001",
        call_id="2203031113381000002",
        called="919876543210",
        called_info="lead 4",
        caller="1008122211",
        ccode="91",
        ccode_name="India",
        agent_name="Jenny",
        agent_group_name="test-1",
        agent_account="8001",
        call_duration=42,
        call_type=1,
        hangup_code="200",
        hangup_reason=3,
        hanging_direction=1,
        labels=("interested", "callback"),
        base_cost=Decimal("0.0084"),
        cost=Decimal("0.0084"),
        remark="group call to agent",
        call_start_time=datetime(2025, 9, 12, 17, 19, 5, tzinfo=UTC8),
        answer_time=datetime(2025, 9, 12, 17, 19, 9, tzinfo=UTC8),
        call_end_time=datetime(2025, 9, 12, 17, 19, 51, tzinfo=UTC8),
        voice_url="https://files.example/cc/CS-9000000000001.mp3",
    )
    start = parsed.event.call_start_time
    assert start is not None
    assert start.utcoffset() == timedelta(hours=8)
    assert start == datetime(2025, 9, 12, 9, 19, 5, tzinfo=UTC)


def test_call_center_record_null_labels_and_no_answer() -> None:
    data = CALL_CENTER_BODY | {"labels": None, "answerTime": "", "callId": None}
    [parsed] = parse_push(body(data))
    assert isinstance(parsed.event, CallCenterRecord)
    assert parsed.event.labels == ()
    assert parsed.event.answer_time is None
    assert parsed.event.call_id is None


def test_agent_ringing_array_gives_one_event_per_element() -> None:
    parsed = parse_push(body(RINGING_BODY))
    assert [p.kind for p in parsed] == [AGENT_RINGING, AGENT_RINGING]
    first, second = (p.event for p in parsed)
    assert first == AgentRinging(
        call_id="c-77",
        sip_account="8001",
        callin_event_time=datetime(2025, 9, 12, 17, 19, 5, tzinfo=UTC8),
        type=1,
        task_id="71234",
        called="919876543210",
        called_info=None,
        seat_group_name="test-1",
        no_answer_sip_list=(),
    )
    assert isinstance(second, AgentRinging)
    assert second.no_answer_sip_list == ("8001",)
    assert parsed[0].key == 'ringing:["c-77","8001","2025-09-12T17:19:05+08:00"]'
    assert parsed[0].key != parsed[1].key


def test_a_repeated_element_inside_one_push_is_kept_once() -> None:
    parsed = parse_push(body([RINGING_BODY[0], RINGING_BODY[0], RINGING_BODY[1]]))
    assert len(parsed) == 2


def test_empty_ringing_array_has_no_events() -> None:
    assert parse_push(b"[]") == []


@pytest.mark.parametrize(
    "data",
    [
        {"hello": "world"},
        [1, 2, 3],
        [{"callId": "c"}],  # not ringing: no sipAccount
        "text",
        42,
        None,
        True,
        {},
    ],
)
def test_unknown_shapes_are_kept_whole(data: Any) -> None:
    [parsed] = parse_push(body(data))
    assert parsed.kind == UNKNOWN
    assert parsed.event == UnknownPush(data)
    assert parsed.key.startswith("sha256:")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"voiceId": ""}, "$.voiceId: required"),
        ({"voiceId": "1", "submitTime": "yesterday"}, "$.submitTime: expected epoch milliseconds"),
        ({"voiceId": "1", "submitTime": True}, "$.submitTime"),
        ({"voiceId": "1", "submitTime": 10**30}, "$.submitTime: epoch milliseconds out of range"),
        ({"voiceId": "1", "cost": "lots"}, "$.cost"),
        ({"voiceId": {"nested": 1}}, "$.voiceId"),
        ({"callSessionId": "s", "callStartTime": "2025-09-12T17:19:05+08:00"}, "callStartTime"),
        ({"callSessionId": "s", "labels": "vip"}, "$.labels: expected a list"),
        ({"callSessionId": "s", "callType": "outgoing"}, "$.callType"),
        ([{"callId": "c", "sipAccount": "a"}], "$.callinEventTime: required"),
    ],
)
def test_unreadable_documented_shapes_become_unknown_with_the_reason(
    data: Any, problem: str
) -> None:
    [parsed] = parse_push(body(data))
    event = parsed.event
    assert isinstance(event, UnknownPush)
    assert event.data == (data[0] if isinstance(data, list) else data)
    assert event.problem is not None
    assert problem in event.problem


def test_unknown_key_ignores_key_order_and_whitespace() -> None:
    [a] = parse_push(b'{"a": 1, "b": [1, 2]}')
    [b] = parse_push(b'{"b":[1,2],"a":1}')
    [c] = parse_push(b'{"b":[1,2],"a":2}')
    assert a.key == b.key != c.key


def test_rebuild_gives_the_same_event_and_key() -> None:
    for data in (VOICE_REPORT_BODY, CALL_CENTER_BODY, RINGING_BODY, {"x": [1]}, "s"):
        for parsed in parse_push(body(data)):
            rebuilt = rebuild_event(parsed.kind, parsed.data)
            assert rebuilt == parsed.event
            assert rebuilt.key == parsed.key


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b'{"voiceId": "1"} trailing',
        b"\xff\xfe{}",
        b'{"voiceId": "\xc3\x28"}',
        b"[NaN]",
        b'{"cost": Infinity}',
        b'{"cost": 1e400}',
        b"[-1.5e999]",
        b"[" * 100_000,
        b"1" * 5000,  # past Python's int digit limit
    ],
)
def test_malformed_bodies_raise_push_format_error(raw: bytes) -> None:
    with pytest.raises(PushFormatError):
        parse_push(raw)


def test_byte_order_mark_is_tolerated() -> None:
    assert decode_body(b'\xef\xbb\xbf{"a":1}') == {"a": 1}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
documented_keys = st.sampled_from(
    ["voiceId", "callSessionId", "callId", "sipAccount", "callinEventTime", "submitTime"]
)
push_like = st.dictionaries(documented_keys | st.text(max_size=5), json_values, max_size=6)


@given(st.one_of(json_values, push_like, st.lists(push_like, max_size=3)))
def test_any_json_value_yields_events_and_stable_keys(data: Any) -> None:
    raw = json.dumps(data).encode()
    parsed = parse_push(raw)
    assert len({p.key for p in parsed}) == len(parsed)
    assert [p.key for p in parse_push(raw)] == [p.key for p in parsed]
    for p in parsed:
        assert p.event.key == p.key
        assert rebuild_event(p.kind, p.data) == p.event
