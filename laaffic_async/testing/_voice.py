"""Handlers for the voice endpoints: sendSip and recordSipQuery.

Rules and codes are the vendor pages' own; each check cites its line.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._routes import Request, Route
from ._state import HORIZON_SECONDS, MAX_WINDOW_SECONDS, SandboxState
from ._wire import ApiFailure, is_digits, iso, new_voice_id, parse_iso

SEND_SIP = "voice/sendSip"


def account_of(request: Request) -> str | None:
    """The sendSip body's ``account``, if readable (for per-account in-flight counting)."""
    try:
        account = request.json_object().get("account")
    except ApiFailure:
        return None
    return account if isinstance(account, str) else None


def _param_error(what: str) -> ApiFailure:
    return ApiFailure("-22", f"Parameter exception: {what}")


def send_sip(state: SandboxState, request: Request) -> Any:
    body = request.json_object()
    callee = body.get("callee")
    display_num = body.get("displayNum")
    account = body.get("account")
    app_id = body.get("appId")
    called_info = body.get("calledInfo")
    # "Called number: 7-15 digits composed of national code + mobile phone number."
    if not is_digits(callee, 7, 15):
        raise _param_error("callee must be 7-15 digits")
    # "Display number: 7-15 digits or null."
    if display_num is not None and not is_digits(display_num, 7, 15):
        raise _param_error("displayNum must be 7-15 digits or null")
    if not isinstance(account, str) or not account:
        raise _param_error("account is required")
    # "Called information, 0-1000 characters."
    if called_info is not None and (not isinstance(called_info, str) or len(called_info) > 1000):
        raise _param_error("calledInfo must be 0-1000 characters")
    # -1's advice: "Check the parameter values of API Key, API Secret, and appId."
    if not isinstance(app_id, str) or not app_id:
        raise _param_error("appId is required")
    if app_id not in state.app_ids:
        raise ApiFailure("-1", "Authentication error")
    now = state.clock()
    if state.busy_until.get(account, 0.0) > now:
        state.busy_answers += 1
        raise ApiFailure("-68", "The SIP is not in the idle state and cannot be used")
    if state.balance is not None:
        if state.balance < state.rate:
            raise ApiFailure("-10", "The customer's balance is insufficient")
        state.balance -= state.rate
    state.busy_until[account] = now + state.call_seconds
    state.dials_by_callee[callee] += 1
    state.dials_by_account[account] += 1
    moment = datetime.fromtimestamp(now).astimezone()
    voice_id = new_voice_id(moment, state.rng)
    while state.records.get(voice_id) is not None:
        voice_id = new_voice_id(moment, state.rng)
    row = call_record(state, voice_id, moment, callee, display_num, account, called_info)
    state.records.add(now, row)
    for listener in state.call_listeners:
        listener(row)  # e.g. the pusher's hook: the platform pushes a report for each call
    return voice_id


def call_record(
    state: SandboxState,
    voice_id: str,
    submitted: datetime,
    callee: str,
    display_num: str | None,
    account: str,
    called_info: str | None = None,
    duration: int | None = None,
) -> dict[str, Any]:
    """A record with every field the recordSipQuery page documents."""
    if duration is None:
        duration = state.rng.randrange(0, 120)
    answered = duration > 0
    charged = 0 if not answered else ((duration + 19) // 20) * 20
    rate = Decimal("0.0120")
    cost = (rate * charged / 60).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    call_time = submitted + timedelta(seconds=1)
    ringing = call_time + timedelta(seconds=2)
    answer = ringing + timedelta(seconds=3)
    hangup = (answer if answered else ringing) + timedelta(seconds=duration if answered else 20)
    row: dict[str, Any] = {
        "voiceId": voice_id,
        "sipGroupName": "group1",
        "phoneName": account,
        "callee": callee,
        "displayNum": display_num or "",
        "code": "Afghanistan(Kandahar)",
        "submitTime": iso(submitted),
        "callTime": iso(call_time),
        "ringingTime": iso(ringing),
        "answerTime": iso(answer) if answered else "",
        "hangupTime": iso(hangup),
        "callDuration": duration if answered else 0,
        "chargedDuration": charged,
        "terminationCode": "200" if answered else "480",
        "terminationReason": "success" if answered else "Temporarily Unavailable",
        "cost": str(cost),
        "billPeriod": "20+20",
        "rate": str(rate),
        "recordingFileId": f"{voice_id}.mp3" if answered else "",
        "currency": "USD",
    }
    if called_info is not None:
        row["calledInfo"] = called_info
    return row


def record_sip_query(state: SandboxState, request: Request) -> Any:
    body = request.json_object()
    current = body.get("current")
    size = body.get("size")
    params = body.get("params")
    # "current: Current page number: 1-N", "size: Number displayed on each page: 1-100".
    if isinstance(current, bool) or not isinstance(current, int) or current < 1:
        raise _param_error("current must be 1-N")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
        raise _param_error("size must be 1-100")
    if not isinstance(params, dict):
        raise _param_error("params is required")
    start = parse_iso("strTime", params.get("strTime")).timestamp()
    end = parse_iso("endTime", params.get("endTime")).timestamp()
    state.query_windows.append((start, end))
    now = state.clock()
    # "for recent two months. The maximum interval ... is 31 days."
    if end < start or end - start > MAX_WINDOW_SECONDS or start < now - HORIZON_SECONDS:
        raise ApiFailure("-25", "Out of time range")
    filters = {
        name: value
        for name in ("sipGroupName", "phoneName")
        if isinstance(value := params.get(name), str) and value
    }
    selection = state.records.window(start, end, filters)
    total = len(selection)
    return {
        "total": total,
        "size": size,
        "current": current,
        "pages": (total + size - 1) // size,
        "searchCount": True,
        "records": state.records.page(
            selection, current, size, state.tie_rng if state.unstable_ties else None
        ),
    }


ROUTES = [
    Route("POST", SEND_SIP, send_sip),
    Route("POST", "voice/recordSipQuery", record_sip_query),
]
