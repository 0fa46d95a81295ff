"""Reading call-center and recording answers: tolerant of new fields, strict on times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from laaffic_async import AgentRecord, ResponseFormatError, TaskType
from laaffic_async._core import answers

UTC8 = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-01-18T14:42:40+08:00", datetime(2022, 1, 18, 14, 42, 40, tzinfo=UTC8)),
        ("2022-01-18 14:42:40", datetime(2022, 1, 18, 14, 42, 40, tzinfo=UTC8)),
        (1642488160000, datetime(2022, 1, 18, 6, 42, 40, tzinfo=UTC)),
        ("1642488160000", datetime(2022, 1, 18, 6, 42, 40, tzinfo=UTC)),
        (1642488160500.0, datetime(2022, 1, 18, 6, 42, 40, 500000, tzinfo=UTC)),
    ],
)
def test_platform_time_spellings(value: object, expected: datetime) -> None:
    moment = answers.platform_time(value)
    assert moment == expected
    assert moment.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("value", ["2022-01-18T14:42:40", "yesterday", True, None, [1]])
def test_platform_time_never_guesses(value: object) -> None:
    with pytest.raises(ValueError, match="time"):
        answers.platform_time(value)


def test_read_task_id() -> None:
    assert answers.read_task_id(12) == 12
    assert answers.read_task_id("12") == 12
    assert answers.read_task_id({"taskId": 7}) == 7
    for nothing in (None, "", "abc", True, [1]):
        assert answers.read_task_id(nothing) is None


def test_read_recording_url() -> None:
    link = answers.read_recording_url(
        "voice/getRecordingFileUrl", {"url": "https://x/y.mp3?sig=1", "expireTime": 1642488160000}
    )
    assert link.expire_time == datetime(2022, 1, 18, 6, 42, 40, tzinfo=UTC)
    for bad in ({"url": "u"}, {"url": "u", "expireTime": "soon"}, ["u"], None):
        with pytest.raises(ResponseFormatError) as info:
            answers.read_recording_url("voice/getRecordingFileUrl", bad)
        assert info.value.endpoint == "voice/getRecordingFileUrl"


def test_agents_and_upload_answers() -> None:
    agents = answers.read_agents("cc/seat/addSeatList", [{"keyId": 1, "name": "a"}])
    assert agents[0].key_id == "1"
    with pytest.raises(ResponseFormatError, match="keyId"):
        answers.read_agents("cc/seat/addSeatList", [{"name": "a"}])
    with pytest.raises(ResponseFormatError):
        answers.read_agents("cc/seat/addSeatList", None)
    uploaded = answers.read_uploaded(
        "cc/preview/upload", {"filePath": "/p", "numberTotalCount": "3", "numberSameCount": 0}
    )
    assert (uploaded.number_total_count, uploaded.number_same_count) == (3, 0)
    with pytest.raises(ResponseFormatError, match="numberTotalCount"):
        answers.read_uploaded("cc/preview/upload", {"filePath": "/p", "numberSameCount": 0})


def page(records: list[Any]) -> dict[str, Any]:
    return {"total": len(records), "size": 100, "current": 1, "pages": 1, "records": records}


def test_task_page_is_tolerant() -> None:
    read = answers.read_task_page(
        "cc/preview/query",
        page(
            [
                {"id": 3, "type": 1, "voiceGroupId": 5, "createTime": "2022-01-18 14:42:40"},
                {"taskId": "4", "type": 9, "novel": {"x": 1}, "status": "running"},
            ]
        ),
    )
    first, second = read.records
    assert first.task_id == "3"
    assert first.task_type is TaskType.GROUP_CALL_TO_AGENT
    assert first.voice_group_id == (5,)
    assert first.create_time == datetime(2022, 1, 18, 14, 42, 40, tzinfo=UTC8)
    assert (second.task_id, second.type, second.task_type, second.status) == (
        "4",
        9,
        None,
        "running",
    )
    with pytest.raises(ResponseFormatError, match="taskId"):
        answers.read_task_page("cc/preview/query", page([{"type": 1}]))
    with pytest.raises(ResponseFormatError, match="createTime"):
        answers.read_task_page("cc/preview/query", page([{"id": 1, "createTime": "later"}]))
    with pytest.raises(ResponseFormatError, match=r"records\[0\]"):
        answers.read_task_page("cc/preview/query", page(["x"]))


def test_agent_record_hides_its_password() -> None:
    read = answers.read_agent_page(
        "cc/seat/query",
        page([{"name": "a", "account": "1653C690ab_006", "password": "s3cr3t-pw", "keyId": 1}]),
    )
    agent = read.records[0]
    assert agent.password == "s3cr3t-pw"
    assert "s3cr3t-pw" not in repr(agent)
    assert "s3cr3t-pw" not in repr(read)
    assert "s3cr3t-pw" not in str(AgentRecord(password="s3cr3t-pw"))


def test_pages_refuse_other_shapes() -> None:
    bad: Any
    for bad in (None, [], {"records": "x"}, {"records": []}):
        with pytest.raises(ResponseFormatError):
            answers.read_group_page("cc/seatGroup/query", bad)
    empty = answers.read_group_page(
        "cc/seatGroup/query", {"total": 0, "size": 10, "current": 1, "pages": 0, "records": None}
    )
    assert empty.records == []


def test_read_record_tolerates_a_one_row_list() -> None:
    row = {"voiceId": "1", "submitTime": "2022-01-18T14:42:40+08:00"}
    assert answers.read_record("voice/recordSip/1", [row]).voice_id == "1"
    assert answers.read_record("voice/recordSip/1", row).voice_id == "1"
    with pytest.raises(ResponseFormatError):
        answers.read_record("voice/recordSip/1", [row, row])
