"""The call-center namespace: ``client.call_center``.

Agent groups, agents, number lists and dialing tasks (the cc/... endpoints
of the call-center quick start page and NOTES.md)::

    async with AsyncClient(key, secret, app_id="HsiT9A6d") as client:
        cc = client.call_center
        await cc.add_group("support-1")
        group = [g async for g in cc.groups(group_name="support-1")][0]
        agents = await cc.add_agents(group.voice_group_id, 2)
        numbers = await cc.upload_numbers("numbers.xlsx")
        task_id = await cc.submit_task(
            numbers.file_path, "numbers.xlsx", TaskType.GROUP_CALL_TO_AGENT,
            [group.voice_group_id], callout_rate=1,
        )

Retry safety follows :meth:`AsyncClient.request`: queries and uploads are
retried after transient failures; creating groups or agents and submitting
a task are never re-sent once their body may have reached the server (a
re-sent submitTask dials every number again, a re-sent addSeatList creates
more agents), so a lost answer raises
:class:`~laaffic_async.errors.OutcomeUnknownError` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskGroup

from ._callcenter_models import (
    Agent,
    AgentGroup,
    AgentPage,
    AgentRecord,
    GroupPage,
    Task,
    TaskPage,
    TaskType,
    UploadedNumbers,
)
from ._core import callcenter as build
from ._core.answers import (
    read_agent_page,
    read_agents,
    read_group_page,
    read_task_id,
    read_task_page,
    read_uploaded,
)
from ._core.requests import ApiRequest
from ._numberfile import NumberFile, check_number_file, upload_request
from ._paging.liststream import ListStream

if TYPE_CHECKING:
    from ._io.caller import Caller

__all__ = ["CallCenter"]

log = logging.getLogger("laaffic_async")


def _not_resent(request: ApiRequest, subject: object) -> ApiRequest:
    # ``dials`` is the client's "never re-send once the body may have left" switch.
    return attrs.evolve(request, dials=True, subject=subject)


def _numeric(value: str | None) -> int:
    # Ids grow with creation, so they sort like creation times (-1 when absent or not a number).
    return int(value) if value is not None and value.isdigit() else -1


def _agent_key(agent: AgentRecord) -> tuple[int, str]:
    return _numeric(agent.key_id), agent.account or ""


def _agent_identity(agent: AgentRecord) -> Hashable:
    return agent.key_id or agent.account


def _group_id(group: AgentGroup) -> int:
    return group.voice_group_id


def _task_key(task: Task) -> int:
    return _numeric(task.task_id)


def _task_identity(task: Task) -> str:
    return task.task_id


def _no_task_group() -> TaskGroup | None:
    return None


class CallCenter:
    """Call-center management, bound to one :class:`~laaffic_async.AsyncClient`.

    Get it as ``client.call_center``; it holds no state of its own.
    """

    def __init__(
        self, caller: Caller, task_group: Callable[[], TaskGroup | None] | None = None
    ) -> None:
        self._caller = caller
        # The running task group the list streams' workers may live in (an entered client's).
        self._task_group = task_group or _no_task_group

    def __repr__(self) -> str:
        return f"CallCenter(base_url={self._caller.base_url!r})"

    # -- writes ------------------------------------------------------------------------------

    async def add_group(self, group_name: str, app_id: str | None = None) -> None:
        """Create an agent group (cc/seatGroup/addGroup); the name is 4-32 characters.

        The platform answers ``data: null``: look the new group's
        ``voice_group_id`` up with ``groups(group_name=...)``.  Raises
        :class:`~laaffic_async.errors.DataExistsError` (-20) for a name in use.
        """
        request = build.add_group_request(group_name, app_id, self._caller.app_id)
        await self._caller.request(_not_resent(request, {"groupName": group_name}))

    async def add_agents(
        self,
        voice_group_id: int,
        size: int,
        display_num: str | None = None,
        country_code: str | None = None,
    ) -> list[Agent]:
        """Create ``size`` agents in a group (cc/seat/addSeatList) and return them.

        ``country_code`` is the wire's ``ccode`` (``"91"``).  Raises
        :class:`~laaffic_async.errors.DataNotFoundError` (-24) for an unknown
        group and :class:`~laaffic_async.errors.AgentLimitError` (-36) past the
        account's agent cap.
        """
        request = build.add_agents_request(voice_group_id, size, display_num, country_code)
        subject = {"voiceGroupId": voice_group_id, "size": size}
        data = await self._caller.request(_not_resent(request, subject))
        return read_agents(request.endpoint, data)

    async def upload_numbers(
        self, file: NumberFile, file_name: str | None = None
    ) -> UploadedNumbers:
        """Upload an .xls/.xlsx number list (cc/preview/upload) for :meth:`submit_task`.

        ``file`` is a path, the file's bytes, or a binary file object (read
        from its current position).  ``file_name`` defaults to the path's or
        the file object's name and must be 5-32 characters ending in .xls or
        .xlsx; it is checked before anything is read.  The file is base64
        encoded in a worker thread straight into the request body, so memory
        holds one encoded copy and never the file twice.

        Raises :class:`~laaffic_async.errors.FileFormatError` (-39),
        :class:`~laaffic_async.errors.FileTooLargeError` (-38) or
        :class:`~laaffic_async.errors.TooManyRowsError` (-40, more than
        100,000 rows) when the platform refuses the list.
        """
        name = check_number_file(file, file_name)
        request = await anyio.to_thread.run_sync(upload_request, file, name)
        return read_uploaded(request.endpoint, await self._caller.request(request))

    async def submit_task(
        self,
        file_path: str,
        file_name: str,
        task_type: TaskType | int,
        voice_group_ids: Iterable[int],
        app_id: str | None = None,
        callout_rate: int | None = None,
        display_num: str | None = None,
        country_code: str | None = None,
        remark: str | None = None,
    ) -> int | None:
        """Create a dialing task over an uploaded list (cc/preview/submitTask).

        ``file_path`` is :attr:`UploadedNumbers.file_path`.  A
        :attr:`TaskType.GROUP_CALL_TO_AGENT` task needs exactly one group and
        a ``callout_rate``; other combinations are refused before sending.
        Returns the task id, or ``None`` when the platform answers without one.

        This dials people: like sendSip it is never re-sent once the body may
        have left, and a lost answer raises
        :class:`~laaffic_async.errors.OutcomeUnknownError` whose ``request``
        is the :class:`~laaffic_async.TaskSubmission` sent.
        """
        request = build.submit_task_request(
            file_path=file_path,
            file_name=file_name,
            task_type=task_type,
            voice_group_ids=voice_group_ids,
            app_id=app_id,
            default_app_id=self._caller.app_id,
            callout_rate=callout_rate,
            display_num=display_num,
            country_code=country_code,
            remark=remark,
        )
        data = await self._caller.request(request)
        task_id = read_task_id(data)
        if task_id is None and data is not None:
            log.warning("%s: task created, but its id is unreadable: %.80r", request.endpoint, data)
        return task_id

    # -- single pages --------------------------------------------------------------------------

    async def group_page(
        self, current: int = 1, size: int = 100, *, group_name: str | None = None
    ) -> GroupPage:
        """One raw page of cc/seatGroup/query (``groups()`` walks them all)."""
        request = build.group_query_request(current, size, group_name)
        return read_group_page(request.endpoint, await self._caller.request(request))

    async def agent_page(
        self,
        current: int = 1,
        size: int = 100,
        *,
        voice_group_id: int | None = None,
        name: str | None = None,
        status: int | None = None,
        enable: bool | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> AgentPage:
        """One raw page of cc/seat/query (``agents()`` walks them all)."""
        request = build.agent_query_request(
            current,
            size,
            voice_group_id=voice_group_id,
            name=name,
            status=status,
            enable=enable,
            start=start,
            end=end,
        )
        return read_agent_page(request.endpoint, await self._caller.request(request))

    async def task_page(
        self,
        current: int = 1,
        size: int = 100,
        *,
        task_type: TaskType | int | None = None,
        status: int | None = None,
    ) -> TaskPage:
        """One raw page of cc/preview/query (``tasks()`` walks them all)."""
        request = build.task_query_request(current, size, task_type=task_type, status=status)
        return read_task_page(request.endpoint, await self._caller.request(request))

    # -- every item of a list ------------------------------------------------------------------

    def groups(
        self, group_name: str | None = None, *, page_size: int = 100, concurrency: int = 4
    ) -> ListStream[AgentGroup]:
        """Every agent group (cc/seatGroup/query), optionally only those named ``group_name``.

        Arguments are checked here, before any request; see :class:`ListStream`.
        """
        build.group_query_request(1, page_size, group_name)

        async def fetch(current: int, size: int) -> GroupPage:
            return await self.group_page(current, size, group_name=group_name)

        return ListStream(
            "cc/seatGroup/query",
            fetch,
            page_size=page_size,
            concurrency=concurrency,
            sort_key=_group_id,
            identity=_group_id,
            task_group=self._task_group,
        )

    def agents(
        self,
        voice_group_id: int | None = None,
        *,
        name: str | None = None,
        status: int | None = None,
        enable: bool | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 100,
        concurrency: int = 4,
    ) -> ListStream[AgentRecord]:
        """Every agent (cc/seat/query), filtered by group, name, status, enable or creation time.

        Each :class:`~laaffic_async.AgentRecord` carries the agent's SIP
        password, kept out of ``repr``.  ``start``/``end`` must be aware
        datetimes.  Arguments are checked here, before any request.
        """
        filters: dict[str, Any] = {
            "voice_group_id": voice_group_id,
            "name": name,
            "status": status,
            "enable": enable,
            "start": start,
            "end": end,
        }
        build.agent_query_request(1, page_size, **filters)

        async def fetch(current: int, size: int) -> AgentPage:
            return await self.agent_page(current, size, **filters)

        return ListStream(
            "cc/seat/query",
            fetch,
            page_size=page_size,
            concurrency=concurrency,
            sort_key=_agent_key,
            identity=_agent_identity,
            task_group=self._task_group,
        )

    def tasks(
        self,
        *,
        task_type: TaskType | int | None = None,
        status: int | None = None,
        page_size: int = 100,
        concurrency: int = 4,
    ) -> ListStream[Task]:
        """Every dialing task (cc/preview/query), optionally of one type or status.

        The vendor documents no filters for this endpoint; ``type`` and
        ``status`` are sent as the task rows name them.  Arguments are
        checked here, before any request.
        """
        build.task_query_request(1, page_size, task_type=task_type, status=status)

        async def fetch(current: int, size: int) -> TaskPage:
            return await self.task_page(current, size, task_type=task_type, status=status)

        return ListStream(
            "cc/preview/query",
            fetch,
            page_size=page_size,
            concurrency=concurrency,
            sort_key=_task_key,
            identity=_task_identity,
            task_group=self._task_group,
        )
