"""Hypothesis against the receiver: malformed input never reaches the handler nor raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laaffic_async.webhooks import PushReceiver

from .webhook_helpers import Collector, call

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def is_json(raw: bytes) -> bool:
    try:
        value = json.loads(raw.decode("utf-8-sig"), parse_constant=lambda name: 1 / 0)
        json.dumps(value, allow_nan=False)  # 1e400 parses as inf: not a keepable number
    except (ValueError, ZeroDivisionError, RecursionError):
        return False
    return True


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=15,
)
documents = json_values.map(lambda value: json.dumps(value).encode())


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    raw = draw(documents)
    return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """A valid document with garbage put somewhere inside it."""
    raw = draw(documents)
    at = draw(st.integers(0, len(raw)))
    junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"NaN", b",", b"}", b"'", b"\x00", b"]"]))
    return raw[:at] + junk + raw[at:]


malformed = st.one_of(
    st.binary(max_size=300),
    truncated(),
    spliced(),
    st.sampled_from([b"[NaN]", b'{"cost": -Infinity}', b"[1e400]", b"[" * 50_000, b"\xef\xbb\xbf"]),
).filter(lambda raw: not is_json(raw))


@FUZZ
@given(raw=malformed, chunked=st.booleans())
async def test_malformed_bodies_get_400_and_never_reach_the_handler(
    raw: bytes, chunked: bool
) -> None:
    handler = Collector()
    app = PushReceiver(handler, spool=None)
    async with app:
        body: bytes | list[bytes] = [raw[:3], raw[3:]] if chunked else raw
        answer = await call(app, body)
    assert answer is not None
    assert answer.status == 400
    assert handler.calls == {}
    assert app.stats().received == 0


@FUZZ
@given(data=json_values)
async def test_any_json_is_acknowledged_and_delivered(data: Any) -> None:
    handler = Collector()
    app = PushReceiver(handler, spool=None)
    async with app:
        answer = await call(app, json.dumps(data).encode())
        assert answer is not None
        assert answer.status == 200
        expected = 0 if data == [] else app.stats().received
        await handler.wait_for(expected)
    assert app.stats().received == len(handler.events) >= (0 if data == [] else 1)


header_values = st.text(alphabet=st.characters(codec="latin-1"), max_size=20)


@FUZZ
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "post"]),
    path=st.text(max_size=20).map(lambda s: "/" + s),
    headers=st.dictionaries(
        st.sampled_from(["content-length", "x-forwarded-for", "content-type", "x-other"]),
        header_values,
        max_size=4,
    ),
    client=st.one_of(
        st.none(), st.tuples(st.sampled_from(["203.0.113.7", "::1", "junk", ""]), st.just(1))
    ),
    raw=st.binary(max_size=64),
)
async def test_arbitrary_requests_never_raise_out_of_the_app(
    method: str, path: str, headers: dict[str, str], client: tuple[str, int] | None, raw: bytes
) -> None:
    handler = Collector()
    app = PushReceiver(
        handler,
        spool=None,
        path_token="tok",
        allowed_ips=["203.0.113.0/24", "::1"],
        trusted_proxy_header="x-forwarded-for" if "x-other" in headers else None,
        max_body=32,
    )
    async with app:
        answer = await call(app, raw, method=method, path=path, headers=headers, client=client)
    assert answer is not None
    assert answer.status in {200, 400, 403, 404, 405, 413}
    if answer.status != 200:
        assert handler.calls == {}
