"""A fast local stand-in for the Laaffic API, run in its own process for the benchmarks.

Routes (any path prefix, so ``{base_url}/voice/sendSip`` with ``base_url`` ending in ``/v3``):

* ``POST .../voice/sendSip`` -> ``{"status":"0","reason":"success","data":"<19-digit id>"}``,
  a fresh id per call.
* ``POST .../voice/recordSipQuery`` -> one page in the shape of the vendor page
  (``laaffic-v3-voice-recordSipQuery.txt``): ``total/size/current/pages/searchCount/records``,
  records newest first, deterministic fake data, honouring ``current`` and ``size`` from the
  JSON body (``size`` outside 1-100 answers status ``-22``, as the vendor does); ``params``
  (the time window, group, phone) is ignored: every query sees the same ``total_records``.
* ``GET /__stats`` -> ``{"requests": n, "cpu": seconds}``: the server's own request count and
  process CPU time, so a benchmark can show how busy the server was.

``run_server(idle_timeout=s)`` closes connections idle for ``s`` seconds, as production
servers do (``bench_keepalive.py``); ``advertise=True`` then also sends ``Keep-Alive:
timeout=<s>`` with every answer.

Why this server
---------------
The benchmarks measure *client* CPU per request, so the server must be cheap and live in another
process (the machine has 2 cores). uvicorn serving a minimal ASGI app (h11; httptools is not
installed) costs ~146 us of server CPU per request here, i.e. it tops out near 3,000-7,000
requests/s, below the plain aiohttp loop it would have to measure. This one is a raw
``asyncio.Protocol`` HTTP/1.1 keep-alive server: it finds the header end, reads
``Content-Length``, routes on the path suffix and writes one header block plus the JSON body
(pipelined requests are answered in order; request bodies must carry Content-Length). No
uvloop (not a dependency).

How we showed it is not the bottleneck
--------------------------------------
``python benchmarks/_server.py`` drives it with the bare asyncio client at concurrency 200 and
prints the server's own CPU time per request (from ``/__stats``): 15-16 us, i.e. a capacity
of ~60,000 requests/s on one core, while the bare client reached ~13,000-27,000 requests/s
with the server busy 20-45% of a core. ``bench_dial.py`` prints the server's busy share for
every variant: under 15% for every library client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import selectors
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache

__all__ = ["run_server", "server_stats"]

_TZ = timezone(timedelta(hours=8))
_NEWEST = datetime(2022, 2, 18, 23, 59, 0, tzinfo=_TZ)
_ID_BASE = 2_203_031_113_381_000_000  # 19 digits, like the vendor sample "2203031113381000002"
_GROUPS = ("group1", "group2", "sales", "support")
_REASONS = (("200", "success"), ("486", "busy"), ("480", "no answer"), ("487", "cancelled"))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _record(index: int) -> dict[str, object]:
    """Record number ``index`` counted from the newest (0) backwards, always the same."""
    return sample_record(index, _NEWEST - timedelta(seconds=37 * index))


def sample_record(index: int, submit: datetime) -> dict[str, object]:
    """A recordSipQuery row for call ``index`` submitted at ``submit`` (both servers use it)."""
    code, reason = _REASONS[index % len(_REASONS)]
    answered = code == "200"
    duration = 1 + (index * 7) % 300 if answered else 0
    ring = submit + timedelta(seconds=3)
    answer = ring + timedelta(seconds=4)
    hangup = (answer if answered else ring) + timedelta(seconds=duration or 5)
    return {
        "voiceId": str(_ID_BASE - index),
        "sipGroupName": _GROUPS[index % len(_GROUPS)],
        "phoneName": f"sipName{8000 + index % 1000}",
        "callee": f"9185{6000000 + (index * 7919) % 4000000}",
        "displayNum": "1008122211",
        "code": "Afghanistan(Kandahar)",
        "submitTime": _iso(submit),
        "callTime": _iso(submit + timedelta(seconds=1)),
        "ringingTime": _iso(ring),
        "answerTime": _iso(answer) if answered else "",
        "hangupTime": _iso(hangup),
        "callDuration": duration,
        "chargedDuration": math.ceil(duration / 20) * 20 if duration else 0,
        "terminationCode": code,
        "terminationReason": reason,
        "cost": f"{0.02 * math.ceil(duration / 20):.2f}",
        "billPeriod": "20+20",
        "rate": "0.02",
        "recordingFileId": f"{index:020d}0cc2484c59d4f8b9745d34226285b1e.mp3" if answered else "",
        "currency": "USD",
    }


@lru_cache(maxsize=4096)
def _page(total: int, current: int, size: int) -> bytes:
    if not (1 <= size <= 100 and current >= 1):
        return b'{"status":"-22","reason":"Parameter exception","data":null}'
    start = (current - 1) * size
    records = [_record(i) for i in range(start, min(start + size, total))]
    data = {
        "total": total,
        "size": size,
        "current": current,
        "pages": math.ceil(total / size),
        "searchCount": True,
        "records": records,
    }
    body = {"status": "0", "reason": "success", "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


class _Http11(asyncio.Protocol):
    """One keep-alive connection: parse as little HTTP as the benchmarks need."""

    def __init__(self, state: _State) -> None:
        self._state = state
        self._buf = b""
        self._transport: asyncio.Transport | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()

    def _arm(self) -> None:
        """(Re)start the idle timer: the connection closes after idle_timeout quiet seconds."""
        if self._state.idle_timeout is None or self._transport is None:
            return
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(
            self._state.idle_timeout, self._transport.close
        )

    def data_received(self, data: bytes) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        close = False
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4 : end + 4 + length]
            buf = buf[end + 4 + length :]
            line_end = head.find(b"\r\n")
            path = head[: line_end if line_end >= 0 else len(head)].split(b" ")[1]
            close = b"\r\nconnection: close" in head
            out.append(self._state.answer(path, body, close))
            if close:
                break
        self._buf = buf
        if out and self._transport is not None:
            self._transport.write(b"".join(out))
            if close:
                self._transport.close()
        if not self._buf:
            self._arm()


class _State:
    def __init__(
        self, total_records: int, idle_timeout: float | None = None, advertise: bool = False
    ) -> None:
        self.total = total_records
        self.requests = 0
        self.idle_timeout = idle_timeout
        self._extra = b""
        if advertise and idle_timeout is not None:
            self._extra = b"Keep-Alive: timeout=%d\r\n" % round(idle_timeout)
        self._ids = itertools.count(_ID_BASE + 10**12 * (os.getpid() % 1000) + 1)

    def answer(self, path: bytes, body: bytes, close: bool) -> bytes:
        self.requests += 1
        status = b"200 OK"
        if path.endswith(b"/voice/sendsip"):
            payload = b'{"status":"0","reason":"success","data":"%d"}' % next(self._ids)
        elif path.endswith(b"/voice/recordsipquery"):
            try:
                query = json.loads(body)
                payload = _page(self.total, int(query["current"]), int(query["size"]))
            except (ValueError, KeyError, TypeError):
                payload = b'{"status":"-22","reason":"Parameter exception","data":null}'
        elif path.startswith(b"/__stats"):
            stats = {"requests": self.requests, "cpu": time.process_time()}
            payload = json.dumps(stats).encode()
        else:
            status, payload = b"404 Not Found", b'{"status":"404","reason":"not found"}'
        return b"HTTP/1.1 %s\r\nContent-Type: application/json;charset=UTF-8\r\n%s" % (
            status,
            self._extra,
        ) + (
            b"Content-Length: %d\r\nConnection: %s\r\n\r\n%s"
            % (len(payload), b"close" if close else b"keep-alive", payload)
        )


async def _serve(
    total_records: int, idle_timeout: float | None = None, advertise: bool = False
) -> None:
    state = _State(total_records, idle_timeout, advertise)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Http11(state), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    # The parent closes our stdin to stop us; that also covers a parent that died.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with server:
        await reader.read()


@contextlib.contextmanager
def spawn(args: list[str], what: str = "benchmark server") -> Iterator[int]:
    """Run ``python args...`` (a server printing ``PORT n``); yield n; stop it on exit.

    The child stops when its stdin closes, so a crashed benchmark leaves no server behind.
    """
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=30):
                raise RuntimeError(f"{what} did not start within 30 s")
        line = proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"{what} failed to start: {line!r}")
        yield int(line.split()[1])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def run_server(
    total_records: int = 200_000, *, idle_timeout: float | None = None, advertise: bool = False
) -> Iterator[str]:
    """Start the server in a separate process; yield its base URL (``http://127.0.0.1:N/v3``)."""
    args = [os.path.abspath(__file__), "--serve", str(total_records)]
    if idle_timeout is not None:
        args += [str(idle_timeout), "advertise" if advertise else "quiet"]
    with spawn(args) as port:
        yield f"http://127.0.0.1:{port}/v3"


def server_stats(base_url: str) -> tuple[int, float]:
    """Return (requests served, server CPU seconds) so far."""
    root = base_url.split("/v3")[0] if "/v3" in base_url else base_url.rstrip("/")
    with urllib.request.urlopen(f"{root}/__stats", timeout=10) as resp:
        stats = json.loads(resp.read())
    return int(stats["requests"]), float(stats["cpu"])


def _capacity() -> None:
    """Drive the server with the bare asyncio client and print its CPU cost per request."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_dial import bare_asyncio_loop

    n, concurrency = 40_000, 200
    with run_server() as base_url:
        asyncio.run(bare_asyncio_loop(base_url, 2_000, concurrency))
        count0, cpu0 = server_stats(base_url)
        start = time.perf_counter()
        asyncio.run(bare_asyncio_loop(base_url, n, concurrency))
        wall = time.perf_counter() - start
        count1, cpu1 = server_stats(base_url)
    served = count1 - count0 - 1
    per_request = (cpu1 - cpu0) / served
    print(
        f"server: {served} requests in {wall:.2f} s ({served / wall:,.0f} req/s, client-limited); "
        f"server CPU {per_request * 1e6:.1f} us/request -> capacity ~{1 / per_request:,.0f} "
        f"req/s per core; server busy {100 * (cpu1 - cpu0) / wall:.0f}% of one core"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(_serve(int(sys.argv[2])))
    elif len(sys.argv) == 5 and sys.argv[1] == "--serve":
        asyncio.run(_serve(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "advertise"))
    else:
        _capacity()
