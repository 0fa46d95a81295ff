"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from laaffic_async import AsyncClient
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Sandbox,
    SandboxTransport,
    serve_in_thread,
)

from .otel_support import telemetry
from .redis_support import redis_server, redis_url

# Served by uvicorn in a subprocess, configured by its environment: not a test module.
collect_ignore = ["push_fleet_app.py"]

__all__ = ["redis_server", "redis_url", "telemetry"]


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients honour proxy variables by default: a developer's own must not reroute tests."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def transport(sandbox: Sandbox) -> SandboxTransport:
    return SandboxTransport(sandbox)


@pytest.fixture
async def client(transport: SandboxTransport) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=transport,
    ) as client:
        yield client


@pytest.fixture
def sandbox_url(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox served over a real socket on 127.0.0.1."""
    with serve_in_thread(sandbox) as url:
        yield url


@pytest.fixture
async def socket_client(sandbox_url: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        SAMPLE_API_KEY, SAMPLE_API_SECRET, app_id=SAMPLE_APP_ID, base_url=sandbox_url
    ) as client:
        yield client
