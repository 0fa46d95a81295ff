"""Request signing: ``Sign = md5(api key + api secret + timestamp)``.

The vendor pages' own vector (key ``bDqJFiq9``, secret ``7bz1lzh9``,
timestamp ``1630468800``) gives ``05d7a50893e22a5c4bb3216ae3396c7c``.  The
body is not signed, so a fresh timestamp and sign are made for every
attempt without touching the body.
"""

from __future__ import annotations

import hashlib

from ..models import Credentials

__all__ = ["CONTENT_TYPE", "sign", "signed_headers"]

CONTENT_TYPE = "application/json;charset=UTF-8"


def sign(api_key: str, api_secret: str, timestamp: int) -> str:
    """Lowercase md5 hex of key + secret + timestamp (the server ignores case).

    >>> sign("bDqJFiq9", "7bz1lzh9", 1630468800)
    '05d7a50893e22a5c4bb3216ae3396c7c'
    """
    raw = f"{api_key}{api_secret}{timestamp}".encode()
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def signed_headers(credentials: Credentials, timestamp: int) -> dict[str, str]:
    """The four headers every request carries, for one attempt at ``timestamp``."""
    return {
        "Content-Type": CONTENT_TYPE,
        "Api-Key": credentials.api_key,
        "Timestamp": str(timestamp),
        "Sign": sign(credentials.api_key, credentials.api_secret, timestamp),
    }
