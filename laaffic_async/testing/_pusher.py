"""The platform's side of pushes: POST each report to a URL, and retry like it does.

::

    sandbox = Sandbox()
    async with Pusher(receiver_url, retry_delay=0.01) as pusher:
        pusher.attach(sandbox)            # every call placed via sendSip pushes its report
        ...                               # place calls against the sandbox
        pusher.push_agent_ringing("c-1", ["8001", "8002"])
        await pusher.join()               # until every push was answered or given up

What it emulates (NOTES.md, "Pushes", and the call-center quick start):
a push that is not answered HTTP 200 is retried up to ``retries`` times
(3): at once for agent ringing, every 30 minutes for call-center records
(and, undocumented, the same for voice reports); ``retry_delay`` overrides
every delay so tests stay fast.  ``copies`` sends every push that many times
over (each copy retried on its own) to emulate the redeliveries a receiver
must drop.  Requests carry the platform's observed headers and nothing else.

The hooks may be called from any thread (a sandbox served by uvicorn in a
thread), so pushes wait in a thread-safe queue.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import attrs
import httpx

from .._push.attempts import retry_loop
from ._app import Sandbox
from ._push_bodies import agent_ringing, call_center_record, voice_report
from ._state import SandboxState

__all__ = ["PushJob", "Pusher"]

PushKind = Literal["voice_report", "call_center_record", "agent_ringing", "raw"]

#: Seconds between retries, per push kind, as documented (voice reports: assumed).
RETRY_DELAYS: dict[PushKind, float] = {
    "voice_report": 1800.0,
    "call_center_record": 1800.0,
    "agent_ringing": 0.0,
    "raw": 0.0,
}
#: What the platform's pushes were observed to carry.
PUSH_HEADERS = {
    "content-type": "application/json;charset=UTF-8",
    "user-agent": "Apache-HttpClient/4.5.13 (Java/1.8.0_292)",
}
# How often idle workers look at the queue when woken from another thread cannot be done.
_POLL = 0.02


@attrs.frozen
class PushJob:
    """One push body to deliver (one copy of it)."""

    kind: PushKind
    body: bytes


class Pusher:
    """Delivers pushes to ``url`` with the platform's retry behaviour.

    Run it with ``async with pusher:`` (or ``await pusher.run()`` in a task
    group).  Counters: ``sent`` HTTP attempts, ``delivered`` pushes answered
    200, ``failed`` pushes given up after every retry, ``statuses`` the
    answers seen (``None`` for a transport error).
    """

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        retry_delay: float | None = None,
        copies: int = 1,
        concurrency: int = 8,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if retries < 0 or copies < 1 or concurrency < 1:
            raise ValueError("need retries >= 0, copies >= 1 and concurrency >= 1")
        self.url = url
        self.retries = retries
        self.retry_delay = retry_delay
        self.copies = copies
        self.concurrency = concurrency
        self.timeout = timeout
        self.transport = transport
        self.sent = 0
        self.delivered = 0
        self.failed: list[PushJob] = []
        self.statuses: Counter[int | None] = Counter()
        self._queue: deque[PushJob] = deque()
        self._outstanding = 0
        self._count_lock = threading.Lock()
        self._loop_thread: int | None = None
        self._wake: anyio.Event | None = None
        self._drained = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"Pusher({self.url!r}, outstanding={self._outstanding}, delivered={self.delivered})"

    # -- what to push ----------------------------------------------------------------

    def attach(self, sandbox: Sandbox | SandboxState) -> None:
        """Push a voice report for every call ``sandbox`` places from now on."""
        state = sandbox.state if isinstance(sandbox, Sandbox) else sandbox
        state.call_listeners.append(self._on_call)

    def _on_call(self, row: dict[str, Any]) -> None:
        self.push_voice_report(row)

    def push_voice_report(self, row: dict[str, Any]) -> dict[str, Any]:
        """Queue the voice report of one sandbox call record; return the body."""
        body = voice_report(row)
        self.push("voice_report", body)
        return body

    def push_call_center_record(self, **fields: Any) -> dict[str, Any]:
        """Queue a call-center record (see ``call_center_record`` for fields); return it."""
        body = call_center_record(**fields)
        self.push("call_center_record", body)
        return body

    def push_agent_ringing(
        self, call_id: str, sip_accounts: list[str], **fields: Any
    ) -> list[dict[str, Any]]:
        """Queue one ringing push for ``call_id`` (an array, one element per agent)."""
        body = agent_ringing(call_id, sip_accounts, **fields)
        self.push("agent_ringing", body)
        return body

    def push(self, kind: PushKind, body: Any) -> None:
        """Queue ``body`` (JSON data, or bytes sent as they are) ``copies`` times."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.push_jobs([PushJob(kind, raw)] * self.copies)

    def push_jobs(self, jobs: Iterable[PushJob]) -> None:
        """Queue prepared jobs (each delivered once, with retries)."""
        jobs = list(jobs)
        with self._count_lock:
            self._outstanding += len(jobs)
        self._queue.extend(jobs)
        if self._wake is not None and threading.get_ident() == self._loop_thread:
            self._wake.set()

    # -- running -----------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Pushes queued or being delivered."""
        return self._outstanding

    async def join(self) -> None:
        """Wait until every queued push was answered 200 or given up."""
        while self._outstanding:
            self._drained = anyio.Event()
            await self._drained.wait()

    async def run(self) -> None:
        """Deliver queued pushes until cancelled."""
        self._loop_thread = threading.get_ident()
        self._wake = anyio.Event()
        limits = httpx.Limits(max_connections=self.concurrency)
        async with (
            httpx.AsyncClient(
                transport=self.transport, timeout=self.timeout, limits=limits
            ) as http,
            anyio.create_task_group() as tg,
        ):
            for _ in range(self.concurrency):
                tg.start_soon(self._worker, http)

    async def __aenter__(self) -> Self:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop delivering (pushes still queued are not sent)."""
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(exc_type, exc, tb)

    async def _worker(self, http: httpx.AsyncClient) -> None:
        while True:
            try:
                job = self._queue.popleft()
            except IndexError:
                await self._idle()
                continue
            try:
                await self._deliver(http, job)
            finally:
                with self._count_lock:
                    self._outstanding -= 1
                if not self._outstanding:
                    self._drained.set()

    async def _idle(self) -> None:
        wake = self._wake
        assert wake is not None
        # Woken at once from this thread; from another thread the poll finds the job.
        with anyio.move_on_after(_POLL):
            await wake.wait()
        if wake.is_set():
            self._wake = anyio.Event()

    async def _deliver(self, http: httpx.AsyncClient, job: PushJob) -> None:
        delay = self.retry_delay if self.retry_delay is not None else RETRY_DELAYS[job.kind]

        async def attempt(number: int) -> float | None:
            self.sent += 1
            try:
                response = await http.post(self.url, content=job.body, headers=PUSH_HEADERS)
            except httpx.HTTPError:
                self.statuses[None] += 1
            else:
                self.statuses[response.status_code] += 1
                # "any HTTP 200 counts as received"
                if response.status_code == 200:
                    self.delivered += 1
                    return None
            if number > self.retries:
                self.failed.append(job)
                return None
            return delay

        await retry_loop(attempt)
