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

``per_second`` puts that many rows in each occupied second (a dialer at 30 calls/s), and
``unstable_ties`` orders the rows of one second at random afresh on every query (``ORDER BY
submitTime DESC`` under LIMIT/OFFSET without a tiebreaker); such pages are assembled per query
from cached row encodings instead of being cached whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
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
    def __init__(
        self, total: int, newest: int, per_second: int = 1, unstable_ties: bool = False
    ) -> None:
        self.total = total
        self.newest = newest
        self.per_second = per_second
        self.groups = max(1, math.ceil(total / per_second))
        self.spacing = max(1, _SPAN // self.groups)
        self.unstable_ties = unstable_ties
        self.rng = random.Random(7)
        self.encoded = lru_cache(maxsize=1 << 20)(self._encoded)

    def second(self, index: int) -> int:
        return self.newest - self.spacing * (index // self.per_second)

    def record(self, index: int) -> dict[str, object]:
        return _server.sample_record(index, datetime.fromtimestamp(self.second(index), _TZ))

    def _encoded(self, index: int) -> bytes:
        return json.dumps(self.record(index), separators=(",", ":")).encode()

    def window(self, start: float, end: float) -> tuple[int, int]:
        """(first index, count) of the rows submitted in [start, end]."""
        low = max(0, math.ceil((self.newest - end) / self.spacing)) * self.per_second
        last_group = math.floor((self.newest - start) / self.spacing)
        high = min(self.total - 1, (last_group + 1) * self.per_second - 1)
        return low, max(0, high - low + 1)

    def indexes(self, low: int, count: int, first: int, stop: int) -> list[int]:
        if not self.unstable_ties or self.per_second == 1:
            return list(range(first, stop))
        # Whole seconds around the page, each shuffled afresh, then the page's positions.
        width = self.per_second
        lo, hi = max(low, first // width * width), min(low + count, -(-stop // width) * width)
        shuffled: list[int] = []
        for group in range(lo, hi, width):
            members = list(range(group, min(group + width, hi)))
            self.rng.shuffle(members)
            shuffled.extend(members)
        return shuffled[first - lo : stop - lo]

    def page(self, low: int, count: int, current: int, size: int) -> bytes:
        first = low + (current - 1) * size
        stop = min(low + count, first + size)
        head = {
            "total": count,
            "size": size,
            "current": current,
            "pages": math.ceil(count / size),
            "searchCount": True,
        }
        rows = b",".join(self.encoded(i) for i in self.indexes(low, count, first, max(first, stop)))
        return b'{"status":"0","reason":"success","data":%s,"records":[%s]}}' % (
            json.dumps(head, separators=(",", ":")).encode()[:-1],
            rows,
        )


class _RecordsState(_server._State):
    def __init__(
        self, total_records: int, newest: int, per_second: int, unstable_ties: bool
    ) -> None:
        super().__init__(total_records)
        self.table = _Table(total_records, newest, per_second, unstable_ties)
        self.cached_page = (
            self.table.page if unstable_ties else lru_cache(maxsize=4096)(self.table.page)
        )

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


async def _serve(
    total_records: int, newest: int, latency: float, per_second: int, unstable_ties: bool
) -> None:
    state = _RecordsState(total_records, newest, per_second, unstable_ties)
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
    total_records: int, latency: float = 0.0, per_second: int = 1, unstable_ties: bool = False
) -> Iterator[tuple[str, datetime, datetime]]:
    """Start the server in its own process; yield (base URL, newest row's time, oldest's).

    ``latency``: seconds every answer is held back (a remote API's round trip and query
    time); 0 answers at once.  ``per_second``/``unstable_ties``: see the module doc.
    """
    newest = int(time.time()) - 60
    table = _Table(total_records, newest, per_second)
    args = [os.path.abspath(__file__), str(total_records), str(newest), str(latency)]
    args += [str(per_second), "1" if unstable_ties else "0"]
    with _server.spawn(args, "records server") as port:
        oldest = table.second(total_records - 1)
        yield (
            f"http://127.0.0.1:{port}/v3",
            datetime.fromtimestamp(newest, UTC),
            datetime.fromtimestamp(oldest, UTC),
        )


if __name__ == "__main__":
    asyncio.run(
        _serve(
            int(sys.argv[1]),
            int(sys.argv[2]),
            float(sys.argv[3]),
            int(sys.argv[4]),
            sys.argv[5] == "1",
        )
    )
