"""Reading the ``data`` of call-center and recording answers into values.

Every reader raises :class:`~laaffic_async.errors.ResponseFormatError`
naming the endpoint and the wire field when the answer does not have the
documented shape.  Times in these answers are not ISO-8601 throughout:
``expireTime`` is epoch milliseconds (NOTES.md) and the call-center pushes
write ``yyyy-MM-dd HH:mm:ss`` in UTC+8, so :func:`platform_time` reads all
three forms before the shared converter sees the data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from .._callcenter_models import (
    Agent,
    AgentPage,
    GroupPage,
    RecordingUrl,
    TaskPage,
    UploadedNumbers,
)
from ..errors import ResponseFormatError
from ..models import CallRecord
from .converter import structure

__all__ = [
    "PLATFORM_TZ",
    "platform_time",
    "read_agent_page",
    "read_agents",
    "read_group_page",
    "read_record",
    "read_recording_url",
    "read_task_id",
    "read_task_page",
    "read_uploaded",
]

T = TypeVar("T")

#: The platform's own zone: its ``yyyy-MM-dd HH:mm:ss`` times are UTC+8 (NOTES.md).
PLATFORM_TZ = timezone(timedelta(hours=8))
_PLAIN_FORMAT = "%Y-%m-%d %H:%M:%S"


def platform_time(value: object) -> datetime:
    """An aware datetime from any of the platform's three time spellings.

    * ISO-8601 with an offset (``2022-01-18T14:42:40+08:00``), as recordSipQuery;
    * ``yyyy-MM-dd HH:mm:ss``, meant in UTC+8, as the call-center pushes;
    * epoch milliseconds (a number or a digit string), as ``expireTime``; read as UTC.

    Anything else raises ``ValueError``: a time without a zone is never guessed.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a time, got {value!r}")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected a time, got {value!r}")
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        return datetime.strptime(text, _PLAIN_FORMAT).replace(tzinfo=PLATFORM_TZ)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a time, got {value!r}") from None
    if moment.utcoffset() is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return moment


def _structure(endpoint: str, data: Any, cls: type[T]) -> T:
    try:
        return structure(data, cls)
    except (ValueError, TypeError) as exc:
        raise ResponseFormatError(
            f"answer does not match the documented shape: {exc}", endpoint=endpoint
        ) from exc


def _times(endpoint: str, row: dict[str, Any], *fields: str) -> dict[str, Any]:
    """A copy of ``row`` with ``fields`` read by :func:`platform_time` (empty -> absent)."""
    out = dict(row)
    for field in fields:
        value = out.get(field)
        if value is None or value == "":
            out.pop(field, None)
            continue
        try:
            out[field] = platform_time(value)
        except ValueError as exc:
            raise ResponseFormatError(f"{field}: {exc}", endpoint=endpoint) from None
    return out


def _page(endpoint: str, data: Any) -> dict[str, Any]:
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(records if records is not None else [], list):
        raise ResponseFormatError(f"expected a page object, got {data!r:.200}", endpoint=endpoint)
    return dict(data, records=records or [])


def _rows(endpoint: str, records: list[Any]) -> list[dict[str, Any]]:
    for index, row in enumerate(records):
        if not isinstance(row, dict):
            raise ResponseFormatError(
                f"records[{index}] is not an object: {row!r:.100}", endpoint=endpoint
            )
    return records


def read_agents(endpoint: str, data: Any) -> list[Agent]:
    """cc/seat/addSeatList's ``data: [{keyId, name}]``."""
    if not isinstance(data, list):
        raise ResponseFormatError(
            f"expected a list of agents, got {data!r:.200}", endpoint=endpoint
        )
    return _structure(endpoint, data, list[Agent])


def read_uploaded(endpoint: str, data: Any) -> UploadedNumbers:
    """cc/preview/upload's ``{filePath, numberTotalCount, numberSameCount}``."""
    return _structure(endpoint, data, UploadedNumbers)


def read_task_id(data: Any) -> int | None:
    """submitTask's ``data``: the new task's id, or ``None`` when the server sends none.

    One vendor page shows a number here, another ``null``; anything else is
    also ``None`` (the task was created, the status said so).
    """
    if isinstance(data, bool):
        return None
    if isinstance(data, int):
        return data
    if isinstance(data, str) and data.strip().isdigit():
        return int(data)
    if isinstance(data, dict):
        return read_task_id(data.get("taskId", data.get("id")))
    return None


def read_recording_url(endpoint: str, data: Any) -> RecordingUrl:
    """getRecordingFileUrl's ``{url, expireTime}`` (epoch ms)."""
    if not isinstance(data, dict):
        raise ResponseFormatError(
            f"expected {{url, expireTime}}, got {data!r:.200}", endpoint=endpoint
        )
    if data.get("expireTime") in (None, ""):
        raise ResponseFormatError("expireTime is missing", endpoint=endpoint)
    return _structure(endpoint, _times(endpoint, data, "expireTime"), RecordingUrl)


def read_record(endpoint: str, data: Any) -> CallRecord:
    """voice/recordSip/{voiceId}: one call record, as recordSipQuery's rows."""
    if isinstance(data, list) and len(data) == 1:
        # Tolerate a one-row list: the page does not say which the endpoint sends.
        data = data[0]
    if not isinstance(data, dict):
        raise ResponseFormatError(f"expected a call record, got {data!r:.200}", endpoint=endpoint)
    return _structure(endpoint, data, CallRecord)


def read_group_page(endpoint: str, data: Any) -> GroupPage:
    """One page of cc/seatGroup/query."""
    return _structure(endpoint, _page(endpoint, data), GroupPage)


def read_agent_page(endpoint: str, data: Any) -> AgentPage:
    """One page of cc/seat/query; ``createTime`` may be any platform time spelling."""
    page = _page(endpoint, data)
    page["records"] = [
        _times(endpoint, row, "createTime") for row in _rows(endpoint, page["records"])
    ]
    return _structure(endpoint, page, AgentPage)


def _task_row(endpoint: str, row: dict[str, Any]) -> dict[str, Any]:
    out = _times(endpoint, row, "createTime")
    if out.get("taskId") in (None, "") and out.get("id") not in (None, ""):
        out["taskId"] = out["id"]
    groups = out.get("voiceGroupId")
    if groups is None or groups == "":
        out.pop("voiceGroupId", None)
    elif not isinstance(groups, list):
        # One group may come as a bare id rather than a one-element list.
        out["voiceGroupId"] = [groups]
    return out


def read_task_page(endpoint: str, data: Any) -> TaskPage:
    """One page of cc/preview/query, read tolerantly (see :class:`Task`)."""
    page = _page(endpoint, data)
    page["records"] = [_task_row(endpoint, row) for row in _rows(endpoint, page["records"])]
    return _structure(endpoint, page, TaskPage)
