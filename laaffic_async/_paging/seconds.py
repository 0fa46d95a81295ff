"""Reading one second of call records on its own, whole: the narrow read behind records().

When pages split a second ambiguously (:mod:`laaffic_async._core.ties`),
its records are read with a ``[t, t]`` window, which one page of up to 100
records holds whole; a busier second is read account by account
(``phoneName``: an account holds one call at a time, so one account's share
of a second is small).  The caller checks the answer
(:func:`~laaffic_async._core.ties.settle_group`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from .._core.ties import describe_key
from .._core.windows import PAD
from ..errors import PaginationError
from ..models import CallRecord, RecordPage

__all__ = ["Query", "read_second"]

#: ``query((strTime, endTime), current, size, phoneName)``: one recordSipQuery page.
Query = Callable[[tuple[datetime, datetime], int, int, str | None], Awaitable[RecordPage]]
#: The most records one page holds (recordSipQuery: "size: 1-100"): a second read on its own
#: must fit in one page, or be split by account.
_WHOLE = 100
#: Extra pages of a crowded second read to find accounts a shuffled order kept hiding.
_ACCOUNT_ROUNDS = 3


async def read_second(
    query: Query,
    second: datetime,
    seen: Sequence[CallRecord],
    *,
    phone_name: str | None,
    earliest: datetime,
) -> tuple[int, Sequence[CallRecord]]:
    """Every record submitted in ``second``: ``(total the server reports, records)``.

    A ``[t, t]`` window, which one page holds whole up to 100 records;
    more than that are read account by account (an account holds one
    call at a time, so a second holds few of one account's records).
    """
    page = await query((second, second), 1, _WHOLE, phone_name)
    if page.total == 0 and seen:
        # A server that excludes one end of the window: read the second with its neighbours.
        window = (max(second - PAD, earliest), second + PAD)
        wide = await query(window, 1, _WHOLE, phone_name)
        if wide.total <= len(wide.records):
            alone = [record for record in wide.records if record.submit_time == second]
            return len(alone), alone
        return page.total, page.records
    if page.total <= len(page.records):
        return page.total, page.records
    if phone_name is not None:
        raise PaginationError(
            f"{describe_key(second)} holds {page.total} records of account "
            f"{phone_name!r}, more than one page ({_WHOLE}) of a second can be read "
            "whole: its completeness cannot be established"
        )
    accounts = {r.phone_name for r in (*seen, *page.records) if r.phone_name}
    read: set[str] = set()
    found: list[CallRecord] = []
    counted = 0
    for current in range(2, 2 + -(-page.total // _WHOLE) + _ACCOUNT_ROUNDS):
        for account in sorted(accounts - read):
            read.add(account)
            part = await query((second, second), 1, _WHOLE, account)
            if part.total > len(part.records):
                raise PaginationError(
                    f"{describe_key(second)} holds {part.total} records of account "
                    f"{account!r}, more than one page ({_WHOLE}): its completeness cannot "
                    "be established"
                )
            found.extend(part.records)
            counted += part.total
        if counted >= page.total:
            break
        # Accounts not met yet: a further page of the second names more of them.
        more = await query((second, second), current, _WHOLE, None)
        accounts.update(r.phone_name for r in more.records if r.phone_name)
    return page.total, found
