"""Content-Encoding undone on the paths that read answers without httpx (pooled and aiohttp)."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

from laaffic_async._io.compression import AnswerTooLarge, UndecodableAnswer, decompressed


def test_decompression_rules() -> None:
    raw = b'{"status":"0"}'
    assert decompressed(gzip.compress(raw), "gzip") == raw
    assert decompressed(zlib.compress(raw), "Deflate") == raw
    squeezer = zlib.compressobj(wbits=-15)
    assert decompressed(squeezer.compress(raw) + squeezer.flush(), "deflate") == raw
    assert decompressed(raw, "identity") == raw
    with pytest.raises(UndecodableAnswer, match="unsupported Content-Encoding 'br'"):
        decompressed(raw, "br")
    with pytest.raises(UndecodableAnswer, match="invalid gzip body"):
        decompressed(raw, "gzip")
    with pytest.raises(UndecodableAnswer, match="invalid gzip body"):
        decompressed(gzip.compress(raw)[:-12], "gzip")  # truncated


def test_a_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"0" * 5_000_000)  # about 5 KB on the wire
    assert len(bomb) < 10_000
    with pytest.raises(AnswerTooLarge, match="max_response_size"):
        decompressed(bomb, "gzip", limit=1_000_000)
    assert len(decompressed(bomb, "gzip", limit=5_000_000)) == 5_000_000
    with pytest.raises(AnswerTooLarge):
        decompressed(b"x" * 2000, "identity", limit=1024)
    # Both are transport failures of an answered request: the retry rules treat them as sent.
    assert issubclass(AnswerTooLarge, httpx.TransportError)
    assert issubclass(UndecodableAnswer, httpx.TransportError)
