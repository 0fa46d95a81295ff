"""Dialer: one sendSip under the client-wide limits, through the caller."""

from __future__ import annotations

import attrs

from .._core.requests import send_sip_request
from .._io.caller import Caller
from ..errors import OutcomeUnknownError
from ..models import Call, PlacedCall
from .limits import DialLimits

__all__ = ["Dialer"]


@attrs.define(eq=False)
class Dialer:
    """Places calls: ``limits`` (shared by every task of a client) around ``caller.request``."""

    caller: Caller
    limits: DialLimits

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

    async def send(self, call: Call) -> PlacedCall:
        """:meth:`place` without reporting the outcome: what a batch sends, since it reports
        each call's outcome itself (after its -68 retries)."""
        if not self.limits.active:  # none set: entering them would cost two coroutines a call
            return await self.place_now(call)
        async with self.limits:
            return await self.place_now(call)

    async def place_now(self, call: Call) -> PlacedCall:
        """:meth:`send` for a caller already inside ``limits`` (a journal marks calls there)."""
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
