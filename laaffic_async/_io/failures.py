"""Messages of transport failures: never empty, never carrying a pre-signed link's query."""

from __future__ import annotations

import re

__all__ = ["described", "redacted"]

# A URL's query string: in a pre-signed recording link it is the credential.
_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"?#<>]*)\?[^\s'\"#<>)]*")


def redacted(text: str) -> str:
    """``text`` with the query string of every URL in it replaced by ``?...``."""
    return _QUERY.sub(r"\1?...", text)


def described(exc: BaseException) -> str:
    """``str(exc)``, or when that is empty the first cause that says something; redacted.

    On trio a failed TLS handshake is ``ConnectError('')`` around a ``BrokenResourceError``
    around the ``SSLCertVerificationError`` that explains it.
    """
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if text:
            return redacted(text if seen is exc else f"{type(seen).__name__}: {text}")
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
