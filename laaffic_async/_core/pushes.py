"""Reading the platform's push bodies: bytes in, events and their keys out.

Pure and synchronous.  The wire facts live here and nowhere else (NOTES.md,
"Pushes"):

* a voice report is one JSON object with a ``voiceId``; its times are epoch
  milliseconds;
* a call-center record is one JSON object with a ``callSessionId``; its
  times are ``yyyy-MM-dd HH:mm:ss`` in the platform's UTC+8;
* agent ringing is a JSON array of objects with ``callId`` and
  ``sipAccount``; ``callinEventTime`` is UTC+8 like the call-center record;
* anything else that is well-formed JSON is an :class:`UnknownPush`, and so
  is a documented shape whose fields cannot be read (``problem`` says why):
  a push the SDK cannot read is still delivered, never dropped.

Times are converted here; everything else (camelCase, decimals, ``""`` as
absent, numbers sent as strings) is the shared converter's job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs

from ..events import AgentRinging, CallCenterRecord, PushEvent, UnknownPush, VoiceReport
from .converter import structure

__all__ = [
    "AGENT_RINGING",
    "CALL_CENTER_RECORD",
    "PLATFORM_TZ",
    "UNKNOWN",
    "VOICE_REPORT",
    "ParsedPush",
    "PushFormatError",
    "decode_body",
    "parse_push",
    "rebuild_event",
]

#: The platform's time zone for ``yyyy-MM-dd HH:mm:ss`` times.
PLATFORM_TZ = timezone(timedelta(hours=8))
_PLATFORM_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

VOICE_REPORT = "voice_report"
CALL_CENTER_RECORD = "call_center_record"
AGENT_RINGING = "agent_ringing"
UNKNOWN = "unknown"


class PushFormatError(ValueError):
    """The body is not well-formed JSON (the receiver answers 400)."""


@attrs.frozen
class ParsedPush:
    """One event of a push body, with what a spool stores to rebuild it.

    ``data`` is the event's own JSON (one element of a ringing array, or the
    whole body) in a compact ASCII form; ``kind`` is the shape it was read
    as.  ``rebuild_event(kind, data)`` gives ``event`` back.
    """

    key: str
    kind: str
    data: str
    event: PushEvent


def _reject_constant(name: str) -> Any:
    raise PushFormatError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON syntax, but no number Python (or a spool) can keep
        raise PushFormatError(f"number out of range: {text[:40]}")
    return value


def decode_body(body: bytes) -> Any:
    """Decode a push body as strict JSON (UTF-8, no NaN/Infinity) or raise PushFormatError."""
    try:
        # utf-8-sig: a leading byte-order mark is tolerated, as RFC 8259 allows parsers to.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PushFormatError(f"body is not UTF-8: {exc.reason}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except PushFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        # RecursionError: absurdly deep nesting is malformed input, not a crash.
        raise PushFormatError(f"body is not JSON: {exc}") from None


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _epoch_ms(field: str, value: Any) -> datetime | None:
    numeric_text = isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit()
    if numeric_text or (isinstance(value, float) and value.is_integer()):
        value = int(value)
    # 0 is how a bill says "never got that far" (no answer time); absent, null and "" too.
    if value is None or value == "" or (isinstance(value, int) and value == 0):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"$.{field}: expected epoch milliseconds, got {value!r}")
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        raise ValueError(f"$.{field}: epoch milliseconds out of range: {value!r}") from None


def _platform_time(field: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"$.{field}: expected 'yyyy-MM-dd HH:mm:ss', got {value!r}")
    try:
        return datetime.strptime(value, _PLATFORM_FORMAT).replace(tzinfo=PLATFORM_TZ)
    except ValueError:
        raise ValueError(f"$.{field}: expected 'yyyy-MM-dd HH:mm:ss', got {value!r}") from None


def _string_list(field: str, value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValueError(f"$.{field}: expected a list, got {value!r}")
    return value


@attrs.frozen
class _Shape:
    cls: type[Any]
    ids: tuple[str, ...]
    times: tuple[str, ...] = ()
    time_parser: Callable[[str, Any], datetime | None] = _platform_time
    lists: tuple[str, ...] = ()


_SHAPES = {
    VOICE_REPORT: _Shape(
        VoiceReport,
        ids=("voiceId",),
        times=("submitTime", "callTime", "ringingTime", "answerTime", "hangupTime"),
        time_parser=_epoch_ms,
    ),
    CALL_CENTER_RECORD: _Shape(
        CallCenterRecord,
        ids=("callSessionId",),
        times=("callStartTime", "answerTime", "callEndTime"),
        lists=("labels",),
    ),
    AGENT_RINGING: _Shape(
        AgentRinging,
        ids=("callId", "sipAccount", "callinEventTime"),
        times=("callinEventTime",),
        lists=("noAnswerSipList",),
    ),
}


def _prepare(shape: _Shape, item: dict[str, Any]) -> dict[str, Any]:
    """Convert the times and lists the converter cannot know the format of."""
    prepared = dict(item)
    for name in shape.ids:
        value = item.get(name)
        if value is None or value == "" or isinstance(value, bool):
            raise ValueError(f"$.{name}: required, got {value!r}")
    for name in shape.times:
        if name in prepared:
            moment = shape.time_parser(name, prepared[name])
            if moment is None:
                del prepared[name]
            else:
                prepared[name] = moment
    for name in shape.lists:
        if name in prepared:
            prepared[name] = _string_list(name, prepared[name])
    return prepared


def _event(kind: str, item: Any) -> PushEvent:
    shape = _SHAPES.get(kind)
    if shape is None or not isinstance(item, dict):
        return UnknownPush(item)
    try:
        event: PushEvent = structure(_prepare(shape, item), shape.cls)
    except ValueError as exc:
        return UnknownPush(item, problem=str(exc))
    return event


def rebuild_event(kind: str, data: str) -> PushEvent:
    """The event a :class:`ParsedPush` with this ``kind`` and ``data`` (JSON text) holds.

    Never raises for JSON text: a documented shape that cannot be read
    becomes an :class:`UnknownPush` whose ``problem`` names the field.
    """
    return _event(kind, json.loads(data))


def _classify(data: Any) -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        if "callSessionId" in data:
            return [(CALL_CENTER_RECORD, data)]
        if "voiceId" in data:
            return [(VOICE_REPORT, data)]
    elif isinstance(data, list) and data:
        if all(isinstance(x, dict) and "callId" in x and "sipAccount" in x for x in data):
            return [(AGENT_RINGING, element) for element in data]
    elif isinstance(data, list):
        # An empty ringing array announces no event: nothing to deliver.
        return []
    return [(UNKNOWN, data)]


def parse_push(body: bytes) -> list[ParsedPush]:
    """Every event in one push body, in order, one per key.

    Raises :class:`PushFormatError` only for a body that is not JSON; any
    JSON value yields events (an :class:`UnknownPush` at worst).  A key that
    repeats inside one body is kept once.
    """
    data = decode_body(body)
    parsed: list[ParsedPush] = []
    seen: set[str] = set()
    try:
        for kind, item in _classify(data):
            event = _event(kind, item)
            key = event.key
            if key not in seen:
                seen.add(key)
                parsed.append(ParsedPush(key, kind, _compact(item), event))
    except RecursionError:
        raise PushFormatError("body is nested too deeply") from None
    return parsed
