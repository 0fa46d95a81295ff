"""The converter's fast paths (added for records() throughput) keep the wire rules exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from cattrs.gen import make_dict_structure_fn, override
from hypothesis import given
from hypothesis import strategies as st

from laaffic_async._core.converter import _CONVERTER, camel, structure, to_wire
from laaffic_async._core.requests import dump_json
from laaffic_async.models import CallRecord, RecordPage

BASE: dict[str, Any] = {"voiceId": "2203031113381000002", "submitTime": "2022-01-18T14:42:40+08:00"}


def record(**fields: Any) -> CallRecord:
    return structure({**BASE, **fields}, CallRecord)


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({"callee": ""}, "callee", None),
        ({"callee": 91856321412}, "callee", "91856321412"),
        ({"callee": None}, "callee", None),
        ({"callDuration": 5}, "call_duration", 5),
        ({"callDuration": "5"}, "call_duration", 5),
        ({"callDuration": 5.0}, "call_duration", 5),
        ({"callDuration": ""}, "call_duration", None),
        ({"cost": "0.0040"}, "cost", Decimal("0.0040")),
        ({"cost": 1.2}, "cost", Decimal("1.2")),
        ({"cost": 2}, "cost", Decimal(2)),
        ({"cost": ""}, "cost", None),
        ({"answerTime": ""}, "answer_time", None),
        (
            {"answerTime": "2022-01-18T14:42:50Z"},
            "answer_time",
            datetime(2022, 1, 18, 14, 42, 50, tzinfo=UTC),
        ),
    ],
)
def test_values(fields: dict[str, Any], attribute: str, expected: object) -> None:
    value = getattr(record(**fields), attribute)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"callDuration": True}, "$.callDuration"),
        ({"callDuration": "5s"}, "$.callDuration"),
        ({"cost": True}, "$.cost"),
        ({"cost": "two"}, "$.cost"),
        ({"submitTime": "2022-01-18T14:42:40"}, "$.submitTime"),
        ({"submitTime": "18/01/2022"}, "$.submitTime"),
        ({"hangupTime": 1642488160000}, "$.hangupTime"),
        ({"callee": ["a"]}, "$.callee"),
    ],
)
def test_bad_values_name_the_wire_field(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValueError, match=rf"\{where}"):
        record(**fields)


def test_page_errors_name_the_row() -> None:
    page = {"total": 2, "size": 100, "current": 1, "pages": 1, "records": [BASE, {"voiceId": "x"}]}
    with pytest.raises(ValueError, match=r"\$\.records\[1\]\.submitTime"):
        structure(page, RecordPage)


times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
offsets = st.integers(-14 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))


@given(
    times,
    offsets,
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.integers(0, 10**6),
)
def test_wire_round_trip(moment: datetime, offset: timezone, cost: Decimal, seconds: int) -> None:
    wire = {
        **BASE,
        "submitTime": moment.astimezone(offset).isoformat(timespec="seconds"),
        "cost": str(cost),
        "callDuration": seconds,
    }
    decoded = structure(wire, CallRecord)
    assert decoded.submit_time == moment
    assert to_wire(decoded) == wire


def _detailed_hook() -> Any:
    """cattrs' own generated hook, as the converter built it before the fast path."""
    renames = {a.name: override(rename=camel(a.name)) for a in attrs.fields(CallRecord)}
    return make_dict_structure_fn(CallRecord, _CONVERTER, **renames)  # type: ignore[arg-type]


DETAILED = _detailed_hook()
wire_values = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["0.0040", "12", "x", "2022-01-18T14:42:40+08:00", "2022-01-18T14:42:40"]),
)
keys = st.sampled_from(
    ["voiceId", "submitTime", "callee", "callTime", "callDuration", "cost", "currency", "extra"]
)


@given(st.dictionaries(keys, wire_values, max_size=8), st.booleans())
def test_the_fast_path_agrees_with_cattrs_detailed_hook(
    fields: dict[str, Any], complete: bool
) -> None:
    data = {**BASE, **fields} if complete else fields
    try:
        expected: object = DETAILED(data, CallRecord)
    except Exception as exc:
        expected = type(exc)
    try:
        got: object = structure(data, CallRecord)
    except ValueError:
        got = ValueError
    if isinstance(expected, CallRecord):
        assert got == expected
    else:
        assert got is ValueError  # the same failure, reported by structure() as ValueError


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON_VALUES)
def test_the_reused_c_encoder_writes_what_json_dumps_writes(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert dump_json(value) == expected
