"""The record-window slicer and horizon check: property-based over arbitrary windows."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from laaffic_async import RequestValidationError
from laaffic_async._core.windows import (
    HORIZON,
    MAX_QUERY_SPAN,
    PAD,
    SLICE_SPAN,
    TimeSlice,
    check_window,
    earliest_start,
    slice_window,
)

SECOND = timedelta(seconds=1)
NOW = datetime(2026, 11, 22, 20, 0, 0, tzinfo=UTC)

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
zones = st.one_of(
    offsets,
    st.sampled_from(
        [ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")]
    ),
)
# Imaginary local times (inside a DST gap) never compare equal across zones (PEP 495), and
# wall-clock arithmetic can land in one: so starts are real, and ends are computed in UTC.
starts = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2030, 1, 1),
    timezones=zones,
    allow_imaginary=False,
)


def later(start: datetime, length: timedelta) -> datetime:
    """``start + length`` in elapsed time, expressed in ``start``'s zone (never imaginary)."""
    assert start.tzinfo is not None
    return (start.astimezone(UTC) + length).astimezone(start.tzinfo)


lengths = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=200)),
    # Right at the multiples of a slice, where off-by-one errors live.
    st.builds(
        lambda k, jitter: max(timedelta(0), k * SLICE_SPAN + timedelta(microseconds=jitter)),
        st.integers(min_value=0, max_value=6),
        st.integers(min_value=-2_000_000, max_value=2_000_000),
    ),
)


def floor(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def owners(slices: list[TimeSlice], moment: datetime) -> list[int]:
    return [s.index for s in slices if s.owns(moment)]


@given(starts, lengths)
@example(datetime(2026, 9, 24, 0, 0, tzinfo=UTC), timedelta(days=58))
@example(datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC), 2 * SLICE_SPAN)
@example(datetime(2026, 1, 1, tzinfo=UTC), timedelta(0))
@example(datetime(2021, 11, 7, 1, 0, tzinfo=ZoneInfo("America/New_York")), timedelta(0))  # fold
def test_slices_tile_the_window_exactly(start: datetime, length: timedelta) -> None:
    end = later(start, length)
    slices = slice_window(start, end)
    assert [s.index for s in slices] == list(range(len(slices)))
    # Contiguous: no gap, no overlap, from start to end. In UTC: an aware time in a repeated
    # hour (a DST fold) never compares equal to one in another zone (PEP 495).
    assert slices[0].start == start.astimezone(UTC)
    assert slices[-1].end == end.astimezone(UTC)
    for before, after in itertools.pairwise(slices):
        assert before.end == after.start
        assert before.start < before.end
    assert [s.closed for s in slices] == [False] * (len(slices) - 1) + [True]
    # As few slices as the 31-day rule allows.
    # Elapsed time, not wall-clock time: a DST change inside the window counts as it is.
    needed = math.ceil((end.astimezone(UTC) - floor(start).astimezone(UTC)) / SLICE_SPAN)
    assert len(slices) == max(1, needed)


@given(starts, lengths)
@example(datetime(2021, 11, 7, 1, 30, tzinfo=ZoneInfo("America/New_York")), timedelta(days=40))
def test_query_windows_are_whole_seconds_at_most_31_days_and_pad_every_boundary(
    start: datetime, length: timedelta
) -> None:
    end = later(start, length)
    slices = slice_window(start, end)
    for s in slices:
        assert s.end - s.start <= MAX_QUERY_SPAN
        assert s.query_start.microsecond == 0
        assert s.query_end.microsecond == 0
        assert timedelta(0) <= s.query_end - s.query_start <= MAX_QUERY_SPAN
        # The query never starts before the window (the horizon) ...
        assert s.query_start >= floor(start)
        # ... and reaches strictly past every owned moment on the end side.
        assert s.query_end > s.end
        if s.index > 0:
            assert s.query_start == s.start - PAD
    assert slices[0].query_start == floor(start).astimezone(UTC)


@given(starts, lengths, st.floats(min_value=-0.01, max_value=1.01))
# An end in New York's repeated hour (the fold): found by this test, once, at random.
@example(datetime(2021, 11, 7, 1, 0, tzinfo=ZoneInfo("America/New_York")), timedelta(0), 0.0)
def test_every_moment_is_owned_by_exactly_one_slice(
    start: datetime, length: timedelta, where: float
) -> None:
    end = later(start, length)
    slices = slice_window(start, end)
    moment = later(start, length * min(max(where, 0.0), 1.0))
    assert len(owners(slices, moment)) == 1
    for boundary in [s.start for s in slices] + [end]:
        assert len(owners(slices, boundary)) == 1
    assert owners(slices, start - timedelta(microseconds=1)) == []
    assert owners(slices, end + timedelta(microseconds=1)) == []


@given(starts, lengths, st.integers(min_value=0, max_value=10**9))
def test_a_whole_second_record_comes_back_whatever_the_servers_inclusivity(
    start: datetime, length: timedelta, at: int
) -> None:
    """An owned record is strictly inside its query, except at the unpaddable window start."""
    start = start.astimezone(UTC)  # whole seconds of elapsed time, not of a wall clock
    end = later(start, length)
    slices = slice_window(start, end)
    span = int((end - floor(start)).total_seconds())
    moment = floor(start) + timedelta(seconds=at % (span + 1))
    found = owners(slices, moment)
    if not found:  # the whole second before a fractional start: outside the window
        assert moment < start
        return
    (index,) = found
    owner = slices[index]
    assert owner.query_start <= moment < owner.query_end
    if moment > floor(start):
        assert owner.query_start < moment


def test_slice_grid_is_utc_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 1, tzinfo=berlin)  # DST starts on March 29th
    slices = slice_window(start, start + timedelta(days=58))
    for s in slices:
        assert s.query_end - s.query_start <= MAX_QUERY_SPAN
        assert s.query_start.utcoffset() == timedelta(0)


def test_resliced_tail_has_the_same_boundaries() -> None:
    """Resuming from slice k re-slices from its start and finds the same grid."""
    start = datetime(2026, 9, 24, 3, 4, 5, 678, tzinfo=UTC)
    end = start + timedelta(days=100)
    slices = slice_window(start, end)
    tail = slice_window(slices[2].start, end)
    assert [(s.start, s.end) for s in tail] == [(s.start, s.end) for s in slices[2:]]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime(2026, 11, 1), datetime(2026, 11, 2, tzinfo=UTC), "strTime"),
        (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2), "endTime"),
        ("2026-11-01", datetime(2026, 11, 2, tzinfo=UTC), "strTime"),
        (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), "endTime"),
    ],
)
def test_bad_windows_are_refused_naming_the_wire_field(
    start: object, end: object, field: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        check_window(start, end, NOW.timestamp())
    assert info.value.field == field


def test_naive_message_says_why() -> None:
    with pytest.raises(RequestValidationError, match="naive"):
        check_window(datetime(2026, 11, 1), NOW, NOW.timestamp())


def test_horizon_message_names_the_earliest_allowed_time() -> None:
    earliest = NOW - HORIZON
    assert earliest_start(NOW.timestamp()) == earliest
    with pytest.raises(RequestValidationError) as info:
        check_window(earliest - SECOND, NOW, NOW.timestamp())
    assert info.value.field == "strTime"
    assert earliest.isoformat() in str(info.value)
    assert "two-month" in str(info.value)
    # The earliest allowed time itself is fine, and the window comes back in UTC.
    shanghai = earliest.astimezone(ZoneInfo("Asia/Shanghai"))
    assert check_window(shanghai, NOW, NOW.timestamp()) == (earliest, NOW)


@given(
    st.timedeltas(min_value=-timedelta(days=70), max_value=timedelta(0)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=80)),
    st.floats(min_value=0, max_value=0.999),
)
def test_checked_windows_never_query_before_the_horizon(
    back: timedelta, length: timedelta, fraction: float
) -> None:
    now = NOW.timestamp() + fraction
    start = datetime.fromtimestamp(now, UTC) + back
    if floor(start).timestamp() < now - HORIZON.total_seconds():
        with pytest.raises(RequestValidationError) as info:
            check_window(start, later(start, length), now)
        assert info.value.field == "strTime"
        return
    window = check_window(start, later(start, length), now)
    for s in slice_window(*window):
        assert s.query_start.timestamp() >= now - HORIZON.total_seconds()


def test_empty_window_is_one_closed_slice() -> None:
    (only,) = slice_window(NOW, NOW)
    assert only.owns(NOW)
    assert not only.owns(NOW + timedelta(microseconds=1))
    assert only.query_end - only.query_start == SECOND
