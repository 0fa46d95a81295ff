"""HTTP/1.1 for one small request and its answer, as pure functions over bytes (no I/O).

Why it exists: under ``PooledTransport`` the API calls went through httpcore's HTTP/1.1
connection and h11, about 70% of the client CPU of a call (``benchmarks/bench_dial.py``:
header validation, an event object per part of the message, a cancel scope per read). The
SDK's calls are one JSON body out and one small answer back, so :func:`encode_request` writes
the request in one piece and :class:`AnswerReader` reads the answer as bytes arrive. Streamed
downloads still go through httpcore.

What the reader accepts is what h11 accepts for a response: ``HTTP/1.0`` or ``HTTP/1.1``, a
three-digit status, interim 1xx answers skipped, ``Content-Length`` (equal repeats allowed),
``Transfer-Encoding: chunked`` (trailers read and dropped), or a body delimited by the end of
the connection; no body after ``HEAD``, 204 or 304. It refuses folded header lines, a space
before the colon, NUL/CR/LF inside a header and a header section over ``MAX_HEAD`` bytes.
A connection is reusable only after an HTTP/1.1 answer without ``Connection: close``, framed
by length or chunks, with nothing after it: bytes nobody asked for would be read as the next
request's answer.

>>> reader = AnswerReader("POST", limit=1024)
>>> reader.feed(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
>>> reader.done, reader.status, reader.body, reader.reusable
(True, 200, b'{}', True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "MAX_HEAD",
    "AnswerReader",
    "AnswerTooLong",
    "BadAnswer",
    "Disconnected",
    "encode_request",
]

#: The longest header section accepted (h11's default limit for an incomplete event).
MAX_HEAD = 16 * 1024
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NAMES = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]*")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")

# What a chunked body reads next when no chunk data is left (AnswerReader._chunk_left holds
# the bytes left of a chunk's data when > 0, else one of these; plain ints, compared per
# piece of a body, where an enum's comparisons would cost more).
_SIZE_LINE = -1  # a chunk size line
_TRAILERS = -2  # the trailer lines, after the last (zero-size) chunk
_CHUNK_END = -3  # the CRLF that ends a chunk's data


class BadAnswer(Exception):
    """The bytes are not an HTTP/1.1 answer (or one this reader refuses)."""


class Disconnected(BadAnswer):
    """The connection ended before the answer did."""


class AnswerTooLong(Exception):
    """The answer's body is longer than the reader's ``limit``."""


def encode_request(
    method: str, target: bytes, headers: Iterable[tuple[bytes, bytes]], body: bytes | None
) -> bytes:
    """The request as bytes: request line, headers (Content-Length added for a body), body.

    Header names and values are checked as h11 checks them; a value with CR, LF or NUL would
    split the request, so it raises :class:`ValueError` naming the header.
    """
    names = []
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    for name, value in headers:
        names.append(name)
        lines.append(name + b": " + value)
    if body is not None:
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    head = b"\r\n".join(lines)
    # One pass over the whole head instead of two expressions per header: a CR, LF or NUL
    # anywhere but between lines would split the request; names are tokens.
    breaks = len(lines) - 1
    if (
        head.count(b"\n") != breaks
        or head.count(b"\r") != breaks
        or b"\x00" in head
        or not all(names)
        or not _NAMES.fullmatch(b"".join(names))
    ):
        _refuse(names, [value for _, value in headers])
    head += b"\r\n\r\n"
    return head + body if body else head


def _refuse(names: list[bytes], values: list[bytes]) -> None:
    for name, value in zip(names, values, strict=True):
        if not _NAME.fullmatch(name) or _BAD_VALUE.search(value):
            raise ValueError(f"header {name!r}: not a valid HTTP header name and value")
    raise ValueError("the request line holds CR, LF or NUL")


class AnswerReader:
    """Reads one answer from the bytes given to :meth:`feed`; :attr:`done` when whole.

    After ``done``: :attr:`status`, :attr:`headers` (names lower-cased, repeated ones joined
    with ``", "``), :attr:`body` (as sent, not decompressed) and :attr:`reusable`. Raises
    :class:`BadAnswer`, :class:`Disconnected` (from :meth:`feed_eof`) or
    :class:`AnswerTooLong` (a body over ``limit`` bytes, refused as soon as it is announced
    or reached).
    """

    __slots__ = (
        "_buffer",
        "_chunk_left",
        "_framing",
        "_length",
        "_method",
        "_parts",
        "_received",
        "_size",
        "body",
        "done",
        "headers",
        "limit",
        "reusable",
        "status",
    )

    def __init__(self, method: str, *, limit: int) -> None:
        self._method = method
        self.limit = limit
        self._buffer = b""
        self._framing = ""  # "" (reading the head), "length", "chunked", "close"
        self._length = 0  # bytes of body left ("length")
        self._chunk_left = _SIZE_LINE  # see _read_chunks
        self._parts: list[bytes] = []
        self._size = 0
        self._received = False
        self.done = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.reusable = False

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the connection."""
        if self.done:
            if data:
                self.reusable = False  # bytes after the answer: never reuse the connection
            return
        if not data:
            return
        self._received = True
        self._buffer += data
        if not self._framing and not self._read_head():
            return
        if self._framing == "length":
            self._read_length()
        elif self._framing == "chunked":
            self._read_chunks()
        else:
            self._take(self._buffer)
            self._buffer = b""

    def feed_eof(self) -> None:
        """The other side closed the connection."""
        if self.done:
            self.reusable = False
            return
        if self._framing == "close":
            self._finish(reusable=False)
            return
        if not self._received:
            raise Disconnected("Server disconnected without sending a response.")
        raise Disconnected("peer closed connection without sending complete message body")

    def _read_head(self) -> bool:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise BadAnswer(f"answer header section longer than {MAX_HEAD} bytes")
                return False
            if end > MAX_HEAD:
                raise BadAnswer(f"answer header section longer than {MAX_HEAD} bytes")
            head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
            version, status, fields = _parse_head(head)
            if 100 <= status < 200:
                if status == 101:
                    raise BadAnswer(
                        "the server switched protocols (101), which the SDK never asks for"
                    )
                continue  # an interim answer: the real one follows
            self.status = status
            self.headers = fields
            self.reusable = version == b"1" and "close" not in _tokens(fields.get("connection"))
            self._frame(fields)
            return True

    def _frame(self, fields: dict[str, str]) -> None:
        coding = fields.get("transfer-encoding")
        length = fields.get("content-length")
        if self._method == "HEAD" or self.status in (204, 304):
            self._framing = "length"
        elif coding is not None:
            if _tokens(coding)[-1:] != ["chunked"]:
                raise BadAnswer(f"unsupported Transfer-Encoding {coding!r}")
            self._framing = "chunked"
        elif length is not None:
            values = {part.strip() for part in length.split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise BadAnswer(f"bad Content-Length {length!r}")
            self._length = int(next(iter(values)))
            if self._length > self.limit:
                raise AnswerTooLong(f"answer of {self._length} bytes")
            self._framing = "length"
        else:
            self._framing = "close"
            self.reusable = False

    def _read_length(self) -> None:
        buffer = self._buffer
        if len(buffer) < self._length:
            self._take(buffer)
            self._length -= len(buffer)
            self._buffer = b""
            return
        self._take(buffer[: self._length])
        self._buffer = b""
        self._finish(reusable=self.reusable and len(buffer) == self._length)

    def _read_chunks(self) -> None:
        # _chunk_left: bytes left of a chunk's data (> 0), else what comes next (_SIZE_LINE...).
        buffer = self._buffer
        while buffer:
            left = self._chunk_left
            if left > 0:
                data = buffer[:left]
                self._take(data)
                self._chunk_left -= len(data)
                buffer = buffer[len(data) :]
                if self._chunk_left == 0:
                    self._chunk_left = _CHUNK_END
                continue
            if left == _CHUNK_END:
                if len(buffer) < 2:
                    break
                if buffer[:2] != b"\r\n":
                    raise BadAnswer("chunk not followed by CRLF")
                buffer = buffer[2:]
                self._chunk_left = _SIZE_LINE
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise BadAnswer("chunk size line or trailer too long")
                break
            line, buffer = buffer[:end], buffer[end + 2 :]
            if left == _TRAILERS:  # read up to the empty line and dropped
                if not line:
                    self._buffer = b""
                    self._finish(reusable=self.reusable and not buffer)
                    return
                continue
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise BadAnswer(f"bad chunk size line {line[:40]!r}")
            size = int(match.group(1), 16)
            self._chunk_left = size if size else _TRAILERS
        self._buffer = buffer

    def _take(self, data: bytes) -> None:
        if not data:
            return
        self._size += len(data)
        if self._size > self.limit:
            raise AnswerTooLong(f"answer over {self.limit} bytes")
        self._parts.append(data)

    def _finish(self, *, reusable: bool) -> None:
        parts = self._parts
        self.body = parts[0] if len(parts) == 1 else b"".join(parts)
        self.reusable = reusable
        self.done = True


def _parse_head(head: bytes) -> tuple[bytes, int, dict[str, str]]:
    lines = head.split(b"\r\n")
    match = _STATUS.fullmatch(lines[0])
    if match is None:
        raise BadAnswer(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    if (
        b"\x00" in head
        or head.count(b"\n") != len(lines) - 1
        or head.count(b"\r") != len(lines) - 1
    ):
        raise BadAnswer("bad header value: NUL, or CR or LF alone")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _NAME.fullmatch(name):
            raise BadAnswer(f"bad header line {line[:60]!r}")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        fields[key] = f"{fields[key]}, {text}" if key in fields else text
    return match.group(1), int(match.group(2)), fields


def _tokens(value: str | None) -> list[str]:
    return [part.strip().lower() for part in value.split(",")] if value else []
