"""The call-center request builders: pure, synchronous, table-driven."""

from __future__ import annotations

import base64
import itertools
import json
import os
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laaffic_async import (
    RequestValidationError,
    TaskSubmission,
    TaskType,
)
from laaffic_async._core import callcenter as build
from tests.core.test_purity import FORBIDDEN, imported_roots

APP = "4luaKsL2"


def body(request: Any) -> Any:
    return json.loads(request.body)


def test_models_module_is_pure() -> None:
    import laaffic_async._callcenter_models as models

    assert not imported_roots(Path(models.__file__)) & FORBIDDEN


def test_add_group_body_and_default_app_id() -> None:
    request = build.add_group_request("test-1", None, APP)
    assert (request.method, request.endpoint) == ("POST", "cc/seatGroup/addGroup")
    assert body(request) == {"groupName": "test-1", "appId": APP}
    assert body(build.add_group_request("test-1", "HsiT9A6d", APP))["appId"] == "HsiT9A6d"


@pytest.mark.parametrize(
    ("name", "app_id", "field"),
    [
        ("abc", APP, "groupName"),
        ("x" * 33, APP, "groupName"),
        ("    ", APP, "groupName"),
        (42, APP, "groupName"),
        ("test-1", None, "appId"),
        ("test-1", "", "appId"),
    ],
)
def test_add_group_refuses(name: Any, app_id: Any, field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        build.add_group_request(name, app_id, None)
    assert info.value.field == field


def test_group_name_bounds_are_inclusive() -> None:
    assert body(build.add_group_request("abcd", APP, None))["groupName"] == "abcd"
    assert body(build.add_group_request("x" * 32, APP, None))["groupName"] == "x" * 32


def test_add_agents_body_matches_the_vendor_sample() -> None:
    request = build.add_agents_request(5005421, 2, "1234", "91")
    assert body(request) == {
        "voiceGroupId": 5005421,
        "size": 2,
        "displayNum": "1234",
        "ccode": "91",
    }
    assert body(build.add_agents_request(5005421, 1, None, None)) == {
        "voiceGroupId": 5005421,
        "size": 1,
    }


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 1, None, None), "voiceGroupId"),
        (("5005421", 1, None, None), "voiceGroupId"),
        ((True, 1, None, None), "voiceGroupId"),
        ((5005421, 0, None, None), "size"),
        ((5005421, 1.5, None, None), "size"),
        ((5005421, 1, "12a4", None), "displayNum"),
        ((5005421, 1, "", None), "displayNum"),
        ((5005421, 1, None, "+91"), "ccode"),
        ((5005421, 1, None, "12345"), "ccode"),
    ],
)
def test_add_agents_refuses(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        build.add_agents_request(*args)
    assert info.value.field == field


@pytest.mark.parametrize(
    "name", [".xls", "numbers.csv", "numbers.xlsx.txt", "x" * 28 + ".xlsx", "dir/list.xlsx", 5]
)
def test_file_name_rules(name: Any) -> None:
    with pytest.raises(RequestValidationError) as info:
        build.check_file_name(name)
    assert info.value.field == "fileName"


@pytest.mark.parametrize(
    "name", ["a.xls", "Template_voice_numFiles_cn.xls", "N.XLSX", "x" * 27 + ".xlsx"]
)
def test_file_names_accepted(name: str) -> None:
    assert build.check_file_name(name) == name


def decoded_upload(request: Any) -> tuple[str, bytes]:
    data = body(request)
    return data["fileName"], base64.b64decode(data["file"], validate=True)


@given(
    data=st.binary(min_size=1, max_size=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    hint=st.booleans(),
)
def test_upload_body_is_exact_base64_whatever_the_chunking(
    data: bytes, cuts: list[int], hint: bool
) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    request = build.upload_request("numbers.xlsx", iter(chunks), len(data) if hint else None)
    assert decoded_upload(request) == ("numbers.xlsx", data)
    assert request.body is not None
    assert len(request.body) == build.upload_body_size("numbers.xlsx", len(data))
    assert request.endpoint == "cc/preview/upload"
    assert not request.dials


def test_upload_with_a_wrong_size_hint_is_still_exact() -> None:
    data = os.urandom(10_000)
    for hint in (1, 9_999, 10_001, 50_000):
        request = build.upload_request("numbers.xlsx", [data[:4321], data[4321:]], hint)
        assert decoded_upload(request)[1] == data


def test_upload_file_name_is_json_escaped() -> None:
    request = build.upload_request('a"b é.xlsx', [b"PK\x03\x04"], 4)
    assert decoded_upload(request) == ('a"b é.xlsx', b"PK\x03\x04")


def test_empty_upload_is_refused() -> None:
    with pytest.raises(RequestValidationError) as info:
        build.upload_request("numbers.xlsx", iter([b"", b""]), 0)
    assert info.value.field == "file"


def test_upload_body_holds_one_encoded_copy() -> None:
    """Peak memory while building is the base64 body plus small change, not two copies."""
    data = os.urandom(3_000_000)
    encoded_size = build.upload_body_size("numbers.xlsx", len(data))
    for chunks, hint in (
        ([data], len(data)),
        ((data[i : i + 65536] for i in range(0, len(data), 65536)), None),
    ):
        tracemalloc.start()
        try:
            request = build.upload_request("numbers.xlsx", chunks, hint)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert request.body is not None
        assert len(request.body) == encoded_size
        # Two copies would be 2 * 4 MB; allow 15% for BytesIO's growth and one chunk.
        assert peak < encoded_size * 1.15, (hint, peak, encoded_size)
        del request


def submit(**overrides: Any) -> Any:
    args: dict[str, Any] = {
        "file_path": "/mnt/cc/upload/execl/202509121719054_Jenny_.xls",
        "file_name": "Template_voice_numFiles_cn.xls",
        "task_type": TaskType.GROUP_CALL_TO_AGENT,
        "voice_group_ids": [5000531],
        "app_id": "HsiT9A6d",
        "default_app_id": APP,
        "callout_rate": 1,
        "remark": "group call to agent",
    }
    args.update(overrides)
    return build.submit_task_request(**args)


def test_submit_task_body_matches_the_vendor_sample() -> None:
    request = submit()
    assert body(request) == {
        "filePath": "/mnt/cc/upload/execl/202509121719054_Jenny_.xls",
        "voiceGroupId": [5000531],
        "appId": "HsiT9A6d",
        "calloutRate": 1,
        "type": 1,
        "fileName": "Template_voice_numFiles_cn.xls",
        "remark": "group call to agent",
    }
    assert request.dials
    assert request.subject == TaskSubmission(
        file_path="/mnt/cc/upload/execl/202509121719054_Jenny_.xls",
        file_name="Template_voice_numFiles_cn.xls",
        type=TaskType.GROUP_CALL_TO_AGENT,
        voice_group_id=(5000531,),
        app_id="HsiT9A6d",
        callout_rate=1,
        remark="group call to agent",
    )


def test_automatic_calling_takes_several_groups_and_no_rate() -> None:
    request = submit(
        task_type=0, voice_group_ids=(1, 2, 3), callout_rate=None, remark=None, app_id=None
    )
    assert body(request) == {
        "filePath": "/mnt/cc/upload/execl/202509121719054_Jenny_.xls",
        "fileName": "Template_voice_numFiles_cn.xls",
        "type": 0,
        "voiceGroupId": [1, 2, 3],
        "appId": APP,
    }
    extras = body(submit(display_num="1008122211", country_code="91"))
    assert (extras["displayNum"], extras["ccode"]) == ("1008122211", "91")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"voice_group_ids": [1, 2]}, "voiceGroupId"),
        ({"voice_group_ids": []}, "voiceGroupId"),
        ({"callout_rate": None}, "calloutRate"),
        ({"callout_rate": 0}, "calloutRate"),
        ({"task_type": 2}, "type"),
        ({"task_type": "1"}, "type"),
        ({"task_type": True}, "type"),
        ({"task_type": 0, "voice_group_ids": []}, "voiceGroupId"),
        ({"task_type": 0, "voice_group_ids": [1, 1]}, "voiceGroupId"),
        ({"task_type": 0, "voice_group_ids": "5000531"}, "voiceGroupId"),
        ({"task_type": 0, "voice_group_ids": [0]}, "voiceGroupId"),
        ({"file_path": ""}, "filePath"),
        ({"file_name": "numbers.csv"}, "fileName"),
        ({"app_id": None, "default_app_id": None}, "appId"),
        ({"display_num": "+1234"}, "displayNum"),
        ({"country_code": "abc"}, "ccode"),
        ({"remark": ""}, "remark"),
    ],
)
def test_submit_task_refuses_bad_combinations(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        submit(**overrides)
    assert info.value.field == field


def test_query_bodies() -> None:
    assert body(build.group_query_request(2, 50, "support-1")) == {
        "current": 2,
        "size": 50,
        "params": {"groupName": "support-1"},
    }
    start = datetime(2022, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    agents = build.agent_query_request(
        1, 10, voice_group_id=5, name="n", status=0, enable=True, start=start, end=start
    )
    assert body(agents)["params"] == {
        "voiceGroupId": 5,
        "name": "n",
        "status": 0,
        "enable": 1,
        "strTime": "2022-01-01T00:00:00+08:00",
        "endTime": "2022-01-01T00:00:00+08:00",
    }
    tasks = build.task_query_request(1, 100, task_type=TaskType.AUTOMATIC_CALLING, status=1)
    assert body(tasks) == {"current": 1, "size": 100, "params": {"type": 0, "status": 1}}
    assert body(build.group_query_request(1, 1))["params"] == {}


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: build.group_query_request(0, 10), "current"),
        (lambda: build.group_query_request(1, 101), "size"),
        (lambda: build.agent_query_request(1, 10, enable=1), "enable"),  # type: ignore[arg-type]
        (lambda: build.agent_query_request(1, 10, start=datetime(2022, 1, 1)), "strTime"),
        (
            lambda: build.agent_query_request(
                1, 10, start=datetime(2022, 1, 2, tzinfo=UTC), end=datetime(2022, 1, 1, tzinfo=UTC)
            ),
            "endTime",
        ),
        (lambda: build.task_query_request(1, 10, task_type=7), "type"),
    ],
)
def test_query_refusals(call: Any, field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        call()
    assert info.value.field == field


def test_get_requests() -> None:
    record = build.record_request("2203031113381000002")
    assert (record.method, record.endpoint, record.body) == (
        "GET",
        "voice/recordSip/2203031113381000002",
        None,
    )
    link = build.recording_url_request("x.mp3", "group")
    assert (link.method, link.endpoint, link.params) == (
        "GET",
        "voice/getRecordingFileUrl",
        (("recordingFileId", "x.mp3"), ("sourceType", "group")),
    )
    for bad in ("", "a/b", " 1", None):
        with pytest.raises(RequestValidationError, match="voiceId"):
            build.record_request(bad)  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="sourceType"):
        build.recording_url_request("x.mp3", "phone")
    with pytest.raises(RequestValidationError, match="recordingFileId"):
        build.recording_url_request("", "sip")
