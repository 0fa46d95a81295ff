"""The sandbox's own view of the wire format.

Deliberately separate from the client's request builders and converter: if
both sides shared one helper, a bug in it would make them agree on a wrong
format and every test would still pass.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any, TypeGuard

#: The vendor pages' sample credentials; the sandbox accepts them by default.
SAMPLE_API_KEY = "bDqJFiq9"
SAMPLE_API_SECRET = "7bz1lzh9"
SAMPLE_APP_ID = "4luaKsL2"

#: The platform's own time zone: the samples and the push formats use UTC+8.
PLATFORM_TZ = timezone(timedelta(hours=8))


class ApiFailure(Exception):
    """Raised by a handler to answer with a non-zero status."""

    def __init__(self, status: str, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status} {reason}")


def expected_sign(api_key: str, api_secret: str, timestamp: str) -> str:
    return hashlib.md5(
        f"{api_key}{api_secret}{timestamp}".encode(), usedforsecurity=False
    ).hexdigest()


def envelope(data: Any = None, status: str = "0", reason: str = "success") -> bytes:
    body: dict[str, Any] = {"status": status, "reason": reason}
    if status == "0":
        body["data"] = data
    return json.dumps(body, separators=(",", ":")).encode()


def iso(moment: datetime) -> str:
    """A time as the API writes it: seconds, UTC+8 offset."""
    return moment.astimezone(PLATFORM_TZ).isoformat(timespec="seconds")


def parse_iso(field: str, value: object) -> datetime:
    """Parse an ISO-8601 time with an offset, or fail with -22 as the platform does."""
    if not isinstance(value, str):
        raise ApiFailure("-22", f"Parameter exception: {field} is required")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiFailure("-22", f"Parameter exception: {field} is not ISO-8601") from None
    if moment.utcoffset() is None:
        raise ApiFailure("-22", f"Parameter exception: {field} has no offset")
    return moment


def is_digits(value: object, low: int, high: int) -> TypeGuard[str]:
    return (
        isinstance(value, str) and value.isascii() and value.isdigit() and low <= len(value) <= high
    )


def new_voice_id(moment: datetime, rng: random.Random) -> str:
    """A 19-digit id shaped like the samples' ``2203031113381000002``."""
    stamp = moment.astimezone(PLATFORM_TZ).strftime("%y%m%d%H%M%S")
    return f"{stamp}{rng.randrange(10**7):07d}"


def epoch_ms(moment: datetime) -> int:
    """A time as the voice-report push writes it: epoch milliseconds."""
    return round(moment.timestamp() * 1000)


def platform_time(moment: datetime) -> str:
    """A time as the call-center pushes write it: ``yyyy-MM-dd HH:mm:ss`` in UTC+8."""
    return moment.astimezone(PLATFORM_TZ).strftime("%Y-%m-%d %H:%M:%S")
