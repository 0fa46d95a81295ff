"""Helpers for the push-receiver tests: a recording handler and a raw ASGI request."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs

from laaffic_async.events import PushEvent

Message = MutableMapping[str, Any]
App = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]


class Collector:
    """A push handler that records what it is given; it can fail or block on request.

    ``fail_first``: how many calls for each key raise before one succeeds.
    ``block``: a predicate; matching events wait until ``release`` is called.
    """

    def __init__(
        self,
        *,
        fail_first: int = 0,
        block: Callable[[PushEvent], bool] | None = None,
    ) -> None:
        self.events: list[PushEvent] = []
        self.calls: Counter[str] = Counter()
        self.fail_first = fail_first
        self.block = block
        self.running = 0
        self.peak_running = 0
        self._changed = anyio.Event()
        self._released = anyio.Event()

    async def __call__(self, event: PushEvent) -> None:
        self.calls[event.key] += 1
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        self._changed.set()
        try:
            await anyio.lowlevel.checkpoint()
            if self.calls[event.key] <= self.fail_first:
                raise RuntimeError(f"handler failure #{self.calls[event.key]} for {event.key}")
            if self.block is not None and self.block(event):
                await self._released.wait()
            self.events.append(event)
        finally:
            self.running -= 1
            self._changed.set()

    def release(self) -> None:
        """Let blocked calls finish."""
        self._released.set()

    @property
    def keys(self) -> list[str]:
        return [event.key for event in self.events]

    async def wait_for(self, count: int, *, calls: bool = False) -> None:
        """Wait until ``count`` events were handled (or ``count`` calls were made)."""
        with anyio.fail_after(30):
            while (sum(self.calls.values()) if calls else len(self.events)) < count:
                self._changed = anyio.Event()
                await self._changed.wait()


async def eventually(predicate: Callable[[], bool], limit: float = 30) -> None:
    """Wait until ``predicate()`` holds (``limit`` is a deadlock guard, not a timing assertion)."""
    with anyio.fail_after(limit):
        for _ in iter(int, 1):
            if predicate():
                return
            await anyio.sleep(0.005)


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def call(
    app: App,
    body: bytes | Sequence[bytes] = b"",
    *,
    method: str = "POST",
    path: str = "/",
    root_path: str = "",
    headers: dict[str, str] | None = None,
    client: tuple[str, int] | None = ("203.0.113.7", 40000),
    disconnect: bool = False,
) -> Answer | None:
    """One raw ASGI http request; ``body`` as a list is sent in chunks (no Content-Length)."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    if isinstance(body, bytes):
        headers = {"content-length": str(len(body)), **(headers or {})}
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages = [{**messages[0], "more_body": True}, {"type": "http.disconnect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": client,
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    if not sent:
        return None
    start = sent[0]
    assert start["type"] == "http.response.start"
    return Answer(
        status=start["status"],
        headers={k.decode(): v.decode() for k, v in start["headers"]},
        body=b"".join(m.get("body", b"") for m in sent[1:]),
    )


async def post_json(app: App, data: Any, **kwargs: Any) -> int:
    """POST ``data`` as JSON; return the status."""
    answer = await call(app, json.dumps(data).encode(), **kwargs)
    assert answer is not None
    return answer.status


def voice_report(n: int) -> dict[str, Any]:
    """A small voice-report body with voiceId ``n``."""
    return {"voiceId": f"22030311133810{n:05d}", "type": 3, "submitTime": 1642488160000 + n}
