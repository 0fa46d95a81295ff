"""Field rules of the vendor pages, as pure checks that raise early.

Every check names the wire field and the rule it enforces, so a bad row in a
batch of ten thousand is found by its message alone.  They sit below both the
models (which validate on construction) and the core (which validates whole
requests), so neither has to import the other.
"""

from __future__ import annotations

from datetime import datetime

from ..errors import RequestValidationError

#: sendSip page: "Called number: 7-15 digits composed of national code + mobile phone number."
CALLEE_DIGITS = (7, 15)
#: sendSip page: "Display number: 7-15 digits or null."
DISPLAY_NUM_DIGITS = (7, 15)
#: sendSip page: "Called information, 0-1000 characters."
CALLED_INFO_MAX = 1000
#: recordSipQuery page: "Number displayed on each page: 1-100".
PAGE_SIZE_RANGE = (1, 100)
#: The most requests any one concurrency argument may keep in flight (and ``prefetch``
#: / ``lookahead`` at most ``BUFFER_MAX`` items): ``records(concurrency=10**6)`` once
#: allocated 4 GB before sending anything.
CONCURRENCY_MAX = 1000
BUFFER_MAX = 100 * CONCURRENCY_MAX
#: Dialing requests in flight (``send_many``, the client's ``concurrency``): each holds only
#: a call and a connection, so the bound is higher.
DIAL_CONCURRENCY_MAX = 10_000


def concurrency(field: str, value: object, high: int = CONCURRENCY_MAX) -> int:
    """Return ``value`` if it is an ``int`` in ``[1, high]`` (default :data:`CONCURRENCY_MAX`)."""
    return int_in_range(field, value, 1, high)


def _valid_unicode(field: str, value: str) -> str:
    """Refuse lone surrogates: they pass ``str`` checks, then fail to encode on the wire."""
    if value.isascii():  # the common case, and no surrogate can be ASCII
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestValidationError(
            field, "must be valid Unicode text (it holds a lone surrogate)", value
        ) from None
    return value


def credential(field: str, value: object) -> str:
    """Return ``value`` if it can go in an HTTP header as is: latin-1, no control characters.

    The message never repeats the value: it may be a secret.
    """
    if not isinstance(value, str) or not value.strip():
        raise RequestValidationError(field, "is required and must be a non-empty string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or ord(c) > 0xFF for c in value):
        raise RequestValidationError(
            field,
            "must hold only printable latin-1 characters (no CR, LF or other control "
            "characters); the value is not shown",
            "<hidden>",
        )
    return value


def digits(field: str, value: object, bounds: tuple[int, int]) -> str:
    """Return ``value`` if it is a string of ``bounds`` ASCII digits."""
    low, high = bounds
    if isinstance(value, str) and low <= len(value) <= high and value.isascii() and value.isdigit():
        return value
    rule = f"must be a string of {low}-{high} digits (country code + number, no '+' or spaces)"
    raise RequestValidationError(field, rule, value)


def optional_digits(field: str, value: object, bounds: tuple[int, int]) -> str | None:
    """Like :func:`digits`, but ``None`` is allowed (the field is then omitted)."""
    return None if value is None else digits(field, value, bounds)


def required_text(field: str, value: object, *, max_len: int | None = None) -> str:
    """Return ``value`` if it is a non-blank string (of at most ``max_len`` characters)."""
    if not isinstance(value, str) or not value.strip():
        raise RequestValidationError(field, "is required and must be a non-empty string", value)
    if max_len is not None and len(value) > max_len:
        raise RequestValidationError(field, f"must be at most {max_len} characters", value)
    return _valid_unicode(field, value)


def optional_text(field: str, value: object, *, max_len: int) -> str | None:
    """Return ``value`` if it is ``None`` or a string of at most ``max_len`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestValidationError(field, f"must be a string of 0-{max_len} characters", value)
    if len(value) > max_len:
        raise RequestValidationError(field, f"must be a string of 0-{max_len} characters", value)
    return _valid_unicode(field, value)


def int_in_range(field: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) within ``[low, high]``."""
    rule = f"must be an integer >= {low}" if high is None else f"must be an integer {low}-{high}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestValidationError(field, rule, value)
    if value < low or (high is not None and value > high):
        raise RequestValidationError(field, rule, value)
    return value


def aware(field: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware :class:`datetime`.

    Naive datetimes are refused rather than guessed: the API compares times
    with offsets, and a guessed zone silently shifts a window by hours.
    """
    if not isinstance(value, datetime):
        raise RequestValidationError(field, "must be a datetime with a timezone", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise RequestValidationError(
            field,
            "must be timezone-aware (naive datetimes are ambiguous; "
            "use e.g. datetime(..., tzinfo=timezone.utc))",
            value,
        )
    return value
