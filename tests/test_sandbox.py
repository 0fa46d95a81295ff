"""The sandbox on its own, spoken to with raw HTTP (not the SDK's builders).

If the client and the emulator shared a bug, client tests would pass; these
pin the emulator to the vendor pages instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from laaffic_async.testing import Sandbox, SandboxState, SandboxTransport

pytestmark = pytest.mark.anyio

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"


def headers(timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sign = hashlib.md5(f"{KEY}{secret}{stamp}".encode()).hexdigest()
    return {
        "Content-Type": "application/json;charset=UTF-8",
        "Api-Key": KEY,
        "Timestamp": stamp,
        "Sign": sign.upper(),  # the server ignores the case of Sign
    }


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=SandboxTransport(sandbox), base_url="http://sandbox"
    ) as client:
        yield client


async def post(http: httpx.AsyncClient, path: str, body: Any, **kw: Any) -> dict[str, Any]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await http.post(path, content=content, headers=headers(**kw))
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


SAMPLE = {"callee": "932111111111", "displayNum": "1008122211", "account": "test_001", "appId": APP}


async def test_vendor_sample_succeeds(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    answer = await post(http, "/v3/voice/sendSip", SAMPLE)
    assert answer["status"] == "0"
    assert answer["reason"] == "success"
    assert len(answer["data"]) == 19
    assert sandbox.state.dials_by_account == {"test_001": 1}


async def test_itniotech_path_without_prefix(http: httpx.AsyncClient) -> None:
    assert (await post(http, "/voice/sendSip", SAMPLE))["status"] == "0"


async def test_bad_sign_is_minus_1(http: httpx.AsyncClient) -> None:
    assert (await post(http, "/v3/voice/sendSip", SAMPLE, secret="nope"))["status"] == "-1"


async def test_unknown_app_id_is_minus_1(http: httpx.AsyncClient) -> None:
    answer = await post(http, "/v3/voice/sendSip", {**SAMPLE, "appId": "other"})
    assert answer["status"] == "-1"


@pytest.mark.parametrize("skew", [-1801, 1801])
async def test_timestamp_outside_half_an_hour_is_minus_16(
    http: httpx.AsyncClient, skew: int
) -> None:
    answer = await post(http, "/v3/voice/sendSip", SAMPLE, timestamp=int(time.time()) + skew)
    assert answer["status"] == "-16"


async def test_timestamp_inside_half_an_hour_is_fine(http: httpx.AsyncClient) -> None:
    answer = await post(http, "/v3/voice/sendSip", SAMPLE, timestamp=int(time.time()) - 1700)
    assert answer["status"] == "0"


@pytest.mark.parametrize("raw", [b"callee=1", b"[1, 2]", b""])
async def test_non_json_body_is_minus_18(http: httpx.AsyncClient, raw: bytes) -> None:
    assert (await post(http, "/v3/voice/sendSip", raw))["status"] == "-18"


@pytest.mark.parametrize(
    "change",
    [
        {"callee": "123456"},
        {"callee": "1234567890123456"},
        {"callee": "+93211111111"},
        {"callee": None},
        {"displayNum": "12"},
        {"account": ""},
        {"account": None},
        {"appId": None},
        {"calledInfo": "x" * 1001},
    ],
)
async def test_bad_fields_are_minus_22(
    http: httpx.AsyncClient, sandbox: Sandbox, change: dict[str, Any]
) -> None:
    body = {k: v for k, v in {**SAMPLE, **change}.items() if v is not None}
    assert (await post(http, "/v3/voice/sendSip", body))["status"] == "-22"
    assert sandbox.state.dials == 0


async def test_null_display_num_is_allowed(http: httpx.AsyncClient) -> None:
    assert (await post(http, "/v3/voice/sendSip", {**SAMPLE, "displayNum": None}))["status"] == "0"


async def test_busy_account_is_minus_68_until_the_call_ends() -> None:
    now = [1_700_000_000.0]
    sandbox = Sandbox(SandboxState(clock=lambda: now[0], call_seconds=30))
    async with httpx.AsyncClient(transport=SandboxTransport(sandbox), base_url="http://s") as http:
        stamp = int(now[0])
        assert (await post(http, "/v3/voice/sendSip", SAMPLE, timestamp=stamp))["status"] == "0"
        busy = await post(http, "/v3/voice/sendSip", SAMPLE, timestamp=stamp)
        assert busy["status"] == "-68"
        now[0] += 31
        again = await post(http, "/v3/voice/sendSip", SAMPLE, timestamp=int(now[0]))
        assert again["status"] == "0"
    assert sandbox.state.dials == 2


async def test_unknown_path_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/v3/voice/nothing", content=b"{}", headers=headers())
    assert response.status_code == 404


async def test_date_header_follows_the_sandbox_clock() -> None:
    sandbox = Sandbox(SandboxState(clock=lambda: 1630468800.0))
    async with httpx.AsyncClient(transport=SandboxTransport(sandbox), base_url="http://s") as h:
        response = await h.post("/v3/voice/sendSip", content=b"{}", headers=headers())
    assert response.headers["date"] == "Wed, 01 Sep 2021 04:00:00 GMT"


def query(start: datetime, end: datetime, current: int = 1, size: int = 20) -> dict[str, Any]:
    return {
        "current": current,
        "size": size,
        "params": {"strTime": start.isoformat(), "endTime": end.isoformat()},
    }


async def test_record_query_pages_newest_first(http: httpx.AsyncClient) -> None:
    ids = [
        (await post(http, "/v3/voice/sendSip", SAMPLE | {"account": f"a{i}"}))["data"]
        for i in range(5)
    ]
    now = datetime.now(UTC)
    first = await post(
        http,
        "/v3/voice/recordSipQuery",
        query(now - timedelta(hours=1), now + timedelta(hours=1), 1, 2),
    )
    data = first["data"]
    assert (data["total"], data["pages"], data["current"], data["size"]) == (5, 3, 1, 2)
    assert [r["voiceId"] for r in data["records"]] == ids[::-1][:2]
    last = await post(
        http,
        "/v3/voice/recordSipQuery",
        query(now - timedelta(hours=1), now + timedelta(hours=1), 3, 2),
    )
    assert [r["voiceId"] for r in last["data"]["records"]] == ids[:1]
    record = data["records"][0]
    for field in ("submitTime", "callTime", "ringingTime", "hangupTime"):
        assert datetime.fromisoformat(record[field]).utcoffset() == timedelta(hours=8)
    assert set(record) >= {
        "voiceId", "sipGroupName", "phoneName", "callee", "displayNum", "code", "submitTime",
        "callTime", "ringingTime", "answerTime", "hangupTime", "callDuration", "chargedDuration",
        "terminationCode", "terminationReason", "cost", "billPeriod", "rate", "recordingFileId",
        "currency",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("start_days_ago", "length_days", "status"),
    [(10, 31, "0"), (40, 32, "-25"), (61, 5, "-25"), (59, 5, "0")],
)
async def test_record_query_time_rules(
    http: httpx.AsyncClient, start_days_ago: int, length_days: int, status: str
) -> None:
    start = datetime.now(UTC) - timedelta(days=start_days_ago)
    answer = await post(
        http, "/v3/voice/recordSipQuery", query(start, start + timedelta(days=length_days))
    )
    assert answer["status"] == status


@pytest.mark.parametrize(
    "body",
    [
        {"current": 0, "size": 20, "params": {}},
        {"current": 1, "size": 101, "params": {}},
        {"current": 1, "size": 20},
        {"current": 1, "size": 20, "params": {"strTime": "2022-01-01T00:00:00", "endTime": "x"}},
    ],
)
async def test_record_query_bad_params_are_minus_22(
    http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert (await post(http, "/v3/voice/recordSipQuery", body))["status"] == "-22"
