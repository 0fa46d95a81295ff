"""Clock-skew correction from the server's ``Date`` header.

The API refuses a Timestamp more than half an hour off its clock (-16).  A
host with a skewed clock learns the offset from the ``Date`` header of that
refusal and signs the retry with corrected time.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

__all__ = ["offset_from_date_header"]


def offset_from_date_header(date_header: str | None, local_now: float) -> float | None:
    """Seconds to add to ``local_now`` to match the server, or ``None`` if unknown."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        return None
    return server.timestamp() - local_now
