"""Frozen values of the call-center endpoints and the recording extras.

Kept apart from :mod:`.models` so each file stays one concept and short;
``laaffic_async`` re-exports every public name.  Wire names come from
``../shared/api-reference/NOTES.md`` ("More endpoints"); the vendor pages
document only the request side of these endpoints, so the answer types are
tolerant: unknown fields are ignored and undocumented ones are optional.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = [
    "Agent",
    "AgentGroup",
    "AgentPage",
    "AgentRecord",
    "GroupPage",
    "RecordingUrl",
    "Task",
    "TaskPage",
    "TaskSubmission",
    "TaskType",
    "UploadedNumbers",
]


class TaskType(enum.IntEnum):
    """What a dialing task does (the ``type`` of cc/preview/submitTask)."""

    #: The platform dials every number and plays the configured flow.
    AUTOMATIC_CALLING = 0
    #: The platform dials numbers and transfers answered calls to one agent group.
    GROUP_CALL_TO_AGENT = 1


@attrs.frozen
class Agent:
    """One agent created by cc/seat/addSeatList (``data: [{keyId, name}]``)."""

    key_id: str
    name: str


@attrs.frozen
class AgentGroup:
    """One row of cc/seatGroup/query."""

    voice_group_id: int
    group_name: str
    #: How many agents the group holds.
    count_seat: int | None = None
    #: The group's incoming-call strategy code, as the server sends it.
    callin_strategy: str | None = None


@attrs.frozen
class AgentRecord:
    """One row of cc/seat/query: an agent and its SIP credential.

    ``password`` is the agent's SIP password: it is left out of ``repr`` (and
    so out of logs and tracebacks); read the attribute when provisioning a
    phone.  Fields beyond ``account`` and ``password`` are not documented by
    the vendor and are ``None`` when absent.
    """

    name: str | None = None
    account: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    key_id: str | None = None
    voice_group_id: int | None = None
    group_name: str | None = None
    status: str | None = None
    enable: str | None = None
    display_num: str | None = None
    create_time: datetime | None = None


@attrs.frozen
class UploadedNumbers:
    """The answer of cc/preview/upload: where the list lives and how many numbers it has.

    Pass ``file_path`` to :meth:`~laaffic_async.callcenter.CallCenter.submit_task`.
    ``number_same_count`` counts duplicates, which a task dials only once.
    """

    file_path: str
    number_total_count: int
    number_same_count: int


@attrs.frozen
class TaskSubmission:
    """A cc/preview/submitTask request exactly as sent (wire names, validated).

    Carried by :class:`~laaffic_async.errors.OutcomeUnknownError` as
    ``request`` when the task may or may not have been created, so it can be
    reconciled with :meth:`~laaffic_async.callcenter.CallCenter.tasks`.
    """

    file_path: str
    file_name: str
    type: TaskType
    voice_group_id: tuple[int, ...]
    app_id: str
    callout_rate: int | None = None
    display_num: str | None = None
    ccode: str | None = None
    remark: str | None = None


@attrs.frozen
class Task:
    """One row of cc/preview/query, read tolerantly.

    Only ``task_id`` is required (the server's ``taskId``, or ``id``);
    everything else is ``None`` when the server leaves it out.  ``type`` is
    the raw code; :attr:`task_type` reads it as a :class:`TaskType`.
    """

    task_id: str
    task_name: str | None = None
    file_name: str | None = None
    file_path: str | None = None
    type: int | None = None
    status: str | None = None
    voice_group_id: tuple[int, ...] = ()
    number_total_count: int | None = None
    number_same_count: int | None = None
    callout_rate: int | None = None
    remark: str | None = None
    create_time: datetime | None = None

    @property
    def task_type(self) -> TaskType | None:
        """``type`` as a :class:`TaskType`, or ``None`` when absent or unknown."""
        try:
            return None if self.type is None else TaskType(self.type)
        except ValueError:
            return None


@attrs.frozen
class RecordingUrl:
    """voice/getRecordingFileUrl's answer: a time-limited download URL.

    ``expire_time`` is an aware UTC datetime (the wire sends epoch milliseconds).
    """

    url: str
    expire_time: datetime


@attrs.frozen
class GroupPage:
    """One page of cc/seatGroup/query, as the server numbered it."""

    total: int
    size: int
    current: int
    pages: int
    records: list[AgentGroup]


@attrs.frozen
class AgentPage:
    """One page of cc/seat/query, as the server numbered it."""

    total: int
    size: int
    current: int
    pages: int
    records: list[AgentRecord]


@attrs.frozen
class TaskPage:
    """One page of cc/preview/query, as the server numbered it."""

    total: int
    size: int
    current: int
    pages: int
    records: list[Task]
