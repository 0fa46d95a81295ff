"""client.call_center.submit_task and task pages against the sandbox: rules and retry safety."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from laaffic_async import (
    AsyncClient,
    DataNotFoundError,
    InvalidParameterError,
    OutcomeUnknownError,
    RequestValidationError,
    TaskSubmission,
    TaskType,
)
from laaffic_async.testing import Faults, Sandbox
from tests.callcenter_support import APP, make_client, new_group, raw, sent, write_numbers

pytestmark = pytest.mark.anyio


@pytest.fixture
def numbers_file(tmp_path: Path) -> Path:
    return write_numbers(tmp_path)


# -- tasks -------------------------------------------------------------------------------------


@pytest.fixture
async def ready(client: AsyncClient, numbers_file: Path) -> tuple[int, str]:
    """An agent group and an uploaded list: what a task needs."""
    group_id = await new_group(client)
    uploaded = await client.call_center.upload_numbers(numbers_file)
    return group_id, uploaded.file_path


async def test_submit_group_call_to_agent(
    client: AsyncClient, sandbox: Sandbox, ready: tuple[int, str]
) -> None:
    group_id, path = ready
    task_id = await client.call_center.submit_task(
        path, "numbers.xlsx", TaskType.GROUP_CALL_TO_AGENT, [group_id], callout_rate=1, remark="r"
    )
    assert isinstance(task_id, int)
    cc = sandbox.state.call_center
    assert (cc.tasks_submitted, cc.task_dials) == (1, 3)  # four numbers, one duplicate
    page = await client.call_center.task_page()
    task = page.records[0]
    assert (task.task_id, task.task_type, task.voice_group_id) == (
        str(task_id),
        TaskType.GROUP_CALL_TO_AGENT,
        (group_id,),
    )
    assert (task.file_path, task.number_total_count, task.remark) == (path, 4, "r")
    assert task.create_time is not None
    assert task.create_time.utcoffset() is not None


async def test_submit_automatic_calling_to_several_groups(
    client: AsyncClient, sandbox: Sandbox, ready: tuple[int, str]
) -> None:
    group_id, path = ready
    other = await new_group(client, "support-2")
    task_id = await client.call_center.submit_task(
        path, "numbers.xlsx", TaskType.AUTOMATIC_CALLING, [group_id, other], display_num="1234"
    )
    assert task_id is not None
    assert sandbox.state.call_center.tasks[0]["voiceGroupId"] == [group_id, other]
    filtered = await client.call_center.task_page(task_type=TaskType.GROUP_CALL_TO_AGENT)
    assert filtered.total == 0
    assert (await client.call_center.task_page(task_type=0, status=1)).total == 1


async def test_task_id_may_be_null(
    client: AsyncClient, sandbox: Sandbox, ready: tuple[int, str]
) -> None:
    sandbox.state.call_center.return_task_id = False
    group_id, path = ready
    result = await client.call_center.submit_task(path, "numbers.xlsx", 0, [group_id])
    assert result is None
    assert sandbox.state.call_center.tasks_submitted == 1


@pytest.mark.parametrize(
    ("task_type", "groups", "rate", "field"),
    [
        (TaskType.GROUP_CALL_TO_AGENT, [1, 2], 1, "voiceGroupId"),
        (TaskType.GROUP_CALL_TO_AGENT, [1], None, "calloutRate"),
        (TaskType.AUTOMATIC_CALLING, [], None, "voiceGroupId"),
        (5, [1], 1, "type"),
    ],
)
async def test_bad_task_combinations_refused_before_sending(
    client: AsyncClient, sandbox: Sandbox, task_type: Any, groups: list[int], rate: Any, field: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await client.call_center.submit_task(
            "/p", "numbers.xlsx", task_type, groups, callout_rate=rate
        )
    assert info.value.field == field
    assert sent(sandbox) == 0


async def test_sandbox_enforces_task_rules(
    client: AsyncClient, sandbox: Sandbox, ready: tuple[int, str]
) -> None:
    group_id, path = ready
    other = await new_group(client, "support-2")
    good = {"filePath": path, "fileName": "numbers.xlsx", "appId": APP, "calloutRate": 1}
    for wrong in (
        {"type": 1, "voiceGroupId": [group_id, other]},
        {"type": 1, "voiceGroupId": [group_id], "calloutRate": None},
        {"type": 2, "voiceGroupId": [group_id]},
        {"type": 0, "voiceGroupId": []},
    ):
        with pytest.raises(InvalidParameterError):
            await raw(client, "cc/preview/submitTask", {**good, **wrong})
    assert sandbox.state.call_center.tasks_submitted == 0


async def test_unknown_list_or_group_is_data_not_found(
    client: AsyncClient, sandbox: Sandbox, ready: tuple[int, str]
) -> None:
    group_id, path = ready
    with pytest.raises(DataNotFoundError):
        await client.call_center.submit_task("/mnt/nope.xlsx", "numbers.xlsx", 0, [group_id])
    with pytest.raises(DataNotFoundError):
        await client.call_center.submit_task(path, "numbers.xlsx", 0, [group_id, 1])
    assert sandbox.state.call_center.tasks_submitted == 0


async def test_submit_dropped_after_the_body_is_outcome_unknown(
    sandbox: Sandbox, ready: tuple[int, str], client: AsyncClient
) -> None:
    group_id, path = ready
    sandbox.faults = Faults(drop_rate=1.0, endpoints=frozenset({"cc/preview/submitTask"}))
    with pytest.raises(OutcomeUnknownError) as info:
        await client.call_center.submit_task(
            path, "numbers.xlsx", TaskType.GROUP_CALL_TO_AGENT, [group_id], callout_rate=2
        )
    assert isinstance(info.value.request, TaskSubmission)
    assert info.value.request.voice_group_id == (group_id,)
    assert info.value.request.callout_rate == 2
    cc = sandbox.state.call_center
    assert (cc.tasks_submitted, cc.task_dials) == (1, 3)
    assert sandbox.state.requests["cc/preview/submitTask"] == 1


async def test_submit_answered_with_5xx_is_outcome_unknown(
    sandbox: Sandbox, ready: tuple[int, str], client: AsyncClient
) -> None:
    group_id, path = ready
    sandbox.faults = Faults(error_rate=1.0, endpoints=frozenset({"cc/preview/submitTask"}))
    with pytest.raises(OutcomeUnknownError, match="HTTP 500"):
        await client.call_center.submit_task(path, "numbers.xlsx", 0, [group_id])
    assert sandbox.state.requests["cc/preview/submitTask"] == 1


async def test_submit_is_retried_when_it_never_left(sandbox: Sandbox, numbers_file: Path) -> None:
    async with make_client(sandbox) as client:
        group_id = await new_group(client)
        uploaded = await client.call_center.upload_numbers(numbers_file)
        sandbox.faults = Faults(refuse_connections=2)
        await client.call_center.submit_task(uploaded.file_path, "numbers.xlsx", 0, [group_id])
    assert sandbox.state.call_center.tasks_submitted == 1
