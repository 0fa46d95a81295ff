"""Reading an answer body: a size cap and Content-Encoding undone, the same on every backend.

Every backend reads the raw body itself (httpx's own decoders would raise a bare
``httpx.DecodingError`` and have no size bound) and hands it here. Failures are
:class:`UnusableAnswer`, an ``httpx.TransportError``: the request was sent and answered, so
the retry rules make a dialing request an ``OutcomeUnknownError`` and retry a query.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable

import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "MAX_RESPONSE_SIZE",
    "AnswerTooLarge",
    "UndecodableAnswer",
    "UnusableAnswer",
    "decompressed",
    "read_capped",
]

#: What every request offers: only what :func:`decompressed` can undo.
ACCEPT_ENCODING = "gzip, deflate, identity"
#: Default cap on an answer, raw and decoded. A 100-record page is about 60 KB; a server
#: once sent a 300 KB gzip body that expanded to a 300 MB ``voice_id``.
MAX_RESPONSE_SIZE = 16 * 1024 * 1024


class UnusableAnswer(httpx.TransportError):
    """The server answered, but the body cannot be used. The request was sent."""


class UndecodableAnswer(UnusableAnswer):
    """A Content-Encoding the client did not offer, or a corrupt compressed body."""


class AnswerTooLarge(UnusableAnswer):
    """The answer, raw or decoded, is larger than ``max_response_size``."""


def _too_large(limit: int) -> AnswerTooLarge:
    return AnswerTooLarge(f"answer larger than max_response_size ({limit} bytes)")


async def read_capped(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The raw body, refused with :class:`AnswerTooLarge` as soon as it passes ``limit``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decompressed(body: bytes, encoding: str | None, limit: int = MAX_RESPONSE_SIZE) -> bytes:
    """``body`` with its ``Content-Encoding`` (gzip, deflate or identity) undone.

    Decompresses at most ``limit + 1`` bytes, so a small "gzip bomb" never expands in memory.
    Raises :class:`UndecodableAnswer` for another coding or a corrupt or truncated body and
    :class:`AnswerTooLarge` past ``limit``.
    """
    coding = (encoding or "").strip().lower()
    if coding in ("identity", ""):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise UndecodableAnswer(f"unsupported Content-Encoding {encoding!r}")
    # 47 = 32 + 15: a gzip or zlib header, detected; -15: "deflate" sent raw, no header.
    for wbits in (47, -15) if coding == "deflate" else (47,):
        engine = zlib.decompressobj(wbits)
        try:
            out = engine.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise _too_large(limit)
        if engine.eof:
            return out
        break  # a valid start that stops short: truncated
    raise UndecodableAnswer(f"invalid {coding} body")
