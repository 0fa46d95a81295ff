"""send_sip against the sandbox, in-process and over a real socket, on asyncio and trio."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from laaffic_async import (
    ITNIOTECH,
    AsyncClient,
    AuthenticationError,
    Call,
    InsufficientBalanceError,
    OutcomeUnknownError,
    RequestValidationError,
    RetryPolicy,
    SipBusyError,
    TimestampExpiredError,
    TransportError,
)
from laaffic_async.testing import Faults, Sandbox, SandboxState, SandboxTransport

pytestmark = pytest.mark.anyio

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)


def make_client(sandbox: Sandbox, **kwargs: object) -> AsyncClient:
    options: dict[str, object] = {"app_id": APP, "base_url": "http://sandbox/v3"}
    options.update(kwargs)
    return AsyncClient(KEY, SECRET, transport=SandboxTransport(sandbox), **options)  # type: ignore[arg-type]


async def test_send_sip_places_one_call(client: AsyncClient, sandbox: Sandbox) -> None:
    call = await client.send_sip("932111111111", account="test_001", called_info="ref-1")
    assert call.voice_id.isdigit()
    assert len(call.voice_id) == 19
    assert call.call == Call("932111111111", "test_001", called_info="ref-1", app_id=APP)
    assert sandbox.state.dials_by_callee == {"932111111111": 1}
    assert sandbox.state.records.get(call.voice_id) is not None


async def test_over_a_real_socket(socket_client: AsyncClient, sandbox: Sandbox) -> None:
    first = await socket_client.send_sip("932111111111", account="a1")
    second = await socket_client.send_sip("932111111112", account="a2", display_num="1008122211")
    assert first.voice_id != second.voice_id
    assert sandbox.state.dials == 2


async def test_itniotech_paths_have_no_v3(sandbox: Sandbox) -> None:
    async with make_client(sandbox, base_url=ITNIOTECH) as client:
        await client.send_sip("932111111111", account="a")
    assert sandbox.state.dials == 1


async def test_wrong_secret_is_authentication_error(sandbox: Sandbox) -> None:
    async with AsyncClient(
        KEY, "wrong", app_id=APP, base_url="http://s/v3", transport=SandboxTransport(sandbox)
    ) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.send_sip("932111111111", account="a")
    assert info.value.status == "-1"
    assert sandbox.state.dials == 0


async def test_unknown_app_id_is_authentication_error(
    client: AsyncClient, sandbox: Sandbox
) -> None:
    with pytest.raises(AuthenticationError):
        await client.send_sip("932111111111", account="a", app_id="nope")
    assert sandbox.state.dials == 0


async def test_busy_account(sandbox: Sandbox) -> None:
    sandbox.state.call_seconds = 600
    async with make_client(sandbox) as client:
        await client.send_sip("932111111111", account="a")
        with pytest.raises(SipBusyError) as info:
            await client.send_sip("932111111112", account="a")
        await client.send_sip("932111111113", account="b")
    assert info.value.endpoint == "voice/sendSip"
    assert sandbox.state.dials == 2


async def test_insufficient_balance(sandbox: Sandbox) -> None:
    from decimal import Decimal

    sandbox.state.balance = Decimal("0.001")
    async with make_client(sandbox) as client:
        with pytest.raises(InsufficientBalanceError):
            await client.send_sip("932111111111", account="a")


async def test_bad_input_is_refused_before_sending(client: AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(RequestValidationError) as info:
        await client.send_sip("12345", account="a")
    assert info.value.field == "callee"
    with pytest.raises(RequestValidationError) as info:
        await client.send_sip("932111111111", account="a", display_num="12")
    assert info.value.field == "displayNum"
    assert sum(sandbox.state.requests.values()) == 0


async def test_missing_app_id_refused_before_sending(sandbox: Sandbox) -> None:
    async with AsyncClient(
        KEY, SECRET, base_url="http://s/v3", transport=SandboxTransport(sandbox)
    ) as client:
        with pytest.raises(RequestValidationError) as info:
            await client.send_sip("932111111111", account="a")
    assert info.value.field == "appId"
    assert sum(sandbox.state.requests.values()) == 0


async def test_skewed_client_clock_is_recovered() -> None:
    # The server's clock runs two hours ahead of ours: the first attempt gets -16.
    sandbox = Sandbox(SandboxState(clock=lambda: time.time() + 7200))
    async with make_client(sandbox) as client:
        await client.send_sip("932111111111", account="a")
        assert 7190 < client.now() - time.time() < 7210
        await client.send_sip("932111111112", account="b")
    # Two dials, three requests: only the first call needed a re-signed retry.
    assert sandbox.state.dials == 2
    assert sandbox.state.requests["voice/sendSip"] == 3


async def test_expired_timestamp_without_date_is_raised() -> None:
    sandbox = Sandbox(SandboxState(clock=lambda: time.time() - 7200))

    class NoDate(SandboxTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            del response.headers["date"]
            return response

    async with AsyncClient(
        KEY, SECRET, app_id=APP, base_url="http://s/v3", transport=NoDate(sandbox)
    ) as client:
        with pytest.raises(TimestampExpiredError):
            await client.send_sip("932111111111", account="a")
    assert sandbox.state.dials == 0


async def test_drop_after_body_is_outcome_unknown_and_never_resent(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(drop_rate=1.0)
    async with make_client(sandbox, retry=FAST_RETRY) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.send_sip("932111111111", account="a")
    assert info.value.request == Call("932111111111", "a", app_id=APP)
    assert sandbox.state.dials_by_callee == {"932111111111": 1}
    assert sandbox.state.requests["voice/sendSip"] == 1


async def test_drop_after_body_over_a_real_socket(sandbox: Sandbox, sandbox_url: str) -> None:
    sandbox.faults = Faults(drop_rate=1.0, limit=1)
    async with AsyncClient(KEY, SECRET, app_id=APP, base_url=sandbox_url, retry=FAST_RETRY) as c:
        with pytest.raises(OutcomeUnknownError):
            await c.send_sip("932111111111", account="a")
        # The pool recovers: the next call goes through on a fresh connection.
        await c.send_sip("932111111112", account="b")
    assert sandbox.state.dials_by_callee == {"932111111111": 1, "932111111112": 1}


async def test_5xx_on_send_sip_is_outcome_unknown(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(error_rate=1.0)
    async with make_client(sandbox, retry=FAST_RETRY) as client:
        with pytest.raises(OutcomeUnknownError, match="HTTP 500"):
            await client.send_sip("932111111111", account="a")
    assert sandbox.state.requests["voice/sendSip"] == 1


async def test_connect_failure_is_retried(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(refuse_connections=2)
    transport = SandboxTransport(sandbox)
    async with AsyncClient(
        KEY, SECRET, app_id=APP, base_url="http://s/v3", transport=transport, retry=FAST_RETRY
    ) as client:
        await client.send_sip("932111111111", account="a")
    assert transport.connects == 3
    assert sandbox.state.dials == 1


async def test_connect_failure_gives_up_with_transport_error(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(refuse_connections=100)
    async with make_client(sandbox, retry=FAST_RETRY) as client:
        with pytest.raises(TransportError):
            await client.send_sip("932111111111", account="a")
    assert sandbox.state.dials == 0


async def test_connection_refused_on_a_real_socket() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AsyncClient(
        KEY, SECRET, app_id=APP, base_url=f"http://127.0.0.1:{port}/v3", retry=FAST_RETRY
    ) as client:
        with pytest.raises(TransportError, match="ConnectError"):
            await client.send_sip("932111111111", account="a")


async def test_secret_and_sign_never_logged(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults = Faults(refuse_connections=1)
    async with make_client(sandbox, retry=FAST_RETRY) as client:
        placed = await client.send_sip("932111111111", account="a")
        assert SECRET not in repr(client)
    assert placed.voice_id
    assert caplog.records, "the retry should have been logged"
    for record in caplog.records:
        text = record.getMessage()
        assert SECRET not in text
        assert "Sign" not in text


async def test_credentials_from_environment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAAFFIC_API_KEY", KEY)
    monkeypatch.setenv("LAAFFIC_API_SECRET", SECRET)
    monkeypatch.setenv("LAAFFIC_APP_ID", APP)
    monkeypatch.setenv("LAAFFIC_BASE_URL", "http://env-host/v3")
    async with AsyncClient(transport=SandboxTransport(sandbox)) as client:
        assert client.base_url == "http://env-host/v3/"
        await client.send_sip("932111111111", account="a")
    assert sandbox.state.dials == 1


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAAFFIC_API_KEY", raising=False)
    monkeypatch.delenv("LAAFFIC_API_SECRET", raising=False)
    with pytest.raises(RequestValidationError, match="api_key"):
        AsyncClient()
    with pytest.raises(RequestValidationError, match="api_secret"):
        AsyncClient("key")


async def test_caller_owned_http_client_is_not_closed(sandbox: Sandbox) -> None:
    http = httpx.AsyncClient(transport=SandboxTransport(sandbox))
    async with AsyncClient(
        KEY, SECRET, app_id=APP, base_url="http://s/v3", http_client=http
    ) as client:
        await client.send_sip("932111111111", account="a")
    assert not http.is_closed
    await http.aclose()
