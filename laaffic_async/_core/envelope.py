"""Decoding the response envelope ``{"status": "0", "reason": ..., "data": ...}``.

:func:`decode` returns ``data`` or raises the exact typed error; callers
never look at ``status`` themselves (gidgethub's ``decipher_response``).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import HttpStatusError, ResponseFormatError, error_class

__all__ = ["decode", "parse_json"]

_DECODER = json.JSONDecoder()


def parse_json(endpoint: str, body: bytes) -> Any:
    """Parse a JSON body or raise :class:`ResponseFormatError`."""
    try:
        # UTF-8, as the API sends it, decoded here: json.loads(bytes) would first guess.
        return _DECODER.decode(body.decode())
    except ValueError:  # UnicodeDecodeError included
        pass
    try:
        return json.loads(body)  # a BOM, UTF-16 or UTF-32: json's own detection decides
    except (ValueError, UnicodeDecodeError):
        snippet = body[:120].decode("utf-8", "replace")
        raise ResponseFormatError(f"answer is not JSON: {snippet!r}", endpoint=endpoint) from None


def decode(endpoint: str, status_code: int, body: bytes) -> Any:
    """Return the envelope's ``data`` for a successful answer, else raise.

    * non-2xx HTTP status -> :class:`HttpStatusError`;
    * a body that is not a JSON object with a ``status`` -> :class:`ResponseFormatError`;
    * ``status`` other than ``"0"`` (string or number) -> the endpoint's
      :class:`ApiError` subclass for that code.

    >>> decode("voice/sendSip", 200, b'{"status":"0","reason":"success","data":"22030311"}')
    '22030311'
    >>> decode("voice/sendSip", 200, b'{"status":-68,"reason":"busy"}')
    Traceback (most recent call last):
    ...
    laaffic_async.errors.SipBusyError: voice/sendSip: status -68: busy
    """
    if not 200 <= status_code < 300:
        raise HttpStatusError(
            status_code, endpoint=endpoint, body=body[:500].decode("utf-8", "replace")
        )
    envelope = parse_json(endpoint, body)
    if not isinstance(envelope, dict) or "status" not in envelope:
        raise ResponseFormatError("answer has no status field", endpoint=endpoint)
    status = envelope["status"]
    if isinstance(status, bool) or not isinstance(status, (str, int)):
        raise ResponseFormatError(f"status {status!r} is not a code", endpoint=endpoint)
    status = str(status).strip()
    if status == "0":
        return envelope.get("data")
    reason = envelope.get("reason")
    raise error_class(endpoint, status)(
        status, "" if reason is None else str(reason), endpoint=endpoint
    )
