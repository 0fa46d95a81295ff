"""Filling the sandbox's call-record table: many rows at once, or calls arriving while it is read.

For tests and benchmarks of record exports::

    sandbox = Sandbox()
    now = datetime.now(UTC)
    ids = seed_records(sandbox, 50_000, now - timedelta(days=58), now,
                       on=[boundary], seed=7)
    calls = live_calls(sandbox, every=3, count=5)   # 5 new calls before every 3rd query

Rows are built with the same function that sendSip uses
(:func:`._voice.call_record`), so they carry every documented field.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import attrs

from ._app import Sandbox
from ._routes import Request, Route
from ._state import SandboxState
from ._voice import call_record
from ._wire import new_voice_id

__all__ = ["LiveCalls", "add_call", "live_calls", "seed_records"]

RECORD_QUERY = "voice/recordSipQuery"


def _state(target: Sandbox | SandboxState) -> SandboxState:
    return target.state if isinstance(target, Sandbox) else target


def _unique_id(state: SandboxState, moment: datetime, rng: random.Random, taken: set[str]) -> str:
    voice_id = new_voice_id(moment, rng)
    while voice_id in taken or state.records.get(voice_id) is not None:
        voice_id = new_voice_id(moment, rng)
    taken.add(voice_id)
    return voice_id


def seed_records(
    target: Sandbox | SandboxState,
    count: int,
    start: datetime,
    end: datetime,
    *,
    on: Iterable[datetime] = (),
    seed: int = 0,
    burst: int = 1,
) -> list[str]:
    """Add ``count`` call records submitted in ``[start, end]``; return their voice ids.

    One record sits exactly at each moment of ``on`` (slice boundaries, say;
    they count towards ``count``), the rest at whole seconds drawn uniformly
    with ``random.Random(seed)``: the same arguments give the same rows.
    ``burst`` above 1 puts 1 to ``burst`` records (uniformly) in each second
    drawn, as a busy dialer submits many calls in one second; accounts
    (``phoneName``) cycle through 50 names.
    Inserted in one sort, so a million rows take seconds, not minutes.
    """
    state = _state(target)
    rng = random.Random(seed)
    exact = [moment.astimezone(UTC) for moment in on]
    if len(exact) > count:
        raise ValueError(f"{len(exact)} exact moments do not fit in {count} records")
    low, high = math.ceil(start.timestamp()), math.floor(end.timestamp())
    if high < low and count > len(exact):
        raise ValueError(f"no whole second between {start} and {end}")
    moments = list(exact)
    while len(moments) < count:
        moment = datetime.fromtimestamp(rng.randint(low, high), UTC)
        moments.extend([moment] * min(rng.randint(1, burst), count - len(moments)))
    taken: set[str] = set()
    rows: list[tuple[float, dict[str, Any]]] = []
    for index, moment in enumerate(moments):
        voice_id = _unique_id(state, moment, rng, taken)
        row = call_record(
            state, voice_id, moment, f"93{rng.randrange(10**10):010d}", None, f"sip{index % 50:03d}"
        )
        rows.append((moment.timestamp(), row))
    state.records.extend(rows)
    return [row["voiceId"] for _, row in rows]


def add_call(target: Sandbox | SandboxState, moment: datetime | None = None) -> str:
    """Add one call record submitted at ``moment`` (default: the sandbox's now), like sendSip.

    Accounts (``phoneName``) cycle through ``live000`` to ``live049``: an
    account holds one call at a time, so a busy second spreads over many.
    """
    state = _state(target)
    if moment is None:
        moment = datetime.fromtimestamp(state.clock(), UTC)
    voice_id = _unique_id(state, moment, state.rng, set())
    account = f"live{len(state.records) % 50:03d}"
    state.records.add(
        moment.timestamp(), call_record(state, voice_id, moment, "932111111111", None, account)
    )
    return voice_id


@attrs.define
class LiveCalls:
    """Calls placed while records are being read (see :func:`live_calls`).

    ``inserted`` lists the voice ids added so far, ``queries`` the
    recordSipQuery requests seen.
    """

    every: int
    count: int
    queries: int = 0
    inserted: list[str] = attrs.field(factory=list)
    #: Set to False to stop placing calls.
    active: bool = True

    def before_query(self, state: SandboxState) -> None:
        """Count one query; every ``every``-th one first places ``count`` calls at "now"."""
        self.queries += 1
        if self.active and self.queries % self.every == 0:
            self.inserted.extend(add_call(state) for _ in range(self.count))


def live_calls(sandbox: Sandbox, *, every: int, count: int) -> LiveCalls:
    """Make ``sandbox`` place ``count`` new calls before every ``every``-th record query.

    The new records are submitted at the sandbox's clock, i.e. at the
    newest end of any window that includes now: the situation in which a
    careless paginator loses or doubles rows.
    """
    calls = LiveCalls(every, count)
    routes: list[Route] = []
    for route in sandbox.routes:
        if route.endpoint == RECORD_QUERY:
            routes.append(attrs.evolve(route, handler=_wrap(route, calls)))
        else:
            routes.append(route)
    sandbox.routes = routes
    return calls


def _wrap(route: Route, calls: LiveCalls) -> Any:
    handler = route.handler

    def handle(state: SandboxState, request: Request) -> Any:
        calls.before_query(state)
        return handler(state, request)

    return handle
