"""Without opentelemetry installed, nothing imports it and every feature works.

The check runs in a fresh interpreter where importing ``opentelemetry`` fails as if it were
not installed (a meta-path finder refuses it), since this test process has it installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys

    class NotInstalled:
        attempts = 0

        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                NotInstalled.attempts += 1
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())

    from datetime import UTC, datetime, timedelta

    import anyio

    from laaffic_async import AsyncClient, Call
    from laaffic_async._io.instrument import NOOP
    from laaffic_async.testing import Sandbox, SandboxTransport, seed_records
    from laaffic_async.webhooks import PushReceiver

    async def main() -> None:
        sandbox = Sandbox()
        now = datetime.now(UTC)
        seed_records(sandbox, 30, now - timedelta(days=2), now - timedelta(minutes=1))
        client = AsyncClient(
            "bDqJFiq9", "7bz1lzh9", app_id="4luaKsL2", base_url="http://sandbox/v3",
            transport=SandboxTransport(sandbox), calls_per_second=1000,
        )
        assert client._instrument is NOOP
        async with client:
            await client.send_sip("932111111111", account="a")
            calls = [Call(callee=f"9321111112{i:02d}", account=f"b{i}") for i in range(5)]
            outcomes = [o async for o in client.send_many(calls, calls_per_second=1000)]
            assert all(o.ok for o in outcomes)
            end = datetime.now(UTC) + timedelta(minutes=1)  # the calls just placed included
            records = [r async for r in client.records(now - timedelta(days=2), end)]
            assert len(records) == 36, len(records)
        handled = []

        async def handler(event: object) -> None:
            handled.append(event)

        receiver = PushReceiver(handler, spool=None)
        assert receiver._instrument is NOOP
        async with receiver:
            pass

    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    assert not loaded, loaded
    assert NotInstalled.attempts >= 1  # it was looked for, and its absence was handled
    print("ok")
    """
)


def test_no_opentelemetry_import_when_it_is_not_installed(tmp_path: Path) -> None:
    script = tmp_path / "absent.py"
    script.write_text(SCRIPT)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
