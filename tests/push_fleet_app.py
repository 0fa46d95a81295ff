"""A push receiver app for the multi-process tests, configured by environment variables.

``PUSH_SPOOL``: a sqlite path, or a ``redis://`` URL (then ``PUSH_NAMESPACE``);
``PUSH_LEASE``: lease seconds; ``PUSH_HANDLER_SECONDS``: how long the
handler takes for events whose key contains "slow", once the file
``PUSH_GATE`` exists; ``PUSH_LOG``: a file the
handler appends ``start``/``end`` lines to (``O_APPEND``: one small write is
atomic across processes).

Served as ``uvicorn tests.push_fleet_app:app --workers 3``.
"""

from __future__ import annotations

import os

import anyio

from laaffic_async.events import PushEvent
from laaffic_async.fleet import RedisSpool
from laaffic_async.webhooks import PushReceiver

_LOG = os.environ["PUSH_LOG"]
_SECONDS = float(os.environ.get("PUSH_HANDLER_SECONDS", "0"))
_GATE = os.environ.get("PUSH_GATE", "")


def _note(what: str, event: PushEvent) -> None:
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{what} {os.getpid()} {event.key}\n".encode())
    finally:
        os.close(fd)


async def on_push(event: PushEvent) -> None:
    _note("start", event)
    if "slow" in event.key:
        # Mid-way until the test opens the gate (so a kill surely interrupts some).
        while _GATE and not await anyio.Path(_GATE).exists():  # noqa: ASYNC110 (another process)
            await anyio.sleep(0.05)
        await anyio.sleep(_SECONDS)
    _note("end", event)


_where = os.environ["PUSH_SPOOL"]
app = PushReceiver(
    on_push,
    spool=RedisSpool(_where, namespace=os.environ.get("PUSH_NAMESPACE", "pushes"))
    if _where.startswith("redis://")
    else _where,
    fsync=False,
    lease_seconds=float(os.environ.get("PUSH_LEASE", "30")),
    shutdown_grace=0,
)
