"""Run a "group call to agent" task: a group, two agents, a number list, a task.

Usage::

    python examples/call_center_task.py numbers.xlsx

Without ``LAAFFIC_API_KEY`` in the environment it runs against the
in-process sandbox; with it (and ``LAAFFIC_API_SECRET``, ``LAAFFIC_APP_ID``)
it talks to the real platform, where the task dials real people.
"""

from __future__ import annotations

import os
import sys
from contextlib import aclosing

import anyio

from laaffic_async import AsyncClient, TaskType
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Sandbox,
    SandboxTransport,
)


def make_client() -> AsyncClient:
    if os.environ.get("LAAFFIC_API_KEY"):
        return AsyncClient()
    sandbox = Sandbox()
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
    )


async def main(numbers: str) -> None:
    async with make_client() as client:
        cc = client.call_center
        await cc.add_group("example-group")
        async with aclosing(aiter(cc.groups(group_name="example-group"))) as found:
            group = await anext(found)
        agents = await cc.add_agents(group.voice_group_id, 2)
        print("agents:", [agent.name for agent in agents])
        async for agent in cc.agents(group.voice_group_id):
            # The SIP password is for provisioning phones; repr() never shows it.
            print("provision", agent.account, f"(password: {len(agent.password or '')} characters)")
        uploaded = await cc.upload_numbers(numbers)
        print(f"{uploaded.number_total_count} numbers, {uploaded.number_same_count} repeated")
        task_id = await cc.submit_task(
            uploaded.file_path,
            os.path.basename(numbers),
            TaskType.GROUP_CALL_TO_AGENT,
            [group.voice_group_id],
            callout_rate=1,
        )
        print("task", task_id)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    anyio.run(main, sys.argv[1])
