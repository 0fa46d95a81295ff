"""A faithful emulator of the Laaffic voice API, for your tests and ours.

:class:`Sandbox` is a plain ASGI app.  Use it in-process through
:class:`SandboxTransport`, or over a real socket with :func:`serve_in_thread`
(or ``laaffic-async sandbox --port 8080``)::

    from laaffic_async import AsyncClient
    from laaffic_async.testing import Sandbox, SandboxTransport

    sandbox = Sandbox()
    async with AsyncClient("bDqJFiq9", "7bz1lzh9", app_id="4luaKsL2",
                           base_url="http://sandbox/v3",
                           transport=SandboxTransport(sandbox)) as client:
        await client.send_sip("932111111111", account="test_001")
    assert sandbox.state.dials == 1

Its state logic lives apart from the client's code on purpose, so a bug on
one side cannot hide in the other.
"""

from ._app import ConnectionDropped, Sandbox
from ._callcenter import CallCenterState
from ._faults import Faults
from ._pusher import Pusher, PushJob
from ._recordings import RecordingState
from ._seed import LiveCalls, add_call, live_calls, seed_records
from ._server import serve, serve_in_thread
from ._state import SandboxState
from ._store import RecordStore
from ._transport import SandboxTransport
from ._wire import PLATFORM_TZ, SAMPLE_API_KEY, SAMPLE_API_SECRET, SAMPLE_APP_ID

__all__ = [
    "PLATFORM_TZ",
    "SAMPLE_API_KEY",
    "SAMPLE_API_SECRET",
    "SAMPLE_APP_ID",
    "CallCenterState",
    "ConnectionDropped",
    "Faults",
    "LiveCalls",
    "PushJob",
    "Pusher",
    "RecordStore",
    "RecordingState",
    "Sandbox",
    "SandboxState",
    "SandboxTransport",
    "add_call",
    "live_calls",
    "seed_records",
    "serve",
    "serve_in_thread",
]
