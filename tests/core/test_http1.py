"""The pure HTTP/1.1 request writer and answer reader under the default transport."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laaffic_async._core.http1 import (
    MAX_HEAD,
    AnswerReader,
    AnswerTooLong,
    BadAnswer,
    Disconnected,
    encode_request,
)

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    b"3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
)
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello"


def read(
    data: bytes, *, method: str = "POST", limit: int = 1 << 20, eof: bool = False
) -> AnswerReader:
    reader = AnswerReader(method, limit=limit)
    reader.feed(data)
    if eof:
        reader.feed_eof()
    return reader


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.sampled_from([CHUNKED, LENGTH]), st.lists(st.integers(0, 400), max_size=12))
def test_any_split_of_the_bytes_reads_the_same_answer(data: bytes, cuts: list[int]) -> None:
    whole = read(data)
    reader = AnswerReader("POST", limit=1 << 20)
    for piece in pieces(data, cuts):
        assert not reader.done
        reader.feed(piece)
    assert reader.done
    assert whole.done
    assert (reader.status, reader.body, reader.headers, reader.reusable) == (
        whole.status,
        whole.body,
        whole.headers,
        whole.reusable,
    )


def test_chunked_answer_with_extensions_and_trailers() -> None:
    reader = read(CHUNKED)
    assert (reader.status, reader.body, reader.reusable) == (200, b"abcde", True)
    assert reader.headers["x-a"] == "1, 2"  # repeated names joined, lower-cased


def test_interim_answers_are_skipped() -> None:
    reader = read(b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH)
    assert (reader.status, reader.body, reader.headers["keep-alive"]) == (
        200,
        b"hello",
        "timeout=5",
    )


@pytest.mark.parametrize(
    ("data", "reusable"),
    [
        (LENGTH, True),
        (LENGTH + b"X", False),  # bytes nobody asked for: the next answer would be wrong
        (LENGTH.replace(b"1.1", b"1.0", 1), False),
        (LENGTH.replace(b"Keep-Alive: timeout=5", b"Connection: keep-alive, close"), False),
        (CHUNKED + b"HTTP/1.1", False),
    ],
)
def test_a_connection_is_reusable_only_after_a_clean_keep_alive_answer(
    data: bytes, reusable: bool
) -> None:
    assert read(data).reusable is reusable


def test_bytes_arriving_after_the_answer_make_the_connection_unusable() -> None:
    reader = read(LENGTH)
    assert reader.reusable
    reader.feed(b"junk")
    assert not reader.reusable
    reader = read(LENGTH)
    reader.feed_eof()
    assert not reader.reusable


def test_a_body_delimited_by_the_end_of_the_connection() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\n\r\nsome ", eof=False)
    assert not reader.done
    reader.feed(b"body")
    reader.feed_eof()
    assert (reader.done, reader.body, reader.reusable) == (True, b"some body", False)


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_answers_without_a_body(method: str, status: int) -> None:
    reader = read(f"HTTP/1.1 {status} X\r\nContent-Length: 9\r\n\r\n".encode(), method=method)
    assert (reader.done, reader.status, reader.body, reader.reusable) == (True, status, b"", True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"ICY 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nName : v\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nA: x\x00y\r\n\r\n", "bad header value"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "CRLF"),
        (b"HTTP/1.1 101 Switching\r\n\r\n", "101"),
        (b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * (MAX_HEAD // 6 + 1), "longer than"),
    ],
)
def test_malformed_answers_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(BadAnswer, match=message):
        read(data)


def test_equal_repeated_content_lengths_are_accepted() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
    assert reader.body == b"ok"


def test_end_of_connection_before_the_answer_ends() -> None:
    with pytest.raises(Disconnected, match="without sending a response"):
        read(b"", eof=True)
    with pytest.raises(Disconnected, match="complete message body"):
        read(LENGTH[:-1], eof=True)
    with pytest.raises(Disconnected, match="complete message body"):
        read(CHUNKED[:-2], eof=True)


def test_bodies_over_the_limit_are_refused_early() -> None:
    with pytest.raises(AnswerTooLong):  # announced
        read(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", limit=10)
    with pytest.raises(AnswerTooLong):  # reached, chunk by chunk
        read(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef",
            limit=10,
        )
    with pytest.raises(AnswerTooLong):  # reached, until the connection ends
        read(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 11, limit=10)


def test_encode_request_writes_one_message() -> None:
    message = encode_request("POST", b"/v3/voice/sendSip", [(b"Host", b"h:1")], b'{"a":1}')
    assert message == (
        b'POST /v3/voice/sendSip HTTP/1.1\r\nHost: h:1\r\nContent-Length: 7\r\n\r\n{"a":1}'
    )
    assert encode_request("GET", b"/x?a=1", [], None) == b"GET /x?a=1 HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    "header",
    [
        (b"A", b"b\r\nInjected: 1"),
        (b"A", b"b\nc"),
        (b"A", b"\x00"),
        (b"Bad Name", b"v"),
        (b"", b"v"),
    ],
)
def test_encode_request_refuses_headers_that_would_split_the_request(
    header: tuple[bytes, bytes],
) -> None:
    with pytest.raises(ValueError, match="header"):
        encode_request("GET", b"/", [header], None)
