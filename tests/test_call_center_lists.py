"""groups(), agents() and tasks(): every item exactly once, on the records() machinery."""

from __future__ import annotations

import time
from contextlib import aclosing
from datetime import datetime
from pathlib import Path

import pytest

from laaffic_async import (
    AgentGroup,
    AsyncClient,
    HttpStatusError,
    ListStream,
    PaginationError,
    RequestValidationError,
    TaskType,
)
from laaffic_async.testing import Faults, Sandbox
from tests.callcenter_support import APP, make_client, sent, write_numbers

pytestmark = pytest.mark.anyio


def seed_groups(sandbox: Sandbox, count: int, prefix: str = "group") -> list[int]:
    cc = sandbox.state.call_center
    return [
        cc.add_group(f"{prefix}-{i:04d}", APP, time.time())["voiceGroupId"] for i in range(count)
    ]


async def test_groups_walks_every_group(client: AsyncClient, sandbox: Sandbox) -> None:
    ids = seed_groups(sandbox, 237)
    stream = client.call_center.groups(page_size=20, concurrency=4)
    assert isinstance(stream, ListStream)
    walked = [group async for group in stream]
    assert [g.voice_group_id for g in walked] == ids[::-1]  # the sandbox pages newest first
    assert sandbox.state.requests["cc/seatGroup/query"] == 12
    again = [group async for group in stream]  # each iteration is a fresh walk
    assert again == walked


async def test_groups_by_name_and_an_empty_list(client: AsyncClient, sandbox: Sandbox) -> None:
    assert [g async for g in client.call_center.groups()] == []
    seed_groups(sandbox, 30)
    found = [g async for g in client.call_center.groups(group_name="group-0007")]
    assert [g.group_name for g in found] == ["group-0007"]


async def test_agents_of_one_group_and_of_all(client: AsyncClient, sandbox: Sandbox) -> None:
    sandbox.state.call_center.max_agents = 1000
    first, second = seed_groups(sandbox, 2)
    await client.call_center.add_agents(first, 150)
    await client.call_center.add_agents(second, 30)
    pages = [page async for page in client.call_center.agents(first, page_size=25).pages()]
    assert [len(page) for page in pages] == [25] * 6
    mine = [agent for page in pages for agent in page]
    assert {a.voice_group_id for a in mine} == {first}
    assert len({a.account for a in mine}) == 150
    everyone = [a async for a in client.call_center.agents(page_size=100, concurrency=2)]
    assert len({a.account for a in everyone}) == len(everyone) == 180
    enabled = client.call_center.agents(second, enable=True, status=0, name="missing")
    assert [a async for a in enabled] == []


async def test_agents_by_creation_time(client: AsyncClient, sandbox: Sandbox) -> None:
    (group,) = seed_groups(sandbox, 1)
    await client.call_center.add_agents(group, 3)
    start = datetime.fromisoformat("2000-01-01T00:00:00+08:00")
    end = datetime.fromisoformat("2001-01-01T00:00:00+08:00")
    assert [a async for a in client.call_center.agents(start=start)] != []
    assert [a async for a in client.call_center.agents(start=start, end=end)] == []


async def test_tasks_walks_every_task(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    (group,) = seed_groups(sandbox, 1)
    uploaded = await client.call_center.upload_numbers(write_numbers(tmp_path))
    for i in range(45):
        kind = TaskType.AUTOMATIC_CALLING if i % 3 else TaskType.GROUP_CALL_TO_AGENT
        await client.call_center.submit_task(
            uploaded.file_path, "numbers.xlsx", kind, [group], callout_rate=1
        )
    tasks = [t async for t in client.call_center.tasks(page_size=7, concurrency=3)]
    assert [int(t.task_id) for t in tasks] == list(range(45, 0, -1))
    calls = client.call_center.tasks(task_type=TaskType.GROUP_CALL_TO_AGENT, page_size=4)
    assert len([t async for t in calls]) == 15


@pytest.mark.parametrize("newest_first", [True, False])
async def test_a_list_growing_while_walked_comes_out_exactly_once(
    client: AsyncClient, sandbox: Sandbox, newest_first: bool
) -> None:
    sandbox.state.call_center.newest_first = newest_first
    before = seed_groups(sandbox, 95)
    walked: list[AgentGroup] = []
    async for group in client.call_center.groups(page_size=10, concurrency=1):
        if not walked:
            # Page 1 has answered: 25 new groups now shift every later page by 2.5 pages.
            seed_groups(sandbox, 25, prefix="late")
        walked.append(group)
    assert sorted(g.voice_group_id for g in walked) == before
    assert sandbox.state.requests["cc/seatGroup/query"] >= 10


async def test_a_list_shrinking_while_walked_is_refused(
    client: AsyncClient, sandbox: Sandbox
) -> None:
    ids = seed_groups(sandbox, 40)

    async def walk_while_deleting() -> None:
        async for _ in client.call_center.groups(page_size=10, concurrency=1):
            for group_id in ids[:5]:
                sandbox.state.call_center.groups.pop(group_id, None)

    with pytest.raises(PaginationError, match="shrank"):
        await walk_while_deleting()


async def test_breaking_out_early_stops_fetching(client: AsyncClient, sandbox: Sandbox) -> None:
    seed_groups(sandbox, 500)
    async with aclosing(aiter(client.call_center.groups(page_size=10, concurrency=2))) as groups:
        async for _ in groups:
            break
    assert sandbox.state.requests["cc/seatGroup/query"] < 50


async def test_arguments_checked_before_any_request(client: AsyncClient, sandbox: Sandbox) -> None:
    cc = client.call_center
    with pytest.raises(RequestValidationError, match="size"):
        cc.groups(page_size=0)
    with pytest.raises(RequestValidationError, match="concurrency"):
        cc.agents(concurrency=0)
    with pytest.raises(RequestValidationError, match="strTime"):
        cc.agents(start=datetime(2022, 1, 1))
    with pytest.raises(RequestValidationError, match="type"):
        cc.tasks(task_type=9)
    with pytest.raises(RequestValidationError, match="groupName"):
        cc.groups(group_name="")
    assert sent(sandbox) == 0


async def test_a_failing_page_surfaces_after_the_retries(sandbox: Sandbox) -> None:
    seed_groups(sandbox, 30)
    sandbox.faults = Faults(error_rate=1.0, endpoints=frozenset({"cc/seatGroup/query"}))
    async with make_client(sandbox) as client:
        with pytest.raises(HttpStatusError, match="HTTP 500"):
            _ = [g async for g in client.call_center.groups(page_size=10)]
        assert sandbox.state.requests["cc/seatGroup/query"] == client.retry.attempts


async def test_agents_over_a_real_socket(socket_client: AsyncClient, sandbox: Sandbox) -> None:
    (group,) = seed_groups(sandbox, 1)
    await socket_client.call_center.add_agents(group, 120)
    agents = [a async for a in socket_client.call_center.agents(group, page_size=50)]
    assert len({a.account for a in agents}) == 120
    assert all(a.password for a in agents)
