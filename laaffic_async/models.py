"""Frozen values the SDK takes and returns.

Names are the vendor pages' meanings in snake_case; the wire spellings
(``displayNum``, ``submitTime``) live only in the private converter.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._core import validators as v
from .errors import LaafficError

#: The longest ``Call.ref`` a journal accepts.
REF_MAX = 200

__all__ = [
    "Call",
    "CallOutcome",
    "CallRecord",
    "Credentials",
    "PlacedCall",
    "ReconcileResult",
    "RecordPage",
]


def _check_callee(_: object, __: attrs.Attribute[Any], value: object) -> None:
    v.digits("callee", value, v.CALLEE_DIGITS)


def _check_display_num(_: object, __: attrs.Attribute[Any], value: object) -> None:
    v.optional_digits("displayNum", value, v.DISPLAY_NUM_DIGITS)


def _check_account(_: object, __: attrs.Attribute[Any], value: object) -> None:
    v.required_text("account", value)


def _check_called_info(_: object, __: attrs.Attribute[Any], value: object) -> None:
    v.optional_text("calledInfo", value, max_len=v.CALLED_INFO_MAX)


def _check_ref(_: object, __: attrs.Attribute[Any], value: object) -> None:
    v.optional_text("ref", value, max_len=REF_MAX)


def _check_app_id(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        v.required_text("appId", value)


@attrs.frozen
class Credentials:
    """An API key and its secret. The secret never appears in ``repr``."""

    api_key: str
    api_secret: str = attrs.field(repr=False)


@attrs.frozen
class Call:
    """One sendSip request: who to call and from which phone account.

    Validated when built, so a bad row fails before anything is sent::

        >>> Call(callee="932111111111", account="test_001").callee
        '932111111111'
        >>> Call(callee="+93 211", account="test_001")
        Traceback (most recent call last):
        ...
        laaffic_async.errors.RequestValidationError: callee: must be a string of 7-15 digits ...

    ``app_id=None`` means the client's default appId.  ``ref`` is the
    caller's own stable reference for the row (a CRM id, a line number):
    never sent to the API, it is what a
    :class:`~laaffic_async.journal.DialJournal` keys the call by.
    """

    callee: str = attrs.field(validator=_check_callee)
    account: str = attrs.field(validator=_check_account)
    display_num: str | None = attrs.field(default=None, validator=_check_display_num)
    called_info: str | None = attrs.field(default=None, validator=_check_called_info)
    app_id: str | None = attrs.field(default=None, validator=_check_app_id)
    # metadata wire=False: the converter never puts it in a request body.
    ref: str | None = attrs.field(default=None, validator=_check_ref, metadata={"wire": False})


@attrs.frozen
class PlacedCall:
    """A call the platform accepted: ``voice_id`` is the "data" of the response."""

    voice_id: str
    call: Call


@attrs.frozen
class CallOutcome:
    """What became of one :class:`Call` of a batch.

    Exactly one of ``voice_id`` and ``error`` is set.  An
    :class:`~laaffic_async.errors.OutcomeUnknownError` means the call may
    have been placed: it was not retried.  ``index`` is the call's position
    in the batch's input, counting from 0, so outcomes that arrive in
    completion order can be matched to their rows.  ``replayed`` is True
    for an outcome a :class:`~laaffic_async.journal.DialJournal` already
    held from an earlier run (nothing was sent for it in this run).
    """

    call: Call
    voice_id: str | None = None
    error: LaafficError | None = None
    attempts: int = 1
    index: int | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        """True when the platform accepted the call."""
        return self.error is None and self.voice_id is not None


@attrs.frozen
class CallRecord:
    """One row of recordSipQuery: a call's times, duration and cost.

    Times are aware datetimes, money is :class:`~decimal.Decimal` (USD for
    ``cost`` and ``rate`` unless ``currency`` says otherwise).  Fields the
    server leaves out or sends empty are ``None``; fields it adds later are
    ignored.
    """

    voice_id: str
    submit_time: datetime
    callee: str | None = None
    display_num: str | None = None
    sip_group_name: str | None = None
    phone_name: str | None = None
    code: str | None = None
    call_time: datetime | None = None
    ringing_time: datetime | None = None
    answer_time: datetime | None = None
    hangup_time: datetime | None = None
    call_duration: int | None = None
    charged_duration: int | None = None
    termination_code: str | None = None
    termination_reason: str | None = None
    cost: Decimal | None = None
    bill_period: str | None = None
    rate: Decimal | None = None
    recording_file_id: str | None = None
    currency: str | None = None


@attrs.frozen
class ReconcileResult:
    """What :meth:`AsyncClient.reconcile <laaffic_async.AsyncClient.reconcile>` found.

    ``placed`` is True when the call exists in the platform's call records
    (``record`` is that record, ``voice_id`` its id) and False when it
    provably never ran (both ``None``): no record appeared by
    ``sent_at + settle``.
    """

    call: Call
    placed: bool
    record: CallRecord | None = None

    @property
    def voice_id(self) -> str | None:
        """The record's voiceId when placed, else ``None``."""
        return None if self.record is None else self.record.voice_id


@attrs.frozen
class RecordPage:
    """One page of recordSipQuery, as the server numbered it."""

    total: int
    size: int
    current: int
    pages: int
    records: list[CallRecord]
    search_count: bool | None = None
