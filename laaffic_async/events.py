"""The platform's HTTP pushes as frozen values.

The platform POSTs three kinds of push to a URL set in its console (see
``NOTES.md``, "Pushes"); :class:`~laaffic_async.webhooks.PushReceiver` turns
each into one of these and hands it to your handler::

    async def on_push(event: PushEvent) -> None:
        match event:
            case VoiceReport(voice_id=voice_id, cost=cost): ...
            case CallCenterRecord(call_session_id=session): ...
            case AgentRinging(sip_account=agent): ...
            case UnknownPush(data=data): ...

Every time is an aware :class:`~datetime.datetime`: the voice report's epoch
milliseconds become UTC, the call-center formats (``yyyy-MM-dd HH:mm:ss`` in
the platform's UTC+8) keep their +08:00 offset.  Money is
:class:`~decimal.Decimal`.  Fields a push leaves out, sends empty or as
``null`` are ``None``; fields it adds later are ignored (an unparseable
documented push becomes :class:`UnknownPush`, never an error).

Each event has a ``key``: the documented identity the receiver uses to drop
the platform's redeliveries.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import attrs

__all__ = ["AgentRinging", "CallCenterRecord", "PushEvent", "UnknownPush", "VoiceReport"]


@attrs.frozen
class VoiceReport:
    """The voice report ("call bill") push: one call's outcome and cost.

    ``type`` is the call's kind: 1 group call, 2 verification code, 3 phone
    call, 4 direct dial.  The five times come as epoch milliseconds and are
    UTC here; a time the platform sends as 0 (the call never got that far)
    is ``None``.  ``rate``, ``base_cost``, ``cost`` and the settlement
    fields are decimals in ``currency``.
    """

    voice_id: str
    type: int | None = None
    callee: str | None = None
    display_num: str | None = None
    submit_time: datetime | None = None
    call_time: datetime | None = None
    ringing_time: datetime | None = None
    answer_time: datetime | None = None
    hangup_time: datetime | None = None
    call_duration: int | None = None
    charged_duration: int | None = None
    bill_period: str | None = None
    code: str | None = None
    voice_file_id: str | None = None
    rate: Decimal | None = None
    base_cost: Decimal | None = None
    cost: Decimal | None = None
    termination_code: str | None = None
    termination_reason: str | None = None
    sip_code: str | None = None
    feedback_value: str | None = None
    called_info: str | None = None
    ring_duration: int | None = None
    currency: str | None = None
    settle_rate: Decimal | None = None
    quote_exchange: Decimal | None = None
    settle_pay: Decimal | None = None

    @property
    def key(self) -> str:
        """The redelivery key: the call's ``voiceId``."""
        return "voiceId:" + self.voice_id


@attrs.frozen
class CallCenterRecord:
    """The call-center call record push: one call handled by the call center.

    ``call_id`` is the sendSip return value when the call came from it;
    ``call_session_id`` identifies the record.  ``call_type``: 1 group call
    to agent, 2 incoming, 3 outgoing.  ``hanging_direction``: 0 customer,
    1 agent, 3 system.  ``hangup_reason`` is the platform's code 0-9.  Times
    are aware datetimes at +08:00, as the platform writes them.
    """

    call_session_id: str
    call_id: str | None = None
    called: str | None = None
    called_info: str | None = None
    caller: str | None = None
    ccode: str | None = None
    ccode_name: str | None = None
    agent_name: str | None = None
    agent_group_name: str | None = None
    agent_account: str | None = None
    call_duration: int | None = None
    call_type: int | None = None
    hangup_code: str | None = None
    hangup_reason: int | None = None
    hanging_direction: int | None = None
    labels: tuple[str, ...] = ()
    base_cost: Decimal | None = None
    cost: Decimal | None = None
    remark: str | None = None
    call_start_time: datetime | None = None
    answer_time: datetime | None = None
    call_end_time: datetime | None = None
    voice_url: str | None = None

    @property
    def key(self) -> str:
        """The redelivery key: the record's ``callSessionId``."""
        return "callSessionId:" + self.call_session_id


@attrs.frozen
class AgentRinging:
    """One agent-ringing event (a ringing push is a JSON array of them).

    ``call_id`` is shared by every ringing push of one call; ``sip_account``
    is the agent ringing now and ``no_answer_sip_list`` the agents that did
    not answer before.  ``type``: 1 agent ringing in a group-call task
    transfer, 2 in the call center, 3 phone invoked through the API.

    The platform retries a ringing push at once if it is not answered
    quickly, which is why the receiver acknowledges before your handler runs.
    """

    call_id: str
    sip_account: str
    callin_event_time: datetime
    type: int | None = None
    task_id: str | None = None
    called: str | None = None
    called_info: str | None = None
    seat_group_name: str | None = None
    no_answer_sip_list: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The redelivery key: (``callId``, ``sipAccount``, ``callinEventTime``)."""
        parts = [self.call_id, self.sip_account, self.callin_event_time.isoformat()]
        return "ringing:" + json.dumps(parts, separators=(",", ":"))


@attrs.frozen
class UnknownPush:
    """A well-formed JSON push of a shape the SDK does not know, kept whole.

    ``data`` is the decoded JSON as sent.  ``problem`` says why a body that
    looked like a documented push (it had a ``voiceId``, a ``callSessionId``
    or ringing fields) could not be read as one, naming the wire field;
    ``None`` for a shape that matched nothing.  Delivered rather than dropped,
    so a format change on the platform never loses a push.
    """

    data: Any
    problem: str | None = None

    @property
    def key(self) -> str:
        """The redelivery key: a SHA-256 of the data's canonical JSON."""
        canonical = json.dumps(
            self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
        return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


#: What a push handler receives: one of the three documented events, or the rest.
PushEvent: TypeAlias = VoiceReport | CallCenterRecord | AgentRinging | UnknownPush
