"""Request building for the call-center endpoints and the recording extras.

Validated values in, :class:`~.requests.ApiRequest` out; the rules come from
the call-center quick start page and ``NOTES.md`` ("More endpoints"), each
check naming the wire field it guards.  Answers are read in :mod:`.answers`.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .._callcenter_models import TaskSubmission, TaskType
from ..errors import RequestValidationError
from . import validators as v
from .converter import to_wire, unstructure_time
from .requests import ApiRequest, dump_json

__all__ = [
    "ADD_AGENTS",
    "ADD_GROUP",
    "AGENT_QUERY",
    "GROUP_QUERY",
    "RECORDING_URL",
    "RECORD_SIP",
    "SOURCE_TYPES",
    "SUBMIT_TASK",
    "TASK_QUERY",
    "UPLOAD",
    "add_agents_request",
    "add_group_request",
    "agent_query_request",
    "check_file_name",
    "group_query_request",
    "record_request",
    "recording_url_request",
    "require_app_id",
    "submit_task_request",
    "task_query_request",
    "upload_body_size",
    "upload_request",
]

ADD_GROUP = "cc/seatGroup/addGroup"
GROUP_QUERY = "cc/seatGroup/query"
ADD_AGENTS = "cc/seat/addSeatList"
AGENT_QUERY = "cc/seat/query"
UPLOAD = "cc/preview/upload"
SUBMIT_TASK = "cc/preview/submitTask"
TASK_QUERY = "cc/preview/query"
RECORD_SIP = "voice/recordSip"
RECORDING_URL = "voice/getRecordingFileUrl"

#: Call-center quick start: "group name 4-32 characters" (NOTES.md).
GROUP_NAME_LENGTH = (4, 32)
#: NOTES.md: number-list "file names 5-32 characters; .xls or .xlsx".
FILE_NAME_LENGTH = (5, 32)
FILE_EXTENSIONS = (".xls", ".xlsx")
#: The addSeatList sample sends ``"displayNum":"1234"``: shorter than sendSip's 7-15 digits.
CC_DISPLAY_NUM_DIGITS = (1, 15)
#: The addSeatList sample sends ``"ccode":"91"``: a country calling code.
COUNTRY_CODE_DIGITS = (1, 4)
#: voice/getRecordingFileUrl: ``sourceType=sip|group``.
SOURCE_TYPES = ("sip", "group")
# base64 turns every 3 bytes into 4 characters: read multiples of 3 so chunks join seamlessly.
_B64_CHUNK = 3 * 64 * 1024


def require_app_id(app_id: str | None, default_app_id: str | None) -> str:
    """The appId to send: the argument, else the client's default, else refused."""
    if app_id is None:
        app_id = default_app_id
    if app_id is None:
        raise RequestValidationError(
            "appId", "is required: pass app_id= or set it on the client (LAAFFIC_APP_ID)"
        )
    return v.required_text("appId", app_id)


def _sized_text(field: str, value: object, bounds: tuple[int, int]) -> str:
    low, high = bounds
    rule = f"must be a string of {low}-{high} characters"
    if not isinstance(value, str) or not value.strip() or not low <= len(value) <= high:
        raise RequestValidationError(field, rule, value)
    return value


def _group_id(field: str, value: object) -> int:
    return v.int_in_range(field, value, 1)


def add_group_request(
    group_name: str, app_id: str | None, default_app_id: str | None
) -> ApiRequest:
    """cc/seatGroup/addGroup ``{groupName, appId}``; the name is 4-32 characters."""
    body = {
        "groupName": _sized_text("groupName", group_name, GROUP_NAME_LENGTH),
        "appId": require_app_id(app_id, default_app_id),
    }
    return ApiRequest("POST", ADD_GROUP, dump_json(body))


def add_agents_request(
    voice_group_id: int, size: int, display_num: str | None, country_code: str | None
) -> ApiRequest:
    """cc/seat/addSeatList ``{voiceGroupId, size, displayNum?, ccode?}``.

    Creating agents is not idempotent either (a repeat creates more), but it
    dials no one: it is retried like any request whose answer was lost.
    """
    body: dict[str, Any] = {
        "voiceGroupId": _group_id("voiceGroupId", voice_group_id),
        "size": v.int_in_range("size", size, 1),
    }
    if display_num is not None:
        body["displayNum"] = v.digits("displayNum", display_num, CC_DISPLAY_NUM_DIGITS)
    if country_code is not None:
        body["ccode"] = v.digits("ccode", country_code, COUNTRY_CODE_DIGITS)
    return ApiRequest("POST", ADD_AGENTS, dump_json(body))


def check_file_name(name: object) -> str:
    """Return ``name`` if it is 5-32 characters ending in .xls or .xlsx (any case)."""
    name = _sized_text("fileName", name, FILE_NAME_LENGTH)
    if not name.lower().endswith(FILE_EXTENSIONS):
        raise RequestValidationError("fileName", "must end in .xls or .xlsx", name)
    if "/" in name or "\\" in name:
        raise RequestValidationError("fileName", "must be a bare file name, not a path", name)
    return name


def _upload_head(file_name: str) -> bytes:
    return b'{"fileName":' + json.dumps(file_name, ensure_ascii=False).encode() + b',"file":"'


def upload_body_size(file_name: str, file_size: int) -> int:
    """The exact length of the upload body for a file of ``file_size`` bytes."""
    return len(_upload_head(file_name)) + 4 * ((file_size + 2) // 3) + 2


def upload_request(
    file_name: str, chunks: Iterable[bytes | bytearray | memoryview], size_hint: int | None
) -> ApiRequest:
    """cc/preview/upload ``{fileName, file}`` with ``file`` base64-encoded from ``chunks``.

    Memory: the body is the only copy made.  It is written into a
    ``BytesIO`` pre-sized from ``size_hint`` (the file's length, when known)
    whose ``getvalue()`` hands over its buffer without copying (CPython
    shrinks it in place), so the peak is one chunk plus the base64 body, not
    the two or three copies a ``b"".join`` of encoded parts would need.
    ``chunks`` may have any sizes; they are re-cut to multiples of 3 bytes
    so the base64 pieces join without padding in the middle.
    """
    check_file_name(file_name)
    head = _upload_head(file_name)
    out = io.BytesIO()
    if size_hint:
        # Grow the buffer once, to its final size, then write from the start.
        out.seek(upload_body_size(file_name, size_hint) - 1)
        out.write(b"\0")
        out.seek(0)
    out.write(head)
    raw = 0
    carry = b""
    for chunk in chunks:
        view = memoryview(chunk)
        raw += len(view)
        if carry:
            # Complete the 1-2 leftover bytes of the previous chunk first.
            need = 3 - len(carry)
            carry += bytes(view[:need])
            view = view[need:]
            if len(carry) < 3:
                continue
            out.write(base64.b64encode(carry))
            carry = b""
        cut = len(view) - len(view) % 3
        for start in range(0, cut, _B64_CHUNK):
            out.write(base64.b64encode(view[start : min(cut, start + _B64_CHUNK)]))
        carry = bytes(view[cut:])
    if raw == 0:
        raise RequestValidationError("file", "must not be empty", b"")
    out.write(base64.b64encode(carry))
    out.write(b'"}')
    out.truncate()
    return ApiRequest("POST", UPLOAD, out.getvalue(), subject=file_name)


def _group_ids(task_type: TaskType, voice_group_ids: object) -> tuple[int, ...]:
    if isinstance(voice_group_ids, (str, bytes)) or not isinstance(voice_group_ids, Iterable):
        raise RequestValidationError(
            "voiceGroupId", "must be a list of agent-group ids", voice_group_ids
        )
    ids = tuple(_group_id("voiceGroupId", item) for item in voice_group_ids)
    if not ids:
        raise RequestValidationError("voiceGroupId", "must name at least one agent group", ids)
    if len(set(ids)) != len(ids):
        raise RequestValidationError("voiceGroupId", "must not repeat a group", ids)
    if task_type is TaskType.GROUP_CALL_TO_AGENT and len(ids) != 1:
        raise RequestValidationError(
            "voiceGroupId", "must name exactly one group for a group call to agent", ids
        )
    return ids


def _task_type(value: object) -> TaskType:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestValidationError("type", "must be a TaskType (0 or 1)", value)
    try:
        return TaskType(value)
    except ValueError:
        raise RequestValidationError("type", "must be a TaskType (0 or 1)", value) from None


def submit_task_request(
    *,
    file_path: str,
    file_name: str,
    task_type: TaskType | int,
    voice_group_ids: Iterable[int],
    app_id: str | None,
    default_app_id: str | None,
    callout_rate: int | None = None,
    display_num: str | None = None,
    country_code: str | None = None,
    remark: str | None = None,
) -> ApiRequest:
    """cc/preview/submitTask: a task that dials every number of an uploaded list.

    A group call to agent needs exactly one group and a callout rate; those
    combinations are refused here, before anything is sent.  The request is
    marked ``dials``: once its body may have left it is never re-sent.
    """
    kind = _task_type(task_type)
    rate = None if callout_rate is None else v.int_in_range("calloutRate", callout_rate, 1)
    if kind is TaskType.GROUP_CALL_TO_AGENT and rate is None:
        raise RequestValidationError(
            "calloutRate", "is required for a group call to agent", callout_rate
        )
    submission = TaskSubmission(
        file_path=v.required_text("filePath", file_path),
        file_name=check_file_name(file_name),
        type=kind,
        voice_group_id=_group_ids(kind, voice_group_ids),
        app_id=require_app_id(app_id, default_app_id),
        callout_rate=rate,
        display_num=(
            None
            if display_num is None
            else v.digits("displayNum", display_num, CC_DISPLAY_NUM_DIGITS)
        ),
        ccode=None
        if country_code is None
        else v.digits("ccode", country_code, COUNTRY_CODE_DIGITS),
        remark=None if remark is None else v.required_text("remark", remark),
    )
    return ApiRequest(
        "POST", SUBMIT_TASK, dump_json(to_wire(submission)), dials=True, subject=submission
    )


def _page_request(endpoint: str, current: int, size: int, params: dict[str, Any]) -> ApiRequest:
    v.int_in_range("current", current, 1)
    v.int_in_range("size", size, *v.PAGE_SIZE_RANGE)
    return ApiRequest(
        "POST", endpoint, dump_json({"current": current, "size": size, "params": params})
    )


def group_query_request(current: int, size: int, group_name: str | None = None) -> ApiRequest:
    """One page of cc/seatGroup/query ``{current, size, params: {groupName}}``."""
    params: dict[str, Any] = {}
    if group_name is not None:
        params["groupName"] = v.required_text("groupName", group_name)
    return _page_request(GROUP_QUERY, current, size, params)


def agent_query_request(
    current: int,
    size: int,
    *,
    voice_group_id: int | None = None,
    name: str | None = None,
    status: int | None = None,
    enable: bool | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ApiRequest:
    """One page of cc/seat/query ``{current, size, params: {voiceGroupId, name, ...}}``.

    ``start``/``end`` go out as ISO-8601 with offset, the v3 API's time
    format on recordSipQuery (the cc pages do not show one).
    """
    params: dict[str, Any] = {}
    if voice_group_id is not None:
        params["voiceGroupId"] = _group_id("voiceGroupId", voice_group_id)
    if name is not None:
        params["name"] = v.required_text("name", name)
    if status is not None:
        params["status"] = v.int_in_range("status", status, 0)
    if enable is not None:
        if not isinstance(enable, bool):
            raise RequestValidationError("enable", "must be True or False", enable)
        params["enable"] = int(enable)
    if start is not None:
        params["strTime"] = unstructure_time(v.aware("strTime", start))
    if end is not None:
        params["endTime"] = unstructure_time(v.aware("endTime", end))
    if start is not None and end is not None and end < start:
        raise RequestValidationError("endTime", "must not be before strTime", end)
    return _page_request(AGENT_QUERY, current, size, params)


def task_query_request(
    current: int,
    size: int,
    *,
    task_type: TaskType | int | None = None,
    status: int | None = None,
) -> ApiRequest:
    """One page of cc/preview/query, optionally filtered by ``type`` and ``status``."""
    params: dict[str, Any] = {}
    if task_type is not None:
        params["type"] = int(_task_type(task_type))
    if status is not None:
        params["status"] = v.int_in_range("status", status, 0)
    return _page_request(TASK_QUERY, current, size, params)


def _path_segment(field: str, value: object) -> str:
    text = v.required_text(field, value, max_len=200)
    if text != text.strip() or "/" in text:
        raise RequestValidationError(field, "must be an id without '/' or surrounding spaces", text)
    return quote(text, safe="")


def record_request(voice_id: str) -> ApiRequest:
    """``GET voice/recordSip/{voiceId}``: one call record."""
    return ApiRequest(
        "GET",
        f"{RECORD_SIP}/{_path_segment('voiceId', voice_id)}",
        template=f"{RECORD_SIP}/{{voiceId}}",
    )


def recording_url_request(recording_file_id: str, source_type: str = "sip") -> ApiRequest:
    """``GET voice/getRecordingFileUrl?recordingFileId=...&sourceType=sip|group``."""
    file_id = v.required_text("recordingFileId", recording_file_id, max_len=200)
    if source_type not in SOURCE_TYPES:
        raise RequestValidationError("sourceType", "must be 'sip' or 'group'", source_type)
    return ApiRequest(
        "GET", RECORDING_URL, params=(("recordingFileId", file_id), ("sourceType", source_type))
    )
