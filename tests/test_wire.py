"""The wire holds against misbehaving servers, on every backend, through AsyncClient.

Each test talks to ``tests/wire_support.py``'s raw socket server through the production
path of every backend: the pooled transport (asyncio, trio), aiohttp (asyncio) and httpx's
own pool (asyncio, trio). Each failure here was seen in the wild (issue 10): undecodable
encodings escaping as bare httpx errors, unsolicited bytes desynchronising a connection,
stale keep-alive connections, a dripping server holding a call far past its timeout, a gzip
bomb, pre-signed links in messages.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from laaffic_async import (
    AsyncClient,
    OutcomeUnknownError,
    RequestValidationError,
    RetryPolicy,
    TransportError,
)
from laaffic_async._io.stack import Backend
from laaffic_async.testing import serve_in_thread
from laaffic_async.webhooks import PushReceiver

from .batch_support import APP, KEY, SECRET
from .wire_support import Action, ForwardProxy, RawServer, answer, proxy, server

__all__ = ["proxy", "server"]  # the fixtures, imported

pytestmark = pytest.mark.anyio
every_backend = pytest.mark.parametrize(
    ("anyio_backend", "http_backend"),
    [
        ("asyncio", "pooled"),
        ("trio", "pooled"),
        ("asyncio", "aiohttp"),
        ("asyncio", "httpx"),
        ("trio", "httpx"),
    ],
)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
DIAL, QUERY = "voice/sendSip", "voice/getRecordingFileUrl"


def wire_client(url: str, http_backend: Backend, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return AsyncClient(
        KEY, SECRET, app_id=APP, base_url=url + "/v3", http_backend=http_backend, **kwargs
    )


def envelope(data: object) -> bytes:
    return json.dumps({"status": "0", "reason": "success", "data": data}).encode()


def link_answer(url: str) -> bytes:
    return answer(envelope({"url": url, "expireTime": int(time.time() * 1000) + 600_000}))


def requests_to(server: RawServer, endpoint: str) -> int:
    return sum(1 for head in server.heads if endpoint.encode() in head.split(b"\r\n", 1)[0])


def numbered(after: Callable[[socket.socket, int], None] | None = None) -> Action:
    """Answer V1, V2, ... in turn; ``after(conn, n)`` may then misbehave."""
    counter = itertools.count(1)

    def act(conn: socket.socket) -> bool:
        n = next(counter)
        conn.sendall(answer(envelope(f"V{n}")))
        if after is not None:
            after(conn, n)
        return True

    return act


# -- 1. encodings the client cannot decode ------------------------------------------------


@every_backend
@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("br", b"\x1b\x0d\x00\xf8\xa5\x40\xc2\xaa\x93\x28\x00"),
        ("zstd", b"\x28\xb5\x2f\xfd\x20\x0e\x71\x00\x00"),
        ("gzip", gzip.compress(envelope("V1"))[:12] + b"corrupt"),
    ],
    ids=["br", "zstd", "corrupt-gzip"],
)
async def test_undecodable_answers_are_laaffic_errors(
    server: RawServer, http_backend: Backend, coding: str, body: bytes
) -> None:
    server.script = {
        DIAL: answer(body, f"Content-Encoding: {coding}"),
        QUERY: answer(body, f"Content-Encoding: {coding}"),
    }
    async with wire_client(server.url, http_backend) as client:
        with pytest.raises(OutcomeUnknownError, match="UndecodableAnswer"):
            await client.send_sip("932111111111", account="a")
        with pytest.raises(TransportError, match="UndecodableAnswer") as info:
            await client.recording_url("f1")
    assert not isinstance(info.value, OutcomeUnknownError)
    assert requests_to(server, DIAL) == 1  # the body was sent: never again
    assert requests_to(server, QUERY) == FAST_RETRY.attempts  # a query: retried
    for head in server.heads:  # offered only what can be undone
        assert b"\r\naccept-encoding: gzip, deflate, identity" in head.lower()


# -- 2. unsolicited bytes after a complete answer ------------------------------------------


def _inject(conn: socket.socket, n: int) -> None:
    if n == 1:
        conn.sendall(answer(envelope("INJECTED")))


def _inject_later(conn: socket.socket, n: int) -> None:
    if n == 1:
        time.sleep(0.05)  # the client has read its answer: the connection idles
        conn.sendall(answer(envelope("INJECTED")))


@every_backend
@pytest.mark.parametrize("after", [_inject, _inject_later], ids=["same-write", "while-idle"])
async def test_leftover_bytes_never_answer_the_next_call(
    server: RawServer, http_backend: Backend, after: Callable[[socket.socket, int], None]
) -> None:
    server.script = {DIAL: numbered(after)}
    async with wire_client(server.url, http_backend) as client:
        first = await client.send_sip("932111111111", account="a")
        await anyio.sleep(0.2)
        second = await client.send_sip("932111111112", account="a")
    assert (first.voice_id, second.voice_id) == ("V1", "V2")
    assert server.accepted == 2  # the desynchronised connection was closed, not reused


# -- 3. stale keep-alive connections -------------------------------------------------------


@every_backend
async def test_keepalive_expiry_is_configurable(server: RawServer, http_backend: Backend) -> None:
    server.script = {DIAL: numbered()}
    async with wire_client(server.url, http_backend, keepalive_expiry=0.1) as client:
        await client.send_sip("932111111111", account="a")
        await anyio.sleep(0.4)
        await client.send_sip("932111111112", account="a")
    assert server.accepted == 2


@every_backend
async def test_the_servers_keepalive_timeout_is_honoured(http_backend: Backend) -> None:
    # The server closes connections idle for 1 s and says so; the client must drop them
    # a margin before, or a call written as the server closes is a false unknown outcome.
    srv = RawServer(idle_timeout=1.0)
    srv.script = {DIAL: answer(envelope("V"), "Keep-Alive: timeout=1")}
    try:
        async with wire_client(srv.url, http_backend) as client:
            await client.send_sip("932111111111", account="a")
            await anyio.sleep(0.2)
            await client.send_sip("932111111112", account="a")  # well within: reused
            await anyio.sleep(0.7)
            await client.send_sip("932111111113", account="a")  # 0.5 s before: a new one
        assert srv.accepted == 2
        assert srv.requests[:2] == [2, 1]
    finally:
        srv.close()


@pytest.mark.parametrize(
    ("anyio_backend", "http_backend"),
    [("asyncio", "pooled"), ("trio", "pooled"), ("asyncio", "aiohttp")],
)
async def test_the_newest_idle_connection_is_reused_first(
    server: RawServer, http_backend: Backend
) -> None:
    # Three connections answer one after another; the next call must take the one that
    # answered last (the oldest idle one is the likeliest to be closed by the server).
    answered: list[threading.Thread] = []
    arrived = itertools.count()
    gate = threading.Event()

    def staggered(conn: socket.socket) -> bool:
        n = next(arrived)
        if n < 3:
            gate.wait(5)
            time.sleep(0.05 * n)
        conn.sendall(answer(envelope(f"V{n}")))
        answered.append(threading.current_thread())
        return True

    server.script = {DIAL: staggered}
    async with wire_client(server.url, http_backend) as client:
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(functools.partial(client.send_sip, f"93211111111{i}", account="a"))
            while requests_to(server, DIAL) < 3:  # noqa: ASYNC110 - a server thread's count
                await anyio.sleep(0.01)
            gate.set()
        await client.send_sip("932111111119", account="a")
    # The server thread notes its answer just after sending it: wait for that note.
    with anyio.fail_after(5):
        while len(answered) < 4:  # noqa: ASYNC110 - a server thread's list
            await anyio.sleep(0.01)
    assert server.accepted == 3
    assert answered[3] is answered[2]


# -- 4. a total deadline per attempt -------------------------------------------------------


def _drip(conn: socket.socket) -> bool:
    """Headers, then one byte of a 60-byte body every 0.1 s: each read is quick."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n")
    try:
        for _ in range(60):
            time.sleep(0.1)
            conn.sendall(b" ")
    except OSError:
        pass
    return False


@every_backend
async def test_a_dripping_server_cannot_stretch_an_attempt(
    server: RawServer, http_backend: Backend
) -> None:
    server.script = {DIAL: _drip}
    started = time.monotonic()
    async with wire_client(server.url, http_backend, timeout=0.5) as client:
        with pytest.raises(OutcomeUnknownError, match="ReadTimeout"):
            await client.send_sip("932111111111", account="a")
    # Per read it would take 6 s; the deadline (after at most pool + connect) ends it.
    assert time.monotonic() - started < 4.0


# -- 5. answer size ------------------------------------------------------------------------

BOMB = gzip.compress(envelope("1" * 2_000_000))  # about 2 KB on the wire, 2 MB decoded


@every_backend
@pytest.mark.parametrize(
    "raw",
    [answer(BOMB, "Content-Encoding: gzip"), answer(envelope("1" * 300_000))],
    ids=["gzip-bomb", "plain"],
)
async def test_answers_over_max_response_size_are_refused(
    server: RawServer, http_backend: Backend, raw: bytes
) -> None:
    server.script = {DIAL: raw, QUERY: raw}
    async with wire_client(server.url, http_backend, max_response_size=256 * 1024) as client:
        with pytest.raises(OutcomeUnknownError, match="max_response_size"):
            await client.send_sip("932111111111", account="a")
        with pytest.raises(TransportError, match="max_response_size"):
            await client.recording_url("f1")


# -- 8. a pre-signed link never appears in a message ---------------------------------------


@every_backend
async def test_a_presigned_link_is_never_logged_or_raised(
    server: RawServer, http_backend: Backend, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    link = f"{server.url}/rec.wav?Signature=S3CR3T&Expires=1"
    server.script = {QUERY: link_answer(link), "/rec.wav": b"NOT HTTP AT ALL\r\n\r\n"}
    caplog.set_level(logging.DEBUG)
    async with wire_client(server.url, http_backend) as client:
        with pytest.raises(TransportError) as info:
            await client.download_recording("f1", tmp_path)
    assert "rec.wav" in str(info.value) or "HTTP" in str(info.value)
    assert "S3CR3T" not in str(info.value)
    assert "S3CR3T" not in repr(info.value.__cause__)
    assert "S3CR3T" not in caplog.text
    assert requests_to(server, "/rec.wav") == FAST_RETRY.attempts


@every_backend
async def test_a_download_that_fails_to_decode_is_a_transport_error(
    server: RawServer, http_backend: Backend, tmp_path: Any
) -> None:
    corrupt = gzip.compress(b"RIFF" + bytes(5000))[:40] + b"garbage"
    server.script = {
        QUERY: link_answer(f"{server.url}/rec.wav"),
        "/rec.wav": answer(corrupt, "Content-Encoding: gzip"),
    }
    async with wire_client(server.url, http_backend) as client:
        with pytest.raises(TransportError, match="UndecodableAnswer"):
            await client.download_recording("f1", tmp_path)
    assert requests_to(server, "/rec.wav") == FAST_RETRY.attempts
    assert list(tmp_path.iterdir()) == []  # no partial file left


# -- 10. allowed_ips: the source is checked before the path token --------------------------


async def test_a_wrong_source_and_a_wrong_token_answer_alike_over_a_socket() -> None:
    async def handler(event: object) -> None:
        raise AssertionError("nothing may be delivered")

    receiver = PushReceiver(handler, spool=None, path_token="t0k3n", allowed_ips=["192.0.2.0/24"])
    with serve_in_thread(receiver, prefix="/") as url:
        async with httpx.AsyncClient(trust_env=False) as http:
            right = await http.post(f"{url}/t0k3n", json={"voiceId": "1"})
            wrong = await http.post(f"{url}/guess", json={"voiceId": "1"})
    assert (right.status_code, right.content) == (wrong.status_code, wrong.content)
    assert right.status_code == 404


# -- 9 and TLS: verification on every backend, one CA source, messages that say what failed --


@pytest.fixture(scope="module")
def ca() -> Any:
    import trustme

    return trustme.CA()


def tls_server(ca: Any, *names: str) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    srv = RawServer(tls=context)
    srv.script = {DIAL: answer(envelope("V1"))}
    return srv


@every_backend
async def test_tls_custom_ca_through_verify(ca: Any, http_backend: Backend, tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    srv = tls_server(ca, "127.0.0.1", "localhost")
    try:
        for verify in (str(bundle), bundle, context):
            async with wire_client(srv.url, http_backend, verify=verify) as client:
                assert (await client.send_sip("932111111111", account="a")).voice_id == "V1"
        with pytest.warns(UserWarning, match="NOT checked"):
            unchecked = wire_client(srv.url, http_backend, verify=False)
        async with unchecked as client:
            assert (await client.send_sip("932111111111", account="a")).voice_id == "V1"
    finally:
        srv.close()


@every_backend
async def test_tls_failures_say_what_failed(ca: Any, http_backend: Backend, tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    srv = tls_server(ca, "127.0.0.1")
    other = tls_server(ca, "other.example")
    try:
        # Untrusted: the default CAs (certifi) do not know this CA. Nothing was sent, so even
        # a dial is retried, then reported as a TransportError naming the cause.
        async with wire_client(srv.url, http_backend) as client:
            with pytest.raises(TransportError, match="certificate verify failed") as info:
                await client.send_sip("932111111111", account="a")
        assert not isinstance(info.value, OutcomeUnknownError)
        async with wire_client(other.url, http_backend, verify=bundle) as client:
            with pytest.raises(TransportError, match=r"(?i)mismatch|hostname") as info:
                await client.send_sip("932111111111", account="a")
        assert requests_to(srv, DIAL) == requests_to(other, DIAL) == 0
    finally:
        srv.close()
        other.close()


def test_one_ca_source_for_every_backend() -> None:
    import certifi

    from laaffic_async._io.tls import ca_source, ssl_context

    assert ca_source() == certifi.where()
    assert ssl_context(True) is ssl_context(True)  # one context, shared by every backend


# -- proxies: explicit or from the environment, on every backend ----------------------------


@every_backend
async def test_an_explicit_proxy_carries_http_and_https(
    server: RawServer, proxy: ForwardProxy, ca: Any, http_backend: Backend, tmp_path: Any
) -> None:
    server.script = {DIAL: answer(envelope("V1"))}
    async with wire_client(server.url, http_backend, proxy=proxy.url) as client:
        assert (await client.send_sip("932111111111", account="a")).voice_id == "V1"
    assert proxy.seen == [f"POST {server.url}/v3/{DIAL} HTTP/1.1"]  # absolute form
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    srv = tls_server(ca, "127.0.0.1")
    try:
        async with wire_client(srv.url, http_backend, proxy=proxy.url, verify=bundle) as client:
            assert (await client.send_sip("932111111111", account="a")).voice_id == "V1"
    finally:
        srv.close()
    assert proxy.seen[1:] == [f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1"]  # a tunnel


@every_backend
async def test_proxy_variables_are_honoured_like_httpx(
    server: RawServer, proxy: ForwardProxy, http_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script = {DIAL: answer(envelope("V1"))}
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with wire_client(server.url, http_backend) as client:  # loopback too, as httpx
        await client.send_sip("932111111111", account="a")
    assert len(proxy.seen) == 1
    async with wire_client(server.url, http_backend, trust_env=False) as client:
        await client.send_sip("932111111111", account="a")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with wire_client(server.url, http_backend) as client:
        await client.send_sip("932111111111", account="a")
    assert len(proxy.seen) == 1  # neither opted out nor excluded: direct
    assert requests_to(server, DIAL) == 3


def test_an_unusable_proxy_is_refused_by_name() -> None:
    with pytest.raises(RequestValidationError, match="proxy") as info:
        AsyncClient(KEY, SECRET, proxy="ftp://user:pw@proxy.example:21")
    assert "pw" not in str(info.value)
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    with pytest.raises(RequestValidationError, match="transport="):
        AsyncClient(KEY, SECRET, proxy="http://proxy.example:3128", transport=transport)
