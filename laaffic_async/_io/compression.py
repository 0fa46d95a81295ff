"""Undoing a response's Content-Encoding, for the paths that read bodies without httpx."""

from __future__ import annotations

import zlib

import httpx

__all__ = ["decompressed"]


def decompressed(body: bytes, encoding: str) -> bytes:
    """``body`` with its ``Content-Encoding`` (gzip, deflate or identity) undone.

    Raises ``httpx.DecodingError``, as httpx does, for another coding or a corrupt body.
    """
    coding = encoding.strip().lower()
    if coding in ("identity", ""):
        return body
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r}")
    try:
        return zlib.decompress(body, 47)  # 32 + 15: a gzip or zlib header, detected
    except zlib.error:
        if coding != "deflate":
            raise httpx.DecodingError(f"invalid {coding} body") from None
    try:
        return zlib.decompress(body, -15)  # "deflate" sent raw, without the zlib header
    except zlib.error:
        raise httpx.DecodingError("invalid deflate body") from None
