"""Receiving the platform's pushes: :class:`PushReceiver`, an ASGI app, and its events.

The implementation lives in ``laaffic_async._push``; this module is its public face.
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
