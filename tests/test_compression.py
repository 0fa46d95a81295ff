"""Content-Encoding undone on the paths that read answers without httpx (pooled and aiohttp)."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

from laaffic_async._io.compression import decompressed


def test_decompression_rules() -> None:
    raw = b'{"status":"0"}'
    assert decompressed(gzip.compress(raw), "gzip") == raw
    assert decompressed(zlib.compress(raw), "Deflate") == raw
    squeezer = zlib.compressobj(wbits=-15)
    assert decompressed(squeezer.compress(raw) + squeezer.flush(), "deflate") == raw
    assert decompressed(raw, "identity") == raw
    with pytest.raises(httpx.DecodingError, match="unsupported Content-Encoding 'br'"):
        decompressed(raw, "br")
    with pytest.raises(httpx.DecodingError, match="invalid gzip body"):
        decompressed(raw, "gzip")
