"""client.call_center's agent groups and agents against the sandbox, on asyncio and trio."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from laaffic_async import (
    AgentLimitError,
    AsyncClient,
    AuthenticationError,
    DataExistsError,
    DataNotFoundError,
    InvalidParameterError,
    OutcomeUnknownError,
    RequestValidationError,
    TaskType,
)
from laaffic_async.testing import Faults, Sandbox
from tests.callcenter_support import APP, make_client, new_group, raw, sent, write_numbers

pytestmark = pytest.mark.anyio


@pytest.fixture
def numbers_file(tmp_path: Path) -> Path:
    return write_numbers(tmp_path)


# -- agent groups ------------------------------------------------------------------------------


async def test_add_group_then_find_it(client: AsyncClient, sandbox: Sandbox) -> None:
    await client.call_center.add_group("test-1")
    group_id = await new_group(client, "support-1")
    page = await client.call_center.group_page()
    assert page.total == 2
    assert {g.group_name for g in page.records} == {"test-1", "support-1"}
    assert group_id in sandbox.state.call_center.groups
    assert sandbox.state.call_center.groups[group_id]["appId"] == APP


async def test_duplicate_group_name_is_data_exists(client: AsyncClient, sandbox: Sandbox) -> None:
    await client.call_center.add_group("test-1")
    with pytest.raises(DataExistsError) as info:
        await client.call_center.add_group("test-1", app_id=APP)
    assert (info.value.status, info.value.endpoint) == ("-20", "cc/seatGroup/addGroup")
    assert len(sandbox.state.call_center.groups) == 1


@pytest.mark.parametrize("name", ["abc", "x" * 33, ""])
async def test_group_name_checked_before_sending(
    client: AsyncClient, sandbox: Sandbox, name: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await client.call_center.add_group(name)
    assert info.value.field == "groupName"
    assert sent(sandbox) == 0


async def test_sandbox_enforces_group_rules(client: AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(InvalidParameterError):
        await raw(client, "cc/seatGroup/addGroup", {"groupName": "abc", "appId": APP})
    with pytest.raises(AuthenticationError):
        await raw(client, "cc/seatGroup/addGroup", {"groupName": "test-1", "appId": "nope"})
    assert sandbox.state.call_center.groups == {}


async def test_add_group_without_app_id_is_refused(sandbox: Sandbox) -> None:
    async with make_client(sandbox, app_id=None) as client:
        with pytest.raises(RequestValidationError, match="appId"):
            await client.call_center.add_group("test-1")
    assert sent(sandbox) == 0


# -- agents ------------------------------------------------------------------------------------


async def test_add_agents(client: AsyncClient, sandbox: Sandbox) -> None:
    group_id = await new_group(client)
    agents = await client.call_center.add_agents(group_id, 2, display_num="1234", country_code="91")
    assert len(agents) == 2
    assert len({a.key_id for a in agents}) == 2
    page = await client.call_center.agent_page(voice_group_id=group_id)
    assert {a.name for a in page.records} == {a.name for a in agents}
    assert all(a.password and a.account for a in page.records)
    assert (await client.call_center.group_page()).records[0].count_seat == 2


async def test_agents_of_unknown_group_is_data_not_found(
    client: AsyncClient, sandbox: Sandbox
) -> None:
    with pytest.raises(DataNotFoundError) as info:
        await client.call_center.add_agents(999, 1)
    assert info.value.status == "-24"


async def test_too_many_agents_is_agent_limit(client: AsyncClient, sandbox: Sandbox) -> None:
    sandbox.state.call_center.max_agents = 3
    group_id = await new_group(client)
    await client.call_center.add_agents(group_id, 2)
    with pytest.raises(AgentLimitError) as info:
        await client.call_center.add_agents(group_id, 2)
    assert info.value.status == "-36"
    assert len(sandbox.state.call_center.agents) == 2


async def test_bad_agent_arguments_refused_before_sending(
    client: AsyncClient, sandbox: Sandbox
) -> None:
    for args, field in (((0, 1), "voiceGroupId"), ((5, 0), "size"), ((5, 1, "12-4"), "displayNum")):
        with pytest.raises(RequestValidationError) as info:
            await client.call_center.add_agents(*args)
        assert info.value.field == field
    assert sent(sandbox) == 0


async def test_lost_answer_to_a_creation_is_never_resent(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        group_id = await new_group(client)
        sandbox.faults = Faults(drop_rate=1.0)
        with pytest.raises(OutcomeUnknownError) as info:
            await client.call_center.add_agents(group_id, 2)
        assert info.value.request == {"voiceGroupId": group_id, "size": 2}
        with pytest.raises(OutcomeUnknownError):
            await client.call_center.add_group("other-group")
    state = sandbox.state
    assert len(state.call_center.agents) == 2
    assert len(state.call_center.groups) == 2
    assert state.requests["cc/seat/addSeatList"] == 1
    assert state.requests["cc/seatGroup/addGroup"] == 2


async def test_agent_passwords_never_in_repr_or_logs(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_client(sandbox) as client:
        group_id = await new_group(client)
        await client.call_center.add_agents(group_id, 3)
        sandbox.faults = Faults(error_rate=1.0, limit=2, endpoints=frozenset({"cc/seat/query"}))
        page = await client.call_center.agent_page()
    passwords = [agent["password"] for agent in sandbox.state.call_center.agents]
    assert [a.password for a in page.records] == passwords[::-1]
    assert caplog.records, "the two retries should have been logged"
    shown = [repr(page), repr(page.records), str(page.records[0])]
    shown += [record.getMessage() for record in caplog.records]
    for text in shown:
        for password in passwords:
            assert password not in text


# -- over a real socket ------------------------------------------------------------------------


async def test_whole_flow_over_a_real_socket(
    socket_client: AsyncClient, sandbox: Sandbox, numbers_file: Path
) -> None:
    cc = socket_client.call_center
    group_id = await new_group(socket_client)
    agents = await cc.add_agents(group_id, 2)
    uploaded = await cc.upload_numbers(numbers_file)
    task_id = await cc.submit_task(
        uploaded.file_path, "numbers.xlsx", TaskType.GROUP_CALL_TO_AGENT, [group_id], callout_rate=1
    )
    assert len(agents) == 2
    assert task_id == sandbox.state.call_center.tasks[0]["taskId"]
    assert (await cc.agent_page(voice_group_id=group_id)).total == 2
    assert sandbox.state.call_center.tasks_submitted == 1
