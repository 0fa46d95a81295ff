"""Dialer: one sendSip under the client-wide limits, through the caller."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import attrs

from .._core.requests import send_sip_request
from .._io.caller import Caller
from ..errors import OutcomeUnknownError
from ..models import Call, PlacedCall
from .limits import DialGate

__all__ = ["Dialer"]


@attrs.define(eq=False)
class Dialer:
    """Places calls: ``gate`` (shared by every task of a client) around ``caller.request``."""

    caller: Caller
    #: The client's local :class:`~.limits.DialLimits`, or a fleet's limits
    #: (:class:`~laaffic_async.fleet.RedisCoordinator`): both admit one request on an account.
    gate: DialGate

    async def place(self, call: Call) -> PlacedCall:
        """Place ``call``; see :meth:`AsyncClient.send_sip <laaffic_async.AsyncClient.send_sip>`."""
        instrument = self.caller.instrumentation
        try:
            placed = await self.send(call)
        except BaseException as exc:
            instrument.dial_outcome(exc)
            raise
        instrument.dial_outcome(None)
        return placed

    def send(self, call: Call) -> Coroutine[Any, Any, PlacedCall]:
        """:meth:`place` without reporting the outcome: what a batch sends, since it reports
        each call's outcome itself (after its -68 retries). Await it.

        Not itself a coroutine: with no limits set it hands back :meth:`place_now`'s, one
        frame fewer for every resumption of the call (``benchmarks/bench_dial.py``).
        """
        if not self.gate.active:  # none set: entering them would cost two coroutines a call
            return self.place_now(call)
        return self._admitted(call)

    async def _admitted(self, call: Call) -> PlacedCall:
        async with self.gate.admit(call.account):
            return await self.place_now(call)

    async def place_now(self, call: Call) -> PlacedCall:
        """:meth:`send` for a caller already admitted by ``gate`` (a journal marks calls there)."""
        instrument = self.caller.instrumentation
        request = send_sip_request(call, self.caller.app_id)
        instrument.dial_started()
        try:
            data = await self.caller.request(request)
        finally:
            instrument.dial_ended()
        if not isinstance(data, (str, int)) or isinstance(data, bool) or data == "":
            # The platform answered "0" but gave no id: the call ran, we cannot name it.
            raise OutcomeUnknownError(
                f"success without a voice id: {data!r}", endpoint=request.endpoint, request=call
            )
        return PlacedCall(voice_id=str(data), call=request.subject)  # type: ignore[arg-type]
