"""Receiving the platform's pushes: :class:`PushReceiver`, an ASGI app, and its events.

Every name here is also importable from ``laaffic_async`` itself.
"""

from ._push.receiver import PushReceiver, PushStats
from .events import AgentRinging, CallCenterRecord, PushEvent, UnknownPush, VoiceReport

__all__ = [
    "AgentRinging",
    "CallCenterRecord",
    "PushEvent",
    "PushReceiver",
    "PushStats",
    "UnknownPush",
    "VoiceReport",
]
