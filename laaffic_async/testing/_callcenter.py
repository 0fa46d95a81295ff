"""The emulated call center: agent groups, agents, number lists and dialing tasks.

Endpoints and fields from the call-center quick start page and NOTES.md
("More endpoints"); codes from NOTES.md's platform list: -20 data exists
(duplicate group name), -22 parameter exception, -24 data does not exist,
-36 too many agents, -38 file too large, -39 bad file format, -40 more than
100,000 rows.  Caps the vendor does not publish (agents per account, upload
size) are fields of :class:`CallCenterState`, so tests can lower them.
"""

from __future__ import annotations

import base64
import binascii
import string
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

import attrs

from ._routes import Request, Route
from ._sheets import SheetFormatError, SheetTooLongError, read_number_list
from ._wire import PLATFORM_TZ, ApiFailure, is_digits, parse_iso

if TYPE_CHECKING:
    from ._state import SandboxState

Row = dict[str, Any]
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def _param_error(what: str) -> ApiFailure:
    return ApiFailure("-22", f"Parameter exception: {what}")


def _is_int(value: object, low: int = 1) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _plain_time(epoch: float) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in UTC+8, the call-center spelling of a time."""
    return datetime.fromtimestamp(epoch, PLATFORM_TZ).strftime("%Y-%m-%d %H:%M:%S")


@attrs.define
class CallCenterState:
    """What the emulated call center remembers.

    ``max_agents`` (agents per account, -36 beyond), ``max_upload_bytes``
    (-38 beyond) and ``max_rows`` (-40 beyond; the platform's 100,000) are
    caps tests may lower.  ``return_task_id=False`` makes submitTask answer
    ``data: null`` as one vendor page shows.  ``tasks_submitted`` and
    ``task_dials`` are the exactly-once ledger of submitTask: a task counted
    twice means a dialing request was re-sent.
    """

    max_agents: int = 200
    max_upload_bytes: int = 10 * 1024 * 1024
    max_rows: int = 100_000
    newest_first: bool = True
    return_task_id: bool = True
    groups: dict[int, Row] = attrs.field(factory=dict, repr=False)
    agents: list[Row] = attrs.field(factory=list, repr=False)
    uploads: dict[str, Row] = attrs.field(factory=dict, repr=False)
    tasks: list[Row] = attrs.field(factory=list, repr=False)
    tasks_submitted: int = 0
    task_dials: int = 0
    _next_group: int = 5005421
    _next_agent: int = 1
    _next_task: int = 1

    def add_group(self, name: str, app_id: str, now: float) -> Row:
        """Create a group (what addGroup does); -20 when the name is taken."""
        if any(group["groupName"] == name for group in self.groups.values()):
            raise ApiFailure("-20", "Data exists")
        group_id = self._next_group
        self._next_group += 1
        group = {
            "voiceGroupId": group_id,
            "groupName": name,
            "countSeat": 0,
            "callinStrategy": 1,
            "appId": app_id,
            "createTime": _plain_time(now),
        }
        self.groups[group_id] = group
        return group

    def add_agents(
        self,
        state: SandboxState,
        group_id: int,
        size: int,
        display_num: str | None,
        ccode: str | None,
    ) -> list[Row]:
        """Create ``size`` agents in a group (what addSeatList does)."""
        group = self.groups.get(group_id)
        if group is None:
            raise ApiFailure("-24", "Data does not exist")
        if len(self.agents) + size > self.max_agents:
            raise ApiFailure("-36", "Exceeds the number of agents that can be created")
        created = []
        for _ in range(size):
            number = self._next_agent
            self._next_agent += 1
            account = f"{group_id}C{number:03d}"
            password = "".join(state.rng.choice(_PASSWORD_ALPHABET) for _ in range(12))
            agent = {
                "keyId": 7000000 + number,
                "name": account,
                "account": account,
                "password": password,
                "voiceGroupId": group_id,
                "groupName": group["groupName"],
                "status": 0,
                "enable": 1,
                "displayNum": display_num or "",
                "ccode": ccode or "",
                "createTime": _plain_time(state.clock()),
            }
            self.agents.append(agent)
            created.append(agent)
        group["countSeat"] += size
        return created

    def new_task_id(self) -> int:
        """The next task id (ids are never reused)."""
        task_id = self._next_task
        self._next_task += 1
        return task_id

    def page(self, rows: list[Row], current: int, size: int) -> Row:
        """Page ``current`` of ``rows`` (kept oldest first), newest first unless configured."""
        ordered = rows[::-1] if self.newest_first else rows
        first = (current - 1) * size
        return {
            "total": len(rows),
            "size": size,
            "current": current,
            "pages": (len(rows) + size - 1) // size,
            "searchCount": True,
            "records": ordered[first : first + size],
        }


def _cc(state: SandboxState) -> CallCenterState:
    return state.call_center


def _app_id(state: SandboxState, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _param_error("appId is required")
    if value not in state.app_ids:
        raise ApiFailure("-1", "Authentication error")
    return value


def add_group(state: SandboxState, request: Request) -> Any:
    body = request.json_object()
    name = body.get("groupName")
    # "group name 4-32 characters"
    if not isinstance(name, str) or not name.strip() or not 4 <= len(name) <= 32:
        raise _param_error("groupName must be 4-32 characters")
    _cc(state).add_group(name, _app_id(state, body.get("appId")), state.clock())
    return None


def _paging(body: Row) -> tuple[int, int, Row]:
    current, size, params = body.get("current"), body.get("size"), body.get("params", {})
    if not _is_int(current):
        raise _param_error("current must be 1-N")
    if not _is_int(size) or size > 100:
        raise _param_error("size must be 1-100")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise _param_error("params must be an object")
    return current, size, params


def _public(group: Row) -> Row:
    return {k: group[k] for k in ("voiceGroupId", "groupName", "countSeat", "callinStrategy")}


def query_groups(state: SandboxState, request: Request) -> Any:
    current, size, params = _paging(request.json_object())
    name = params.get("groupName")
    rows = [
        _public(group)
        for group in _cc(state).groups.values()
        if not name or group["groupName"] == name
    ]
    return _cc(state).page(rows, current, size)


def add_agents(state: SandboxState, request: Request) -> Any:
    body = request.json_object()
    group_id, size = body.get("voiceGroupId"), body.get("size")
    display_num, ccode = body.get("displayNum"), body.get("ccode")
    if not _is_int(group_id):
        raise _param_error("voiceGroupId is required")
    if not _is_int(size):
        raise _param_error("size must be a positive integer")
    if display_num is not None and not is_digits(display_num, 1, 15):
        raise _param_error("displayNum must be digits")
    if ccode is not None and not is_digits(ccode, 1, 4):
        raise _param_error("ccode must be a country code")
    created = _cc(state).add_agents(state, group_id, size, display_num, ccode)
    return [{"keyId": agent["keyId"], "name": agent["name"]} for agent in created]


def query_agents(state: SandboxState, request: Request) -> Any:
    current, size, params = _paging(request.json_object())
    start = end = None
    if params.get("strTime"):
        start = parse_iso("strTime", params["strTime"]).timestamp()
    if params.get("endTime"):
        end = parse_iso("endTime", params["endTime"]).timestamp()
    filters = {
        key: params[key]
        for key in ("voiceGroupId", "name", "status", "enable")
        if params.get(key) not in (None, "")
    }
    rows = []
    for agent in _cc(state).agents:
        if any(agent[key] != value for key, value in filters.items()):
            continue
        created = datetime.strptime(agent["createTime"], "%Y-%m-%d %H:%M:%S")
        epoch = created.replace(tzinfo=PLATFORM_TZ).timestamp()
        if (start is not None and epoch < start) or (end is not None and epoch > end):
            continue
        rows.append(agent)
    return _cc(state).page(rows, current, size)


def upload(state: SandboxState, request: Request) -> Any:
    body = request.json_object()
    cc = _cc(state)
    name, encoded = body.get("fileName"), body.get("file")
    # NOTES.md: "file names 5-32 characters; .xls or .xlsx".
    if not isinstance(name, str) or not 5 <= len(name) <= 32:
        raise _param_error("fileName must be 5-32 characters")
    if not name.lower().endswith((".xls", ".xlsx")):
        raise ApiFailure("-39", "File format error")
    if not isinstance(encoded, str) or not encoded:
        raise _param_error("file is required")
    # Judge the size from the base64 length first, as a server would before decoding.
    if len(encoded) // 4 * 3 - encoded[-2:].count("=") > cc.max_upload_bytes:
        raise ApiFailure("-38", "File too large")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiFailure("-39", "File format error") from None
    try:
        numbers = read_number_list(name, data, cc.max_rows)
    except SheetFormatError:
        raise ApiFailure("-39", "File format error") from None
    except SheetTooLongError:
        raise ApiFailure("-40", "More than 100,000 rows") from None
    stamp = datetime.fromtimestamp(state.clock(), PLATFORM_TZ).strftime("%Y%m%d%H%M%S")
    path = f"/mnt/cc/upload/execl/{stamp}{len(cc.uploads) + 1}_{name}"
    cc.uploads[path] = {
        "fileName": name,
        "numberTotalCount": numbers.numbers,
        "numberSameCount": numbers.duplicates,
    }
    return {
        "filePath": path,
        "numberTotalCount": numbers.numbers,
        "numberSameCount": numbers.duplicates,
    }


def submit_task(state: SandboxState, request: Request) -> Any:
    body = request.json_object()
    cc = _cc(state)
    path, name, kind = body.get("filePath"), body.get("fileName"), body.get("type")
    groups, rate = body.get("voiceGroupId"), body.get("calloutRate")
    if not isinstance(path, str) or not path:
        raise _param_error("filePath is required")
    if not isinstance(name, str) or not name:
        raise _param_error("fileName is required")
    if kind not in (0, 1) or isinstance(kind, bool):
        raise _param_error("type must be 0 or 1")
    if not isinstance(groups, list) or not groups or not all(_is_int(g) for g in groups):
        raise _param_error("voiceGroupId must be a list of group ids")
    if rate is not None and not _is_int(rate):
        raise _param_error("calloutRate must be a positive integer")
    # NOTES.md: "for type 1 exactly one group and a callout rate".
    if kind == 1 and (len(groups) != 1 or rate is None):
        raise _param_error("a group call to agent needs exactly one group and a calloutRate")
    app_id = _app_id(state, body.get("appId"))
    display_num, ccode, remark = body.get("displayNum"), body.get("ccode"), body.get("remark")
    if display_num is not None and not is_digits(display_num, 1, 15):
        raise _param_error("displayNum must be digits")
    if ccode is not None and not is_digits(ccode, 1, 4):
        raise _param_error("ccode must be a country code")
    uploaded = cc.uploads.get(path)
    if uploaded is None or any(g not in cc.groups for g in groups):
        raise ApiFailure("-24", "Data does not exist")
    task_id = cc.new_task_id()
    dials = uploaded["numberTotalCount"] - uploaded["numberSameCount"]
    cc.tasks.append(
        {
            "taskId": task_id,
            "taskName": name.rsplit(".", 1)[0],
            "fileName": name,
            "filePath": path,
            "type": kind,
            "status": 1,
            "voiceGroupId": list(groups),
            "numberTotalCount": uploaded["numberTotalCount"],
            "numberSameCount": uploaded["numberSameCount"],
            "calloutRate": rate,
            "appId": app_id,
            "remark": remark or "",
            "createTime": _plain_time(state.clock()),
        }
    )
    cc.tasks_submitted += 1
    cc.task_dials += dials
    return task_id if cc.return_task_id else None


def query_tasks(state: SandboxState, request: Request) -> Any:
    current, size, params = _paging(request.json_object())
    filters = {key: params[key] for key in ("type", "status") if params.get(key) not in (None, "")}
    rows = [
        task
        for task in _cc(state).tasks
        if all(task[key] == value for key, value in filters.items())
    ]
    return _cc(state).page(rows, current, size)


ROUTES = [
    Route("POST", "cc/seatGroup/addGroup", add_group),
    Route("POST", "cc/seatGroup/query", query_groups),
    Route("POST", "cc/seat/addSeatList", add_agents),
    Route("POST", "cc/seat/query", query_agents),
    Route("POST", "cc/preview/upload", upload),
    Route("POST", "cc/preview/submitTask", submit_task),
    Route("POST", "cc/preview/query", query_tasks),
]
