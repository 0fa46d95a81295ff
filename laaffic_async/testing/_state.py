"""The sandbox's state: accounts, credentials, call records and counters.

Plain synchronous code with an injectable clock, so the emulator's rules can
be tested without a server, and a fault in the client cannot hide here.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from ._callcenter import CallCenterState
from ._recordings import RecordingState
from ._store import RecordStore
from ._wire import SAMPLE_API_KEY, SAMPLE_API_SECRET, SAMPLE_APP_ID

#: Onbuka's rule: the Timestamp must be within half an hour of the server's clock.
TIMESTAMP_TOLERANCE = 30 * 60
#: recordSipQuery: "for recent two months", taken as 60 days.
HORIZON_SECONDS = 60 * 86400
#: recordSipQuery: "The maximum interval between the starting time and the ending time is 31 days".
MAX_WINDOW_SECONDS = 31 * 86400


@attrs.define
class SandboxState:
    """Everything the emulated platform remembers.

    ``call_seconds`` is how long a placed call keeps its account busy
    (sendSip answers -68 meanwhile).  ``balance`` is ``None`` for unlimited,
    else each call costs ``rate`` and -10 comes when it runs out.

    ``unstable_ties=True`` makes recordSipQuery order the records of one
    submit second at random, afresh on every query (drawn from ``tie_rng``),
    as a database sorting by ``submitTime`` alone under LIMIT/OFFSET may; by
    default they come out in insertion order on every query.
    """

    clock: Callable[[], float] = time.time
    credentials: dict[str, str] = attrs.field(factory=lambda: {SAMPLE_API_KEY: SAMPLE_API_SECRET})
    app_ids: set[str] = attrs.field(factory=lambda: {SAMPLE_APP_ID})
    call_seconds: float = 0.0
    balance: Decimal | None = None
    rate: Decimal = Decimal("0.012")
    records: RecordStore = attrs.field(factory=RecordStore)
    #: Agent groups, agents, number lists and tasks (cc/... endpoints).
    call_center: CallCenterState = attrs.field(factory=CallCenterState)
    #: Recording bytes and download links (voice/getRecordingFileUrl).
    recordings: RecordingState = attrs.field(factory=RecordingState)
    rng: random.Random = attrs.field(factory=lambda: random.Random(1630468800), repr=False)
    unstable_ties: bool = False
    tie_rng: random.Random = attrs.field(factory=lambda: random.Random(20261204), repr=False)
    #: Every sendSip that placed a call, counted per callee: the exactly-once ledger.
    dials_by_callee: Counter[str] = attrs.field(factory=Counter, repr=False)
    #: Every sendSip that placed a call, counted per account.
    dials_by_account: Counter[str] = attrs.field(factory=Counter, repr=False)
    busy_until: dict[str, float] = attrs.field(factory=dict, repr=False)
    #: Called with each call record sendSip adds (``Pusher.attach`` pushes a report for it).
    call_listeners: list[Callable[[dict[str, Any]], None]] = attrs.field(factory=list, repr=False)
    #: Requests currently being handled, and the highest that count reached.
    in_flight: int = 0
    peak_in_flight: int = 0
    #: sendSip requests being handled per account, and the most one account ever had.
    account_in_flight: Counter[str] = attrs.field(factory=Counter, repr=False)
    peak_account_in_flight: int = 0
    #: Requests seen per endpoint, and the recordSipQuery windows asked for.
    requests: Counter[str] = attrs.field(factory=Counter, repr=False)
    query_windows: list[tuple[float, float]] = attrs.field(factory=list, repr=False)
    busy_answers: int = 0

    @property
    def dials(self) -> int:
        """How many calls were placed in all."""
        return sum(self.dials_by_callee.values())

    def reset_counters(self) -> None:
        """Forget the counters (not the records), e.g. between benchmark rounds."""
        self.dials_by_callee.clear()
        self.dials_by_account.clear()
        self.requests.clear()
        self.query_windows.clear()
        self.peak_in_flight = self.in_flight
        self.peak_account_in_flight = max(self.account_in_flight.values(), default=0)
        self.busy_answers = 0
