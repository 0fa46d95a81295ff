"""Per-request CPU cost of the sans-I/O core, in microseconds.

No network, no event loop: what one sendSip costs the SDK to build, sign
and decode, and what one 100-record recordSipQuery page costs to decode
into typed :class:`~laaffic_async.CallRecord` values (against a plain
``json.loads``, the floor any client pays).

Run: ``python benchmarks/bench_core.py``.
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from laaffic_async import Call, RecordPage
from laaffic_async._core.converter import structure
from laaffic_async._core.envelope import decode
from laaffic_async._core.requests import send_sip_request
from laaffic_async._core.signing import signed_headers
from laaffic_async.models import Credentials

CREDENTIALS = Credentials("bDqJFiq9", "7bz1lzh9")
SEND_SIP_ANSWER = b'{"status":"0","reason":"success","data":"2203031113381000002"}'


def _record(i: int) -> dict[str, Any]:
    return {
        "voiceId": f"22030311133810{i:05d}",
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


PAGE_ANSWER = json.dumps(
    {
        "status": "0",
        "reason": "success",
        "data": {
            "total": 100,
            "size": 100,
            "current": 1,
            "pages": 1,
            "searchCount": True,
            "records": [_record(i) for i in range(100)],
        },
    }
).encode()


def send_sip_round_trip() -> None:
    request = send_sip_request(Call(callee="932111111111", account="test_001"), "4luaKsL2")
    signed_headers(CREDENTIALS, 1630468800)
    assert request.body
    decode(request.endpoint, 200, SEND_SIP_ANSWER)


def decode_page() -> None:
    structure(decode("voice/recordSipQuery", 200, PAGE_ANSWER), RecordPage)


def json_only_page() -> None:
    json.loads(PAGE_ANSWER)


def _microseconds(func: Callable[[], None], repeat: int = 7) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number)) * 1e6


def run() -> list[dict[str, Any]]:
    """Measure and return one row per operation (medians of 7 runs)."""
    return [
        {"operation": "sendSip: build + sign + decode", "us": _microseconds(send_sip_round_trip)},
        {"operation": "100-record page: decode to CallRecord", "us": _microseconds(decode_page)},
        {"operation": "100-record page: json.loads only", "us": _microseconds(json_only_page)},
    ]


def main() -> None:
    rows = run()
    print(f"{'operation':<45} {'median µs':>10}")
    for row in rows:
        print(f"{row['operation']:<45} {row['us']:>10.1f}")


if __name__ == "__main__":
    main()
