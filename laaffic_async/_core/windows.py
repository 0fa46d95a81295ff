"""Time windows for recordSipQuery: the horizon check and the 31-day slicer.

The recordSipQuery page says: records "for recent two months", and "the
maximum interval between the starting time and the ending time is 31
days".  A user's window may be any length inside the horizon, so it is cut
into consecutive slices here, before anything is sent.

Ownership and padding
---------------------
The pages do not say whether the server treats ``strTime``/``endTime`` as
inclusive or exclusive.  So every slice *owns* a half-open interval
``[start, end)`` (the last one owns ``[start, end]``, closing the user's
window), and *queries* that interval padded by one second on each side that
touches another slice and on the window's end.  Records that come back are
kept only if their ``submitTime`` is owned by the slice.  A record sitting
exactly on a boundary is therefore inside two query windows but owned by
exactly one slice: it comes out once, whatever the server's inclusivity.

The window's *start* is not padded: padding it could step before the
two-month horizon and earn a -25.  Query windows are whole seconds (the wire
format has no fractions), and the slice grid starts at the whole second of
``start``, so every query window is at most 31 days long.

All arithmetic is done in UTC: adding days to a datetime in a zone with
daylight saving moves wall-clock time, and a "31-day" query could then be
31 days and one hour long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from ..errors import RequestValidationError
from . import validators as v

__all__ = [
    "HORIZON",
    "MAX_QUERY_SPAN",
    "PAD",
    "SLICE_SPAN",
    "TimeSlice",
    "check_window",
    "earliest_start",
    "slice_window",
]

#: recordSipQuery: "for recent two months", taken as 60 days (the sandbox agrees).
HORIZON = timedelta(days=60)
#: recordSipQuery: "The maximum interval between the starting time and the ending time is 31 days".
MAX_QUERY_SPAN = timedelta(days=31)
#: How far a query reaches into a neighbour slice, so the server's inclusivity never matters.
PAD = timedelta(seconds=1)
#: Owned length of every slice but the last: padded on both sides it is exactly 31 days.
SLICE_SPAN = MAX_QUERY_SPAN - 2 * PAD

_SECOND = timedelta(seconds=1)


@attrs.frozen
class TimeSlice:
    """One slice of a record window: what it owns, and what it asks the server for.

    The slice owns ``start <= t < end`` (``start <= t <= end`` when
    ``closed``, which only the window's last slice is).  ``query_start`` and
    ``query_end`` are the ``strTime``/``endTime`` actually sent: the owned
    interval widened to whole seconds and padded by :data:`PAD` towards
    every neighbour, never longer than 31 days.  ``index`` counts slices
    from the window's start.
    """

    index: int
    start: datetime
    end: datetime
    closed: bool
    query_start: datetime
    query_end: datetime

    def owns(self, moment: datetime) -> bool:
        """True when a record submitted at ``moment`` belongs to this slice."""
        if moment < self.start:
            return False
        # `<=`, not `==`: a moment in a zone's repeated hour (a DST fold) never compares equal
        # to one in another zone (PEP 495), though ordering it is exact.
        return moment < self.end or (self.closed and moment <= self.end)


def _floor(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil(moment: datetime) -> datetime:
    return moment if not moment.microsecond else moment.replace(microsecond=0) + _SECOND


def earliest_start(now: float) -> datetime:
    """The oldest ``strTime`` the API serves at unix time ``now`` (rounded up to a second)."""
    return _ceil(datetime.fromtimestamp(now, UTC) - HORIZON)


def check_window(start: object, end: object, now: float) -> tuple[datetime, datetime]:
    """Validate a record window and return it in UTC.

    Refuses, with :class:`~laaffic_async.errors.RequestValidationError`
    naming the wire field: a naive or non-datetime bound (never guessed),
    ``end`` before ``start``, and a ``start`` older than the two-month
    horizon at ``now`` (the message names the earliest allowed time).
    """
    # UTC first: an aware time in a repeated hour (a DST fold) compares unequal to any
    # time in another zone (PEP 495), so mixed zones are compared in one.
    start = v.aware("strTime", start).astimezone(UTC)
    end = v.aware("endTime", end).astimezone(UTC)
    if end < start:
        raise RequestValidationError(
            "endTime", f"must not be before strTime ({start.isoformat()})", end
        )
    earliest = earliest_start(now)
    # The first query starts at the whole second of `start`, so that is what must fit.
    if _floor(start) < earliest:
        raise RequestValidationError(
            "strTime",
            f"is older than the API's two-month horizon (60 days): the earliest allowed time "
            f"is {earliest.isoformat()}",
            start,
        )
    return start, end


def slice_window(start: datetime, end: datetime) -> list[TimeSlice]:
    """Cut the closed window ``[start, end]`` into consecutive slices (see the module doc).

    Slice ``i`` owns ``[g_i, g_i+1)`` of the grid ``g_i = floor(start) + i * SLICE_SPAN``,
    clipped to the window; the last one is closed at ``end``.  There is
    always at least one slice, even for an empty window (``start == end``).
    Pure: no horizon check here (:func:`check_window` does that).
    """
    start = v.aware("strTime", start).astimezone(UTC)
    end = v.aware("endTime", end).astimezone(UTC)
    if end < start:
        raise RequestValidationError("endTime", "must not be before strTime", end)
    origin = _floor(start)
    count = max(1, -((origin - end) // SLICE_SPAN))  # ceil((end - origin) / SLICE_SPAN)
    slices = []
    for index in range(count):
        last = index == count - 1
        grid = origin + index * SLICE_SPAN
        following = origin + (index + 1) * SLICE_SPAN
        slices.append(
            TimeSlice(
                index=index,
                start=start if index == 0 else grid,
                end=end if last else following,
                closed=last,
                query_start=origin if index == 0 else grid - PAD,
                query_end=(_ceil(end) if last else following) + PAD,
            )
        )
    return slices
