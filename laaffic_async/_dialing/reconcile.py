"""Reconciliation: was a call whose outcome is unknown placed?  Ask the call records.

The API has no idempotency key, so the records are the only ground truth:
a call that ran has a recordSipQuery row with its account (``phoneName``),
its callee and a submit time close to when the request left.  A record can
appear some time after the call was submitted, so "not placed" is only
concluded once ``sent_at + settle`` has passed on the server's clock and a
query over the then-closed window still finds nothing.  Whatever cannot be
established raises :class:`~laaffic_async.errors.ReconcileError`: guessing
"not placed" could ring a person twice.

Takes what it needs as parameters (a page fetcher, the server clock, a
sleep), never the client, so it runs over a fake as well as the sandbox.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Protocol

import anyio

from .._core.windows import HORIZON, MAX_QUERY_SPAN
from ..errors import LaafficError, OutcomeUnknownError, ReconcileError, RequestValidationError
from ..models import Call, CallOutcome, CallRecord, ReconcileResult, RecordPage

__all__ = [
    "DEFAULT_SETTLE",
    "LEAD_SECONDS",
    "FetchPage",
    "check_settle",
    "reconcile_call",
    "unknown_subject",
]

#: How long after a request leaves its call record may take to appear, by default.
#: Conservative: the sandbox shows records at once, the platform's delay is not documented.
DEFAULT_SETTLE = 120.0
#: The search window opens this long before ``sent_at``: the client's idea of the
#: server clock may be off by a little, and a record must not fall out of the window.
LEAD_SECONDS = 60.0
_PAGE_SIZE = 100
# Slack for the two-month horizon: the query must still be inside it when it arrives.
_HORIZON_SLACK = 300.0


class FetchPage(Protocol):
    """One raw recordSipQuery page (``AsyncClient.record_page``'s shape)."""

    def __call__(
        self,
        start: datetime,
        end: datetime,
        *,
        current: int,
        size: int,
        phone_name: str | None,
    ) -> Awaitable[RecordPage]: ...


def check_settle(settle: object) -> float:
    """``settle`` as float seconds, or :class:`RequestValidationError`."""
    limit = MAX_QUERY_SPAN.total_seconds() - LEAD_SECONDS
    if (
        isinstance(settle, bool)
        or not isinstance(settle, (int, float))
        or not math.isfinite(settle)
        or not 0 <= settle <= limit
    ):
        raise RequestValidationError("settle", f"must be seconds between 0 and {limit:.0f}", settle)
    return float(settle)


def unknown_subject(target: object) -> tuple[Call, datetime]:
    """The call and ``sent_at`` of an unknown outcome or :class:`OutcomeUnknownError`."""
    error = target.error if isinstance(target, CallOutcome) else target
    if not isinstance(error, OutcomeUnknownError):
        rule = "must be an OutcomeUnknownError or a CallOutcome holding one"
        raise RequestValidationError("outcome", rule, target)
    call = error.request
    if not isinstance(call, Call):
        call = target.call if isinstance(target, CallOutcome) else None
    if not isinstance(call, Call):
        raise RequestValidationError("outcome", "names no sendSip Call to look up", target)
    if error.sent_at is None:
        raise ReconcileError("the error does not say when the call was sent", request=call)
    return call, error.sent_at


def _matches(record: CallRecord, call: Call, exclude: Collection[str]) -> bool:
    return (
        record.callee == call.callee
        and record.phone_name in (None, call.account)
        and record.voice_id not in exclude
    )


async def _find(
    call: Call, start: float, end: float, sent: float, fetch: FetchPage, exclude: Collection[str]
) -> CallRecord | None:
    """The record of ``call`` submitted in [start, end] nearest to ``sent``, if any."""
    first = datetime.fromtimestamp(math.floor(start), UTC)
    last = datetime.fromtimestamp(math.ceil(end), UTC)
    best: CallRecord | None = None
    current, pages = 1, 1
    while current <= pages:
        try:
            page = await fetch(
                first, last, current=current, size=_PAGE_SIZE, phone_name=call.account
            )
        except LaafficError as exc:
            reason = f"the call records could not be read: {exc}"
            raise ReconcileError(reason, request=call) from exc
        pages = page.pages
        for record in page.records:
            if _matches(record, call, exclude) and (
                best is None
                or abs(record.submit_time.timestamp() - sent)
                < abs(best.submit_time.timestamp() - sent)
            ):
                best = record
        current += 1
    return best


async def reconcile_call(
    call: Call,
    sent_at: datetime,
    *,
    settle: float,
    fetch: FetchPage,
    now: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    exclude: Collection[str] = (),
) -> ReconcileResult:
    """Decide whether ``call``, sent at ``sent_at``, was placed (see the module docstring).

    ``now`` is the server's clock as the client knows it (``AsyncClient.now``).
    Returns at once when the record is found; otherwise sleeps until
    ``sent_at + settle`` and looks once more over the closed window.
    Records whose voice id is in ``exclude`` (other rows' calls to the same
    callee, as a journal knows them) are not taken for this call.
    """
    settle = check_settle(settle)
    sent = sent_at.timestamp()
    start, deadline = sent - LEAD_SECONDS, sent + settle
    if start < now() - HORIZON.total_seconds() + _HORIZON_SLACK:
        raise ReconcileError(
            f"sent at {sent_at.isoformat()}, beyond the records' two-month horizon", request=call
        )
    # Never ask about the future (the pages do not say the API accepts it): up to now first,
    # then, once the deadline has passed, the whole closed window.
    record = await _find(call, start, min(deadline, now() + 1), sent, fetch, exclude)
    if record is None and (remaining := deadline - now()) > 0:
        await sleep(remaining)
        record = await _find(call, start, deadline, sent, fetch, exclude)
    return ReconcileResult(call=call, placed=record is not None, record=record)
