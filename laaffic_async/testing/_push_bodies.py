"""The bodies the platform pushes, built from the sandbox's own view of the wire.

Written from NOTES.md ("Pushes") with the sandbox's wire helpers, never with
the client's parsing code: if both sides shared one reading of the format, a
mistake in it would pass every test.

* :func:`voice_report`: one object per call, times in epoch milliseconds;
* :func:`call_center_record`: one object, times ``yyyy-MM-dd HH:mm:ss`` UTC+8;
* :func:`agent_ringing`: a JSON array, one element per ringing agent.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ._wire import PLATFORM_TZ, epoch_ms, platform_time

__all__ = ["agent_ringing", "call_center_record", "voice_report"]

_session_ids = itertools.count(9_000_000_000_001)


def _ms(iso_time: str) -> int | None:
    return epoch_ms(datetime.fromisoformat(iso_time)) if iso_time else None


def voice_report(row: dict[str, Any], *, voice_type: int = 3) -> dict[str, Any]:
    """The voice-report push for one sandbox call record (a recordSipQuery row).

    ``voice_type``: 1 group call, 2 verification code, 3 phone call (sendSip), 4 direct dial.
    A time the call never reached (no answer) is ``null``.
    """
    answered = bool(row.get("answerTime"))
    cost = row.get("cost", "0")
    return {
        "voiceId": row["voiceId"],
        "type": voice_type,
        "callee": row.get("callee"),
        "displayNum": row.get("displayNum") or None,
        "submitTime": _ms(row["submitTime"]),
        "callTime": _ms(row.get("callTime", "")),
        "ringingTime": _ms(row.get("ringingTime", "")),
        "answerTime": _ms(row.get("answerTime", "")),
        "hangupTime": _ms(row.get("hangupTime", "")),
        "callDuration": row.get("callDuration", 0),
        "chargedDuration": row.get("chargedDuration", 0),
        "billPeriod": row.get("billPeriod"),
        "code": row.get("code"),
        "voiceFileId": row.get("recordingFileId") or None,
        "rate": row.get("rate"),
        "baseCost": cost,
        "cost": cost,
        "terminationCode": row.get("terminationCode"),
        "terminationReason": row.get("terminationReason"),
        "sipCode": row.get("terminationCode"),
        "feedbackValue": "",
        "calledInfo": row.get("calledInfo", ""),
        "ringDuration": 3 if answered else 20,
        "currency": row.get("currency", "USD"),
        "settleRate": row.get("rate"),
        "quoteExchange": "1",
        "settlePay": cost,
    }


def call_center_record(
    *,
    call_session_id: str | None = None,
    call_id: str | None = None,
    called: str = "919876543210",
    agent_account: str = "8001",
    started: datetime | None = None,
    duration: int = 42,
    **extra: Any,
) -> dict[str, Any]:
    """A call-center call-record push; ``extra`` adds or overrides wire fields."""
    start = started or datetime(2025, 9, 12, 17, 19, 5, tzinfo=PLATFORM_TZ)
    answer = start + timedelta(seconds=4)
    cost = (Decimal("0.012") * duration / 60).quantize(Decimal("0.0001"))
    session = call_session_id or str(next(_session_ids))
    body: dict[str, Any] = {
        "callId": call_id,
        "callSessionId": session,
        "called": called,
        "calledInfo": "",
        "caller": "1008122211",
        "ccode": "91",
        "ccodeName": "India",
        "agentName": f"agent-{agent_account}",
        "agentGroupName": "test-1",
        "agentAccount": agent_account,
        "callDuration": duration,
        "callType": 1,
        "hangupCode": "200",
        "hangupReason": 0,
        "hangingDirection": 0,
        "labels": ["interested"],
        "baseCost": str(cost),
        "cost": str(cost),
        "remark": "group call to agent",
        "callStartTime": platform_time(start),
        "answerTime": platform_time(answer),
        "callEndTime": platform_time(answer + timedelta(seconds=duration)),
        "voiceUrl": f"https://files.example/cc/{session}.mp3",
    }
    body.update(extra)
    return body


def agent_ringing(
    call_id: str,
    sip_accounts: list[str],
    *,
    task_id: str = "71234",
    called: str = "919876543210",
    started: datetime | None = None,
    ring_seconds: int = 15,
) -> list[dict[str, Any]]:
    """The ringing push of one call offered to ``sip_accounts`` in turn (one element each).

    Each agent rings ``ring_seconds`` after the previous one, and lists the
    agents who did not answer before it.
    """
    start = started or datetime(2025, 9, 12, 17, 19, 5, tzinfo=PLATFORM_TZ)
    return [
        {
            "callId": call_id,
            "type": 1,
            "taskId": task_id,
            "called": called,
            "calledInfo": "",
            "seatGroupName": "test-1",
            "noAnswerSipList": sip_accounts[:n],
            "sipAccount": account,
            "callinEventTime": platform_time(start + timedelta(seconds=n * ring_seconds)),
        }
        for n, account in enumerate(sip_accounts)
    ]
