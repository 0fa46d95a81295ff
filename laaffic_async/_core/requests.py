"""Request building: validated values in, :class:`ApiRequest` out.

An :class:`ApiRequest` is everything but the per-attempt headers: those are
signed fresh by the shell for every attempt (:mod:`.signing`).
"""

from __future__ import annotations

import functools
import json
import json.encoder
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from ..errors import RequestValidationError
from ..models import Call
from . import validators as v
from .converter import to_wire, unstructure_time

__all__ = [
    "RECORD_SIP_QUERY",
    "SEND_SIP",
    "ApiRequest",
    "dump_json",
    "record_query_request",
    "resolve_call",
    "send_sip_request",
]

SEND_SIP = "voice/sendSip"
RECORD_SIP_QUERY = "voice/recordSipQuery"


@attrs.frozen
class ApiRequest:
    """One API request, ready to sign and send.

    ``endpoint`` is the path relative to the base URL (``voice/sendSip``).
    ``dials`` marks requests that must not run twice (sendSip and submitTask
    place calls; addSeatList and addGroup create things): those are never
    re-sent once the body may have reached the server.  ``subject`` is the value the
    caller asked for (a :class:`Call`), carried into
    :class:`~laaffic_async.errors.OutcomeUnknownError` for reconciliation.
    ``template`` names the endpoint's path parameters (``voice/recordSip/{voiceId}``)
    where ``endpoint`` holds their values: traces and metrics use it, keeping ids out
    of span names and metric attributes.
    """

    method: str
    endpoint: str
    body: bytes | None = None
    params: tuple[tuple[str, str], ...] = ()
    dials: bool = False
    subject: object = attrs.field(default=None, eq=False, repr=False)
    template: str | None = None

    @property
    def route(self) -> str:
        """The endpoint with its path parameters named (the endpoint itself if it has none)."""
        return self.template if self.template is not None else self.endpoint


# One encoder: json.dumps() with any option builds a new JSONEncoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# And its C half, made once: JSONEncoder.encode() makes it again on every call (~1 us of the
# ~2 us a body took). Without the cycle check, which wire values built from attrs classes
# never need; the same options as _ENCODER, which stands in where the C module is missing.
_MAKE_C_ENCODER: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_C_ENCODE = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


def dump_json(data: Any) -> bytes:
    """Compact UTF-8 JSON, as the vendor's samples send it."""
    if _C_ENCODE is None:  # pragma: no cover - CPython always has the C encoder
        return _ENCODER.encode(data).encode()
    return "".join(_C_ENCODE(data, 0)).encode()


def resolve_call(call: Call, default_app_id: str | None) -> Call:
    """Return ``call`` with its appId filled in from the client's default.

    appId is required by the sendSip page; with neither a per-call nor a
    default one the request is refused here, before anything is sent.
    """
    if call.app_id is not None:
        return call
    if default_app_id is None:
        raise RequestValidationError(
            "appId", "is required: pass app_id= to the call or the client, or set LAAFFIC_APP_ID"
        )
    return _with_app_id(call, _valid_app_id(default_app_id))


@functools.lru_cache(maxsize=16)
def _valid_app_id(app_id: str) -> str:
    """The client's default appId, checked once (a refused one raises, and is not cached)."""
    return v.required_text("appId", app_id)


def _with_app_id(call: Call, app_id: str) -> Call:
    """``attrs.evolve(call, app_id=app_id)`` without validating ``call``'s fields again.

    They were checked when ``call`` was built; evolve ran every validator a second time and
    cost as much as building the Call. This sets the fields as attrs' own ``__init__`` does.
    """
    resolved = object.__new__(Call)
    for field in _CALL_FIELDS:
        object.__setattr__(resolved, field, getattr(call, field))
    object.__setattr__(resolved, "app_id", app_id)
    return resolved


_CALL_FIELDS = tuple(field.name for field in attrs.fields(Call) if field.name != "app_id")


def send_sip_request(call: Call, default_app_id: str | None = None) -> ApiRequest:
    """The sendSip request for ``call`` (validated when ``call`` was built)."""
    resolved = resolve_call(call, default_app_id)
    return ApiRequest("POST", SEND_SIP, dump_json(to_wire(resolved)), dials=True, subject=resolved)


def record_query_request(
    start: datetime,
    end: datetime,
    *,
    current: int = 1,
    size: int = 100,
    sip_group_name: str | None = None,
    phone_name: str | None = None,
) -> ApiRequest:
    """One recordSipQuery page request (``current`` 1-N, ``size`` 1-100).

    Checks the page's own rules only; the 31-day and two-month rules are the
    window slicer's job, which knows the clock.
    """
    v.aware("strTime", start)
    v.aware("endTime", end)
    if end < start:
        raise RequestValidationError("endTime", "must not be before strTime", end)
    v.int_in_range("current", current, 1)
    v.int_in_range("size", size, *v.PAGE_SIZE_RANGE)
    params: dict[str, str] = {"strTime": unstructure_time(start), "endTime": unstructure_time(end)}
    if sip_group_name is not None:
        params["sipGroupName"] = v.required_text("sipGroupName", sip_group_name)
    if phone_name is not None:
        params["phoneName"] = v.required_text("phoneName", phone_name)
    body = {"current": current, "size": size, "params": params}
    return ApiRequest("POST", RECORD_SIP_QUERY, dump_json(body))
