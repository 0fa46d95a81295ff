"""Many concurrent small POSTs (``voice/sendSip``): which HTTP path can dial fast enough.

What is measured
----------------
In one process and one run, for concurrency 10, 200 and 500: ``n`` sendSip POSTs (JSON body,
the four signed headers Content-Type/Api-Key/Timestamp/Sign, the JSON answer decoded and
checked) with at most ``concurrency`` in flight. For each variant: requests/s (wall clock of
the sending), client CPU ms per request (``time.process_time`` of this process around the
whole run, client set-up included; steadier than requests/s on a shared machine), medians of
the repetitions (interleaved across variants), and ratios to the plain httpx loop (by
requests/s and by CPU) and to the plain aiohttp loop. The variants:

(a) ``httpx default loop``: what a user writes: ``httpx.AsyncClient()`` with default settings,
    an ``asyncio.Semaphore`` and ``asyncio.gather``.
(a') ``httpx tuned limits``: the same with ``Limits(max_connections=c,
    max_keepalive_connections=c)`` and ``trust_env=False``: the knobs people reach for.
(b) ``aiohttp loop``: ``aiohttp.ClientSession()`` (default connector), Semaphore, gather.
(c) ``bare asyncio``: ``asyncio.Protocol`` connections and hand-written HTTP/1.1: the floor.
(d) ``httpx + PooledTransport``: ``httpx.AsyncClient(transport=PooledTransport(...))``.
(e) ``httpx + AiohttpTransport``: ``httpx.AsyncClient(transport=AiohttpTransport(...))``.
(wa) ``httpx workers``, (wb) ``aiohttp workers``: the same clients driven the way the most
    efficient plain code is written: ``concurrency`` tasks, each looping over its share (no
    Semaphore and no 20,000 waiting coroutines; aiohttp's pool sized to the concurrency).
    These are the baselines ``send_many`` is held to (columns ``x httpx workers``, ``x aiohttp
    workers`` and ``CPU / aiohttp workers'``: below 1.25 is within 0.8x of plain aiohttp).
    (c) is the bare asyncio worker loop.
References: ``httpx client alone`` (the same httpx loop over a transport that answers without
I/O: the floor under any httpx transport), ``httpx + httpx-aiohttp`` when that package is
installed, and the SDK's own ``send_many`` (:data:`SDK_SEND_MANY`, its section below), on
asyncio over both backends and on trio over the default one (:data:`ON_TRIO`).
Failed requests are counted, not hidden; requests/s counts successful requests only. The slow
httpx-pool loops send fewer requests (``n`` >= 10x the concurrency) to keep a run near 20 min.

The server
----------
``_server.py``: a raw ``asyncio.Protocol`` HTTP/1.1 keep-alive server in a separate process
(15-16 us of server CPU per request, ~60,000 requests/s on one core; uvicorn needs ~146 us).
The ``server busy`` column is its CPU share of one core during each run: at most ~15% for the
library clients, so the numbers are the clients'.

The profile's lesson
--------------------
The default httpx loop spends >80% of its CPU in httpcore's pool bookkeeping, not in HTTP or
sockets: ``_assign_requests_to_connections`` matches every queued request against every
connection and polls ~50 idle sockets per request; at 200 in flight it opens a new connection
per request (keep-alive churn), at 10 each request retries 2.7 times, at 500 most requests end
in ``PoolTimeout``. Raising the limits does not help. Replacing only the pool
(``PooledTransport``) gives ~6x at 200; what is left is httpx's client layer (~0.13 ms per
request with no I/O at all, about a whole aiohttp request) and h11, which is why httpx over
aiohttp stays near 0.45x of plain aiohttp. So the ``fast`` extra does not put aiohttp *under*
httpx for the API calls: ``AsyncClient(http_backend="aiohttp")`` sends them straight through
aiohttp (``AiohttpTransport.exchange``), raising the same httpx exceptions, and keeps httpx
only for streamed downloads; that took send_many from 0.42x to ~0.8x of plain aiohttp.
Measure the pool before blaming the protocol, and the client layer before the transport.
Against the worker loops (the stricter baseline) the default install then passed the fast
extra once it wrote and read its own API calls (:func:`sdk_send_many` has the steps): about
0.84x of plain aiohttp at 200 in flight, against 0.66x for the fast extra. Without aiohttp's
per-request timers and with leaner per-call code both moved again: the default install to
about 1.1x and the fast extra to about 0.83x (RESULTS.md has the full run).

Run: ``python benchmarks/bench_dial.py [--quick] [--reps N] [--concurrency 10,200]
[--only NAME] [--size N]``; :func:`run` returns the rows and :func:`format_table` renders them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _server import run_server, server_stats

from laaffic_async._io.aiohttp import AiohttpTransport
from laaffic_async._io.pool import PooledTransport

API_KEY = "bDqJFiq9"
API_SECRET = "benchmark-secret"
PAYLOAD = {
    "callee": "932111111111",
    "displayNum": "1008122211",
    "account": "test_001",
    "appId": "4luaKsL2",
    "calledInfo": "calledInfo",
}
CONCURRENCIES = (10, 200, 500)

# A variant sends n sendSip POSTs with at most `concurrency` in flight and returns the wall
# seconds of the sending. Failed requests are recorded with _failed(), not raised.
Variant = Callable[[str, int, int], Coroutine[Any, Any, float]]

_failures: collections.Counter[str] = collections.Counter()


def _failed(exc: BaseException) -> None:
    _failures[type(exc).__name__] += 1


def signed_headers() -> dict[str, str]:
    """The four headers every Laaffic request carries, signed afresh as the vendor SDK does."""
    timestamp = str(int(time.time()))
    sign = hashlib.md5((API_KEY + API_SECRET + timestamp).encode()).hexdigest()
    return {
        "Content-Type": "application/json;charset=UTF-8",
        "Api-Key": API_KEY,
        "Timestamp": timestamp,
        "Sign": sign,
    }


def _check(body: object) -> None:
    if not (isinstance(body, dict) and body.get("status") == "0"):
        raise RuntimeError(f"unexpected answer: {body!r}")


async def _httpx_loop(client: httpx.AsyncClient, base_url: str, n: int, concurrency: int) -> float:
    url = f"{base_url}/voice/sendSip"
    async with client:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                try:
                    response = await client.post(url, json=PAYLOAD, headers=signed_headers())
                    response.raise_for_status()
                    _check(response.json())
                except httpx.HTTPError as exc:
                    _failed(exc)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - start


async def plain_httpx_loop(base_url: str, n: int, concurrency: int) -> float:
    """(a) What a user writes: default AsyncClient, a Semaphore and gather."""
    return await _httpx_loop(httpx.AsyncClient(), base_url, n, concurrency)


async def tuned_httpx_loop(base_url: str, n: int, concurrency: int) -> float:
    """(a') The usual knobs: pool and keep-alive limits equal to the concurrency, no env."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(limits=limits, trust_env=False)
    return await _httpx_loop(client, base_url, n, concurrency)


async def plain_aiohttp_loop(base_url: str, n: int, concurrency: int) -> float:
    """(b) The same loop with aiohttp's ClientSession (default connector)."""
    import aiohttp

    url = f"{base_url}/voice/sendSip"
    async with aiohttp.ClientSession() as session:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            try:
                async with sem, session.post(url, json=PAYLOAD, headers=signed_headers()) as r:
                    r.raise_for_status()
                    _check(await r.json())
            except aiohttp.ClientError as exc:
                _failed(exc)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - start


class _RawConnection(asyncio.Protocol):
    """Bare HTTP/1.1 keep-alive client connection: one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = self._buf[:end].lower()
        at = head.find(b"content-length:")
        if at < 0:
            raise RuntimeError("the bare client reads Content-Length bodies only")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else end])
        if len(self._buf) >= end + 4 + length:
            body = self._buf[end + 4 : end + 4 + length]
            self._buf = self._buf[end + 4 + length :]
            self._waiter.set_result(body)
            self._waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed the connection"))

    async def post(self, message: bytes) -> bytes:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(message)
        return await self._waiter


async def bare_asyncio_loop(base_url: str, n: int, concurrency: int) -> float:
    """(c) The raw limit: asyncio Protocol connections, hand-written HTTP/1.1, no library."""
    loop = asyncio.get_running_loop()
    authority, _, prefix = base_url.split("://", 1)[1].partition("/")
    host, port = authority.rsplit(":", 1)
    start_line = f"POST /{prefix}/voice/sendSip HTTP/1.1\r\nHost: {authority}\r\n".encode()
    connections = [
        (await loop.create_connection(_RawConnection, host, int(port)))[1]
        for _ in range(min(concurrency, n))
    ]
    remaining = n

    async def worker(connection: _RawConnection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            body = json.dumps(PAYLOAD).encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers().items())
            message = b"%s%sContent-Length: %d\r\n\r\n%s" % (
                start_line,
                head.encode(),
                len(body),
                body,
            )
            _check(json.loads(await connection.post(message)))

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - start
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    return elapsed


# --- Worker loops: C tasks each looping over their share ---------------------------------------
# The plain code to beat: no Semaphore, no n coroutines waiting on it (a gather of 20,000
# coroutines spends much of its CPU on its own task churn), just `concurrency` tasks that each
# send, read and check, then send again, as the bare asyncio floor (c) does.


async def _workers(n: int, concurrency: int, one: Callable[[], Coroutine[Any, Any, None]]) -> float:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return time.perf_counter() - start


async def httpx_workers(base_url: str, n: int, concurrency: int) -> float:
    """(wa) A default ``httpx.AsyncClient`` driven by ``concurrency`` worker tasks."""
    url = f"{base_url}/voice/sendSip"
    async with httpx.AsyncClient() as client:

        async def one() -> None:
            try:
                response = await client.post(url, json=PAYLOAD, headers=signed_headers())
                response.raise_for_status()
                _check(response.json())
            except httpx.HTTPError as exc:
                _failed(exc)

        return await _workers(n, concurrency, one)


async def aiohttp_workers(base_url: str, n: int, concurrency: int) -> float:
    """(wb) ``aiohttp.ClientSession`` (pool sized to the concurrency) driven by worker tasks."""
    import aiohttp

    url = f"{base_url}/voice/sendSip"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            try:
                async with session.post(url, json=PAYLOAD, headers=signed_headers()) as r:
                    r.raise_for_status()
                    _check(await r.json())
            except aiohttp.ClientError as exc:
                _failed(exc)

        return await _workers(n, concurrency, one)


async def pooled_transport_loop(base_url: str, n: int, concurrency: int) -> float:
    """(d) httpx.AsyncClient over PooledTransport, pool sized to the concurrency."""
    client = httpx.AsyncClient(transport=PooledTransport(max_connections=concurrency))
    return await _httpx_loop(client, base_url, n, concurrency)


async def aiohttp_transport_loop(base_url: str, n: int, concurrency: int) -> float:
    """(e) httpx.AsyncClient over AiohttpTransport, pool sized to the concurrency."""
    client = httpx.AsyncClient(transport=AiohttpTransport(max_connections=concurrency))
    return await _httpx_loop(client, base_url, n, concurrency)


class _OneChunk(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body


class _CannedTransport(httpx.AsyncBaseTransport):
    """Answers every request at once, without I/O: what httpx's client layer alone costs.

    The answer is a stream, as from any real transport (``content=`` would be read up front
    and skip httpx's response-reading path).
    """

    def __init__(self) -> None:
        self._ids = iter(range(2_203_031_113_381_000_000, 10**19))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        body = b'{"status":"0","reason":"success","data":"%d"}' % next(self._ids)
        headers = [
            (b"Content-Type", b"application/json;charset=UTF-8"),
            (b"Content-Length", b"%d" % len(body)),
        ]
        return httpx.Response(200, headers=headers, stream=_OneChunk(body))


async def httpx_client_alone(base_url: str, n: int, concurrency: int) -> float:
    """Reference: httpx.AsyncClient over a transport that answers without I/O (the floor)."""
    return await _httpx_loop(
        httpx.AsyncClient(transport=_CannedTransport()), base_url, n, concurrency
    )


async def httpx_aiohttp_loop(base_url: str, n: int, concurrency: int) -> float:
    """Reference: the httpx-aiohttp package's transport (not a dependency)."""
    from httpx_aiohttp import AiohttpTransport as Reference

    limits = httpx.Limits(max_connections=concurrency)
    client = httpx.AsyncClient(transport=Reference(limits=limits))
    return await _httpx_loop(client, base_url, n, concurrency)


# --- The SDK's own send_many -------------------------------------------------------------------
# The whole SDK path: Call validation, signing per attempt, the batch machinery (lanes, workers,
# memory streams, outcomes) and envelope decoding, over the default install's transport and over
# the fast extra's (http_backend="aiohttp"). One account per 8 calls:
# send_many allows one call in flight per account, as the API does.


async def sdk_send_many(
    base_url: str,
    n: int,
    concurrency: int,
    backend: Literal["pooled", "aiohttp"] = "pooled",
    telemetry: bool = True,
) -> float:
    """The SDK: ``AsyncClient.send_many`` with the pool sized to the concurrency.

    ``backend="pooled"`` is the default install (``PooledTransport``);
    ``backend="aiohttp"`` is the ``fast`` extra (``AsyncClient(http_backend="aiohttp")``).
    ``telemetry=False`` switches the OpenTelemetry hooks off: with ``opentelemetry-api``
    installed and no provider configured (the rows without "telemetry off"), each request
    still starts a non-recording span and records into no-op instruments (~3 us of CPU).

    Profile (cProfile, concurrency 200, 10,000 calls over AiohttpTransport under httpx): the
    batch machinery (producer, lanes, workers, memory streams, outcomes) is ~2% of the CPU and
    the SDK's own request path (Call validation, signing, JSON, envelope) ~5-8%; the rest is
    the HTTP stack: httpx's client layer ~26% (URL parsing, Headers and Request/Response
    models), the transport ~21%, asyncio ~10%. Over httpx's stock pool the profile is instead
    dominated by httpcore's ``_assign_requests_to_connections`` (every queued request against
    every connection, a socket poll per idle connection on each request): the transport, not
    the batching, decides the speed. Measured on this 2-core machine, concurrency 200, medians
    of 3 (plain httpx loop 289 req/s, plain aiohttp loop 5,215 req/s): send_many over the
    stock pool 658 req/s (2.3x httpx), over PooledTransport 1,600 (5.5x), over
    AiohttpTransport under httpx 2,287 (7.9x httpx, 0.44x aiohttp). Removing httpx's client
    layer from the fast extra's path (the 26% above) gave 4,802 req/s, 0.81x aiohttp.

    Against the worker-loop baselines (profiled with cProfile on the process-CPU clock,
    concurrency 200, ``--size 4000``), what was left, and what each change bought:

    * Trips round the event loop, not Python work, were the largest cost the SDK added.
      anyio's memory-stream ``receive()``/``send()`` and ``Semaphore.acquire()`` each yield to
      the loop first (a checkpoint) even when an item, room or a slot is there, and the
      caller began with a full checkpoint: five extra loop passes per call (each a Handle,
      a context switch and with 200 tasks a selector poll), plus a ``sniffio`` lookup each.
      Taking what is already there without yielding (``_dialing/batch.py`` ``_receive``)
      and a cancellation check instead of a checkpoint in the caller cut the profile of
      the fast extra's send_many from 14.6 s to 6.9 s of CPU for the same calls; in the
      benchmark, CPU per call against the aiohttp workers went from 1.71x to 1.33x (fast
      extra; 0.58x to 0.75x of plain aiohttp by CPU). Cancellation is unchanged: once the
      batch's scope is cancelled the checkpoint is taken, and every request still awaits
      the network. The window slot now frees when the consumer takes an outcome, so
      ``lookahead`` holds without relying on when tasks happen to run.
    * Two ``Call`` constructions per call: filling in the client's appId went through
      ``attrs.evolve``, which runs every validator again (about 4% of the CPU then); it now
      copies the validated fields. Signing (md5, ``str(int)``, a dict) is cached for the
      second it is valid, and unset ``DialLimits`` are not entered: about 2% together.
    * What remains of the fast extra is aiohttp itself (``ClientSession._request``, about
      half the CPU, as in the plain loop) and the asyncio loop; the SDK's own work (build,
      validate, sign, decode, outcome) is about 10%.
    * The default install's remaining gap is httpcore's HTTP/1.1 connection and h11 (header
      validation, event objects) under ``PooledTransport``: about 70% of its CPU. The loop
      passes above were a smaller share there, so it moved less (about 0.35x to 0.37x of
      plain aiohttp by CPU, 9-10x the httpx worker loop's calls/s); trio runs the same path
      for no more CPU per call (2.1x plain aiohttp's at 200, asyncio 2.6x, same run).
    * With ``opentelemetry-api`` installed and no provider, the per-attempt hooks are about
      5% of the fast extra's profiled CPU (a non-recording span per attempt).

    Then the default install's transport itself (same settings; CPU per call against the
    aiohttp worker loop's, medians of 5 on a quiet machine):

    * httpcore's HTTP/1.1 connection and h11 went: an API call is now one ``bytes`` written
      (``_core/http1.py`` ``encode_request``) and an answer read by a small pure reader
      (``AnswerReader``: status line, headers, length, chunks or close; no event objects,
      no cancel scope per read, one deadline for the attempt). CPU per call 0.354 ->
      0.169 ms (2.9x -> 1.4x plain aiohttp's); the default install passed the fast extra.
    * Profiling the pieces one layer at a time (the transport's ``exchange`` alone, then the
      caller, then ``send_many``) showed the transport below plain aiohttp's whole loop and
      the SDK's own work costing 2-3x more per call than in a loop without I/O (caches
      shared with the network code): a JSON encoder and decoder built once (``json.dumps``
      with options builds an encoder per call), validators that do nothing extra on
      success, the default appId checked once and the attempt's time kept as a float
      bought about 10%.
    * On asyncio, anyio's socket stream yields to the loop once more after each write and
      pauses and resumes reading around each wait (two ``epoll_ctl`` calls per answer).
      Writing to the transport directly and leaving reading on (an idle connection's EOF
      or stray bytes are then found in the protocol's queue, not by polling the socket)
      took asyncio from 1.26x to about 1.1x plain aiohttp's CPU per call; trio, whose
      sockets have neither cost, was already there.
    * The fast extra moved only with the shared SDK work (1.45x -> ~1.4x): what was left
      was aiohttp's own ``ClientSession._request`` and its three timers per request (total,
      connect, and a read timer re-armed per packet).

    Then the fast extra (ablations: one piece removed at a time, CPU per call of send_many
    at 200 in flight, medians of 5-7, about +-3 us between runs):

    * aiohttp's timers were ~14 us of ~147 us a call. They give way, for API calls only,
      to one sweep per tick over every attempt in flight (``_io/deadlines.py``: a dict
      entry per attempt; a deadline ends it as ``asyncio.timeout`` does, waiting plus
      connecting as ``ConnectTimeout``, the answer as ``ReadTimeout``). aiohttp keeps only
      its socket-connect timer, armed for new connections alone. 147 -> 136 us.
    * ``async with session.request(...)``: four coroutines and a second ``release()`` per
      call; awaiting the request and releasing in a ``finally`` was ~7 us (136 -> 129).
    * Generator context managers in the per-call path (``@contextlib.contextmanager`` to
      explain failures) ~4 us; ``JSONEncoder.encode`` making its C encoder again on every
      call ~1 us; a Python loop over the answer's raw headers for ``Keep-Alive`` where one
      C lookup does; coroutines that only await another (``Caller.request``,
      ``Dialer.send``, the connector's ``_get``), each a frame on every resumption.
      Together 129 -> ~126 us, and the default install moved with them.
    * Counted, not changed: the fast extra runs the same ~5.6 loop callbacks per call as
      the plain aiohttp worker loop (the SDK adds no trips round the loop), and anyio's
      cancellation check before each attempt costs ~3 us with 200 tasks' state out of the
      caches (1.4 us in a tight loop). It is what stops a stopped batch from sending one
      more call, so it stays. Naming the event loop for sniffio in the batch's own tasks
      (a context variable they inherit) spares anyio's per-call sniff.
    """
    from laaffic_async import AsyncClient, Call

    calls = (
        Call(
            callee=f"93{i:010d}",
            account=f"acct{i % max(1, n // 8)}",
            display_num=PAYLOAD["displayNum"],
            called_info=PAYLOAD["calledInfo"],
        )
        for i in range(n)
    )
    client = AsyncClient(
        API_KEY,
        API_SECRET,
        app_id=PAYLOAD["appId"],
        base_url=base_url,
        max_connections=concurrency,
        http_backend=backend,
        telemetry=telemetry,
    )
    async with client:
        start = time.perf_counter()
        async for outcome in client.send_many(calls, concurrency=concurrency):
            if not outcome.ok:
                assert outcome.error is not None
                _failed(outcome.error)
        return time.perf_counter() - start


async def sdk_send_many_fast(base_url: str, n: int, concurrency: int) -> float:
    """``send_many`` with the ``fast`` extra: ``AsyncClient(http_backend="aiohttp")``."""
    return await sdk_send_many(base_url, n, concurrency, backend="aiohttp")


async def sdk_send_many_trio(base_url: str, n: int, concurrency: int) -> float:
    """``send_many``, default install, run on trio (the runner starts it with ``anyio.run``)."""
    return await sdk_send_many(base_url, n, concurrency)


async def sdk_send_many_untraced(base_url: str, n: int, concurrency: int) -> float:
    """``send_many`` with ``telemetry=False``: the reference for the instrumentation's cost."""
    return await sdk_send_many(base_url, n, concurrency, telemetry=False)


async def sdk_send_many_fast_untraced(base_url: str, n: int, concurrency: int) -> float:
    """The fast extra with ``telemetry=False``."""
    return await sdk_send_many(base_url, n, concurrency, backend="aiohttp", telemetry=False)


SDK_SEND_MANY: Variant | None = sdk_send_many


def variants() -> dict[str, Variant]:
    """The variants in table order; optional ones only when available."""
    table: dict[str, Variant] = {
        "(a) httpx default loop": plain_httpx_loop,
        "(a') httpx tuned limits": tuned_httpx_loop,
        "(b) aiohttp loop": plain_aiohttp_loop,
        "(c) bare asyncio": bare_asyncio_loop,
        "(wa) httpx workers": httpx_workers,
        "(wb) aiohttp workers": aiohttp_workers,
        "(d) httpx + PooledTransport": pooled_transport_loop,
        "(e) httpx + AiohttpTransport": aiohttp_transport_loop,
    }
    table["httpx client alone, no I/O (ref)"] = httpx_client_alone
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        pass
    else:
        table["httpx + httpx-aiohttp (ref)"] = httpx_aiohttp_loop
    if SDK_SEND_MANY is not None:
        table["SDK send_many (default install)"] = SDK_SEND_MANY
        table["SDK send_many (fast extra, aiohttp)"] = sdk_send_many_fast
        table[ON_TRIO] = sdk_send_many_trio
        table["SDK send_many (default, telemetry off)"] = sdk_send_many_untraced
        table["SDK send_many (fast extra, telemetry off)"] = sdk_send_many_fast_untraced
    return table


BASELINE = "(a) httpx default loop"
AIOHTTP = "(b) aiohttp loop"
HTTPX_WORKERS = "(wa) httpx workers"
AIOHTTP_WORKERS = "(wb) aiohttp workers"
#: The one variant run on trio (``anyio.run(..., backend="trio")``); all others on asyncio.
ON_TRIO = "SDK send_many (default install, trio)"
#: Measured whatever ``only`` selects: every ratio is against these.
BASELINES = (BASELINE, AIOHTTP, HTTPX_WORKERS, AIOHTTP_WORKERS)
# The default httpx pool is O(queued x connections) per request: ~260 req/s at 200 in flight.
# Fewer requests keep a full run near twenty minutes; n stays >= 10x the concurrency.
SLOW = ("(a) httpx default loop", "(a') httpx tuned limits", HTTPX_WORKERS)


@dataclass(frozen=True)
class Row:
    """One variant at one concurrency: medians over the repetitions."""

    variant: str
    concurrency: int
    n: int
    requests_per_s: float
    cpu_ms_per_request: float
    vs_httpx: float | None  # requests/s ratio
    vs_httpx_cpu: float | None  # CPU per request of the httpx loop / this one's
    vs_aiohttp: float | None
    vs_httpx_workers: float | None  # requests/s ratio to the httpx worker loop
    vs_aiohttp_workers: float | None  # requests/s ratio to the aiohttp worker loop
    cpu_vs_aiohttp_workers: float | None  # CPU per request of this / the aiohttp workers'
    failures: str
    server_busy: float  # share of one core the server used during the run


def _requests(name: str, concurrency: int, quick: bool, size: int | None = None) -> int:
    if size is not None:
        return max(size // 5, 4 * concurrency) if name in SLOW else size
    if quick:
        return max(1_000, 4 * concurrency) if name in SLOW else 3_000
    return max(5_000, 10 * concurrency) if name in SLOW else 20_000


def run(
    quick: bool = False,
    reps: int | None = None,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    only: tuple[str, ...] = (),
    size: int | None = None,
) -> list[Row]:
    """Measure the variants; return the rows (for ``benchmarks/run.py``) in table order.

    ``only``: substrings selecting variants (the :data:`BASELINES` are always measured);
    ``size``: requests per run instead of the defaults (the slow loops send a fifth of it).
    """
    reps = reps or (1 if quick else 3)
    table = {
        name: variant
        for name, variant in variants().items()
        if not only or name in BASELINES or any(part in name for part in only)
    }
    samples: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    failures: dict[tuple[str, int], collections.Counter[str]] = {}
    with run_server() as base_url:
        asyncio.run(bare_asyncio_loop(base_url, 500, 50))  # warm the server up
        for rep in range(reps):
            for concurrency in concurrencies:
                for name, variant in table.items():
                    n = _requests(name, concurrency, quick, size)
                    _failures.clear()
                    _, server_cpu0 = server_stats(base_url)
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    elapsed = _run_variant(name, variant, base_url, n, concurrency)
                    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                    _, server_cpu1 = server_stats(base_url)
                    ok = n - sum(_failures.values())
                    key = (name, concurrency)
                    busy = (server_cpu1 - server_cpu0) / wall
                    samples.setdefault(key, []).append((ok / elapsed, 1000 * cpu / n, busy))
                    failures.setdefault(key, collections.Counter()).update(_failures)
                    print(
                        f"  rep {rep + 1}/{reps} c={concurrency:<3} {name:<30} "
                        f"{ok / elapsed:>8,.0f} req/s {1000 * cpu / n:6.3f} ms/req"
                        + (f"  failed: {dict(_failures)}" if _failures else ""),
                        file=sys.stderr,
                        flush=True,
                    )
    rows = []
    for concurrency in concurrencies:

        def median(name: str, field: int, concurrency: int = concurrency) -> float:
            return statistics.median(s[field] for s in samples[(name, concurrency)])

        base, base_cpu = median(BASELINE, 0), median(BASELINE, 1)
        aio = median(AIOHTTP, 0)
        httpx_w = median(HTTPX_WORKERS, 0)
        aio_w, aio_w_cpu = median(AIOHTTP_WORKERS, 0), median(AIOHTTP_WORKERS, 1)
        for name in table:
            rate, cpu_ms = median(name, 0), median(name, 1)
            fails = failures[(name, concurrency)]
            rows.append(
                Row(
                    variant=name,
                    concurrency=concurrency,
                    n=_requests(name, concurrency, quick, size),
                    requests_per_s=rate,
                    cpu_ms_per_request=cpu_ms,
                    vs_httpx=rate / base if base else None,
                    vs_httpx_cpu=base_cpu / cpu_ms if cpu_ms else None,
                    vs_aiohttp=rate / aio if aio else None,
                    vs_httpx_workers=rate / httpx_w if httpx_w else None,
                    vs_aiohttp_workers=rate / aio_w if aio_w else None,
                    cpu_vs_aiohttp_workers=cpu_ms / aio_w_cpu if aio_w_cpu else None,
                    failures=", ".join(f"{k} x{v}" for k, v in fails.items()) or "-",
                    server_busy=median(name, 2),
                )
            )
    return rows


def _run_variant(name: str, variant: Variant, base_url: str, n: int, concurrency: int) -> float:
    """Run one variant in a fresh event loop: trio for :data:`ON_TRIO`, else asyncio."""
    if name == ON_TRIO:
        import anyio

        return anyio.run(variant, base_url, n, concurrency, backend="trio")
    return asyncio.run(variant(base_url, n, concurrency))


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows."""
    lines = [
        "| variant | conc. | n | req/s | CPU ms/req | x httpx req/s | x httpx CPU "
        "| x aiohttp req/s | x httpx workers | x aiohttp workers | CPU / aiohttp workers' "
        "| failed (all reps) | server busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]

    def ratio(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    for row in rows:
        lines.append(
            f"| {row.variant} | {row.concurrency} | {row.n:,} | {row.requests_per_s:,.0f} "
            f"| {row.cpu_ms_per_request:.3f} | {ratio(row.vs_httpx, 1)} "
            f"| {ratio(row.vs_httpx_cpu, 1)} | {ratio(row.vs_aiohttp, 2)} "
            f"| {ratio(row.vs_httpx_workers, 1)} | {ratio(row.vs_aiohttp_workers, 2)} "
            f"| {ratio(row.cpu_vs_aiohttp_workers, 2)} | {row.failures} "
            f"| {100 * row.server_busy:.0f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one repetition")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument(
        "--concurrency", default=",".join(map(str, CONCURRENCIES)), help="e.g. 10,200,500"
    )
    parser.add_argument("--only", action="append", default=[], help="variant name substring")
    parser.add_argument("--size", type=int, default=None, help="requests per run (reduced runs)")
    args = parser.parse_args()
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    rows = run(
        quick=args.quick,
        reps=args.reps,
        concurrencies=concurrencies,
        only=tuple(args.only),
        size=args.size,
    )
    print(f"sendSip POSTs, medians of {args.reps or (1 if args.quick else 3)} repetitions")
    print(format_table(rows))


if __name__ == "__main__":
    main()
