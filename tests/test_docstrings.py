"""Public docstrings say what the code does, and point readers only at public things."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import httpx
import pytest

import laaffic_async
import laaffic_async.testing
import laaffic_async.webhooks
from laaffic_async import AsyncClient, RetryPolicy, TransportError
from laaffic_async._core.retry import backoff_delay

PUBLIC_MODULES = (laaffic_async, laaffic_async.webhooks, laaffic_async.testing)
PRIVATE_POINTER = re.compile(r"\b_[a-z]\w*\.py\b|laaffic_async\._\w+|``_[a-z]\w*")


def public_docstrings(module: ModuleType) -> list[tuple[str, str]]:
    found = []
    for name in module.__all__:
        obj = getattr(module, name)
        found.append((name, inspect.getdoc(obj) or ""))
        if isinstance(obj, type):
            # The package's own bases too: AsyncClient inherits part of its methods.
            own = [k for k in obj.__mro__ if k.__module__.startswith("laaffic_async")]
            for attr, member in {a: m for k in reversed(own) for a, m in vars(k).items()}.items():
                if not attr.startswith("_") and (callable(member) or isinstance(member, property)):
                    found.append((f"{name}.{attr}", inspect.getdoc(member) or ""))
    return found


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_public_docstrings_never_send_readers_to_private_files(module: ModuleType) -> None:
    pointers = [
        (name, hit)
        for name, doc in public_docstrings(module)
        for hit in PRIVATE_POINTER.findall(doc)
        if isinstance(getattr(module, name.split(".")[0]), type)
    ]
    assert pointers == []


def test_the_client_does_not_claim_to_hold_an_httpx_client() -> None:
    doc = inspect.getdoc(AsyncClient) or ""
    assert "pooled ``httpx.AsyncClient``" not in doc
    assert "skipping httpx's client layer" in doc


def test_retry_policy_names_the_jitter_backoff_delay_uses() -> None:
    doc = inspect.getdoc(RetryPolicy) or ""
    assert "full jitter" not in doc
    assert "equal jitter" in doc
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=100.0)
    # Equal jitter: half the ceiling fixed, half random (full jitter could give 0).
    low, high = backoff_delay(policy, 3, 0.0), backoff_delay(policy, 3, 0.999999)
    assert low > 0
    assert high == pytest.approx(2 * low, rel=1e-5)


def test_send_sip_names_every_error_it_raises() -> None:
    doc = inspect.getdoc(AsyncClient.send_sip) or ""
    for name in ("RequestValidationError", "ApiError", "OutcomeUnknownError", "TransportError"):
        assert name in doc, name


class ReadTimeoutTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)


@pytest.mark.anyio
async def test_a_querys_read_timeout_is_a_transport_error_as_documented() -> None:
    assert "read timeout" in (inspect.getdoc(TransportError) or "")
    async with AsyncClient(
        "bDqJFiq9",
        "7bz1lzh9",
        base_url="http://sandbox/v3",
        transport=ReadTimeoutTransport(),
        retry=RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001),
    ) as client:
        with pytest.raises(TransportError, match="ReadTimeout"):
            await client.record("2203031113381000002")
