"""The fast benchmark server (``_server.py``), with recordSipQuery honouring its time window.

``_server.py`` answers every recordSipQuery with the same ``total_records`` rows dated in 2022,
whatever ``strTime``/``endTime`` say. That suits a raw paging loop, but not the SDK's
``records()``: it refuses windows older than the API's two-month horizon, slices any window
into 31-day queries and keeps only the rows each slice owns, so against that server it would
read the whole table once per slice. This variant keeps ``_server.py``'s HTTP machinery (same
``asyncio.Protocol``, same per-request cost) and changes only the data:

* ``total_records`` rows spaced evenly (whole seconds) over the last ~58 days, the newest one
  a minute before the server started, so they all sit inside the horizon;
* ``latency`` holds every answer back that long (a remote API's round trip plus its query
  time), without costing the server CPU;
* a query returns the rows with ``strTime <= submitTime <= endTime`` (inclusive, like the
  sandbox), newest first, paged by ``current``/``size``; more than 31 days or an end before
  the start answers ``-25``.

Pages are built on demand and cached (LRU, 4096 pages), so repeated rounds cost the server
little. ``run_records_server(total_records)`` yields ``(base_url, newest, oldest)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _server

__all__ = ["run_records_server"]

_TZ = timezone(timedelta(hours=8))
_SPAN = 58 * 86400
_MAX_WINDOW = 31 * 86400
_OUT_OF_RANGE = b'{"status":"-25","reason":"Out of time range","data":null}'
_BAD_PARAMETER = b'{"status":"-22","reason":"Parameter exception","data":null}'


class _Table:
    def __init__(self, total: int, newest: int) -> None:
        self.total = total
        self.newest = newest
        self.spacing = max(1, _SPAN // max(total, 1))

    def record(self, index: int) -> dict[str, object]:
        submit = datetime.fromtimestamp(self.newest - self.spacing * index, _TZ)
        return _server.sample_record(index, submit)

    def window(self, start: float, end: float) -> tuple[int, int]:
        """(first index, count) of the rows submitted in [start, end]."""
        low = max(0, math.ceil((self.newest - end) / self.spacing))
        high = min(self.total - 1, math.floor((self.newest - start) / self.spacing))
        return low, max(0, high - low + 1)

    def page(self, low: int, count: int, current: int, size: int) -> bytes:
        first = low + (current - 1) * size
        stop = min(low + count, first + size)
        data = {
            "total": count,
            "size": size,
            "current": current,
            "pages": math.ceil(count / size),
            "searchCount": True,
            "records": [self.record(i) for i in range(first, stop)],
        }
        return json.dumps(
            {"status": "0", "reason": "success", "data": data}, separators=(",", ":")
        ).encode()


class _RecordsState(_server._State):
    def __init__(self, total_records: int, newest: int) -> None:
        super().__init__(total_records)
        self.table = _Table(total_records, newest)
        self.cached_page = lru_cache(maxsize=4096)(self.table.page)

    def answer(self, path: bytes, body: bytes, close: bool) -> bytes:
        if not path.endswith(b"/voice/recordsipquery"):
            return super().answer(path, body, close)
        self.requests += 1
        try:
            query = json.loads(body)
            current, size = int(query["current"]), int(query["size"])
            start = datetime.fromisoformat(query["params"]["strTime"]).timestamp()
            end = datetime.fromisoformat(query["params"]["endTime"]).timestamp()
        except (ValueError, KeyError, TypeError):
            payload = _BAD_PARAMETER
        else:
            if not (1 <= size <= 100 and current >= 1):
                payload = _BAD_PARAMETER
            elif end < start or end - start > _MAX_WINDOW:
                payload = _OUT_OF_RANGE
            else:
                payload = self.cached_page(*self.table.window(start, end), current, size)
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n" + (
            b"Content-Length: %d\r\nConnection: %s\r\n\r\n%s"
            % (len(payload), b"close" if close else b"keep-alive", payload)
        )


class _Delayed:
    """A transport whose writes leave ``latency`` seconds late: a server that takes its time.

    The clients here never pipeline (one request per connection at a time), so delaying
    every write by the same amount keeps each connection's answers in order.
    """

    def __init__(self, transport: asyncio.Transport, latency: float) -> None:
        self._transport = transport
        self._latency = latency
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        self._loop.call_later(self._latency, self._write, data)

    def _write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._loop.call_later(self._latency * 1.5, self._transport.close)


class _SlowHttp11(_server._Http11):
    def __init__(self, state: _server._State, latency: float) -> None:
        super().__init__(state)
        self._latency = latency

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = _Delayed(transport, self._latency)  # type: ignore[assignment]


async def _serve(total_records: int, newest: int, latency: float) -> None:
    state = _RecordsState(total_records, newest)
    loop = asyncio.get_running_loop()

    def protocol() -> asyncio.Protocol:
        return _SlowHttp11(state, latency) if latency > 0 else _server._Http11(state)

    server = await loop.create_server(protocol, "127.0.0.1", 0, backlog=4096, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with server:
        await reader.read()


@contextlib.contextmanager
def run_records_server(
    total_records: int, latency: float = 0.0
) -> Iterator[tuple[str, datetime, datetime]]:
    """Start the server in its own process; yield (base URL, newest row's time, oldest's).

    ``latency``: seconds every answer is held back (a remote API's round trip and query
    time); 0 answers at once.
    """
    newest = int(time.time()) - 60
    table = _Table(total_records, newest)
    args = [os.path.abspath(__file__), str(total_records), str(newest), str(latency)]
    with _server.spawn(args, "records server") as port:
        oldest = newest - table.spacing * (total_records - 1)
        yield (
            f"http://127.0.0.1:{port}/v3",
            datetime.fromtimestamp(newest, UTC),
            datetime.fromtimestamp(oldest, UTC),
        )


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
