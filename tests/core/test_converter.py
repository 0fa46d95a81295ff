from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from laaffic_async import Call, CallRecord, RecordPage
from laaffic_async._core.converter import camel, structure, to_wire

SAMPLE = {
    "voiceId": "2203031113381000002",
    "sipGroupName": "group1",
    "phoneName": "sipName8555",
    "callee": "91856321412",
    "displayNum": "1008122211",
    "code": "Afghanistan(Kandahar)",
    "submitTime": "2022-01-18T14:42:40+08:00",
    "callTime": "2022-01-18T14:45:42+08:00",
    "ringingTime": "2022-01-18T14:42:47+08:00",
    "answerTime": "2022-01-18T14:42:50+08:00",
    "hangupTime": "2022-01-18T14:42:55+08:00",
    "callDuration": 5,
    "chargedDuration": 5,
    "terminationCode": "200",
    "terminationReason": "success",
    "cost": "2",
    "billPeriod": "20+20",
    "rate": "1.2",
    "recordingFileId": "12022022570cc2484c59d4f8b9745d34226285b1e.mp3",
    "currency": "EUR",
}


def test_camel() -> None:
    assert camel("submit_time") == "submitTime"
    assert camel("voice_id") == "voiceId"
    assert camel("callee") == "callee"


def test_vendor_sample_record() -> None:
    record = structure(SAMPLE, CallRecord)
    assert record.voice_id == "2203031113381000002"
    assert record.submit_time == datetime(2022, 1, 18, 6, 42, 40, tzinfo=UTC)
    assert record.submit_time.utcoffset() == timedelta(hours=8)
    assert record.cost == Decimal("2")
    assert record.rate == Decimal("1.2")
    assert record.call_duration == 5
    assert record.currency == "EUR"


def test_unknown_fields_tolerated_and_missing_optional() -> None:
    record = structure(
        {"voiceId": "1", "submitTime": "2022-01-18T14:42:40+08:00", "newField": [1, 2]},
        CallRecord,
    )
    assert record.callee is None
    assert record.cost is None


def test_empty_strings_are_absent_and_numbers_tolerated() -> None:
    record = structure(
        {**SAMPLE, "answerTime": "", "cost": 0.1, "callDuration": "7", "terminationCode": 200},
        CallRecord,
    )
    assert record.answer_time is None
    assert record.cost == Decimal("0.1")
    assert record.call_duration == 7
    assert record.termination_code == "200"


def test_time_without_offset_is_refused() -> None:
    with pytest.raises(ValueError, match=r"submitTime.*offset"):
        structure({**SAMPLE, "submitTime": "2022-01-18T14:42:40"}, CallRecord)


def test_page() -> None:
    page = structure(
        {
            "total": 5,
            "size": 20,
            "current": 1,
            "pages": 1,
            "searchCount": True,
            "records": [SAMPLE],
        },
        RecordPage,
    )
    assert page.total == 5
    assert page.search_count is True
    assert page.records[0].phone_name == "sipName8555"


def test_call_to_wire() -> None:
    assert to_wire(Call(callee="932111111111", account="a", display_num="1008122211")) == {
        "callee": "932111111111",
        "account": "a",
        "displayNum": "1008122211",
    }
